// `sluicectl delete KIND NAME` or `delete -f FILE|DIR|-`: removes resources by name, or
// every resource a manifest names. A document only needs its apiVersion, kind and name,
// so a manifest an older schema would refuse can still be deleted.

import { kindOf, type KindNames } from '../../api/kind-names.ts';
import { isApiError, type ApiClient } from '../client.ts';
import { UsageError, type Command } from '../command.ts';
import type { CliContext } from '../context.ts';
import { namespaceFor, resolveKind } from '../kind-name.ts';
import { FILENAME_OPTION, filenamesOf, formatProblems, readManifests, type Problem } from '../manifests.ts';
import { refLabel } from '../print/resource.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';


type Target = { readonly kind: KindNames<unknown>; readonly namespace: string | undefined; readonly name: string };

export const del: Command = {
  words: ['delete'],
  usage: 'sluicectl delete (KIND NAME | -f FILE|DIR|-) [-n NS]',
  summary: 'delete a resource, or every resource the files name. Exit 0 all deleted, 1 any not found or failed',
  examples: ['sluicectl delete httproute web -n shop', 'sluicectl delete -f mesh.yaml'],
  options: { ...FILENAME_OPTION, namespace: { type: 'string', short: 'n' }, ...CONNECTION_OPTIONS },
  required: [],
  positionals: { min: 0, max: 2 },
  async run({ flags, positionals, ctx }) {
    const namespace = typeof flags.namespace === 'string' ? flags.namespace : 'default';
    const files = filenamesOf(flags);
    if (files.length > 0 && positionals.length > 0) throw new UsageError('give either KIND NAME or -f, not both');
    if (files.length === 0 && positionals.length !== 2) throw new UsageError('give KIND NAME, or -f FILE');
    let targets: Target[];
    if (files.length > 0) {
      const found = await targetsOf(files, namespace, ctx);
      if (found.problems.length > 0) {
        ctx.stderr(formatProblems(found.problems, '; nothing was deleted'));
        return 1;
      }
      targets = found.targets;
    } else {
      const kind = resolveKind(positionals[0]);
      targets = [{ kind, namespace: namespaceFor(kind, namespace), name: positionals[1] }];
    }
    return withClient(flags, ctx, async (api) => {
      let failed = 0;
      for (const t of targets) if (!(await deleteOne(api, t, ctx))) failed++;
      return failed === 0 ? 0 : 1;
    });
  },
};

async function deleteOne(api: ApiClient, t: Target, ctx: CliContext): Promise<boolean> {
  try {
    await api.delete(t.kind, t.namespace, t.name);
    ctx.stdout(`${refLabel(t.kind, t.name)} deleted\n`);
    return true;
  } catch (err) {
    if (!isApiError(err, 'NOT_FOUND')) throw err;
    ctx.stderr(`sluicectl delete: ${refLabel(t.kind, t.name)} not found${t.namespace === undefined ? '' : ` in namespace ${t.namespace}`}\n`);
    return false;
  }
}

async function targetsOf(files: readonly string[], namespace: string, ctx: CliContext): Promise<{ targets: Target[]; problems: Problem[] }> {
  const { manifests, problems } = await readManifests(files, ctx);
  const targets: Target[] = [];
  for (const m of manifests) {
    const { kind, violations } = kindOf(m.doc);
    const meta = (m.doc as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
    if (kind === undefined) {
      problems.push(...violations.map((v) => ({ where: m.where, path: m.prefix + v.path, message: v.message, seq: m.seq })));
    } else if (typeof meta?.name !== 'string' || meta.name === '') {
      problems.push({ where: m.where, path: `${m.prefix}metadata.name`, message: 'is required to know what to delete', seq: m.seq });
    } else {
      const ns = typeof meta.namespace === 'string' ? meta.namespace : namespace;
      targets.push({ kind, namespace: namespaceFor(kind, ns), name: meta.name });
    }
  }
  return { targets, problems };
}
