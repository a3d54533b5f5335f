// `sluicectl get KIND [NAME]`: a table (NAME, the kind's own columns, STATUS, AGE), or the
// resources as YAML or JSON, as kubectl prints them.

import type { KindDescriptor } from '../../api/kind.ts';
import type { Resource } from '../../api/resource.ts';
import { UsageError, type Command } from '../command.ts';
import type { CliContext } from '../context.ts';
import { namespaceFor, resolveKind } from '../kind-name.ts';
import { ageOf, formatTable } from '../print/table.ts';
import { listOf, toJson, toYaml } from '../print/resource.ts';
import { hasStatus, statusWord } from '../print/status.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

const OUTPUTS = ['table', 'yaml', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

export const get: Command = {
  words: ['get'],
  usage: 'sluicectl get KIND [NAME] [-n NS | -A] [-o table|yaml|json]',
  summary: 'list resources of a kind (or show one) as a table, YAML or JSON',
  examples: ['sluicectl get meshes', 'sluicectl get httproutes -A', 'sluicectl get service orders -n shop -o yaml', 'sluicectl get workloads -o json'],
  options: {
    namespace: { type: 'string', short: 'n' },
    'all-namespaces': { type: 'boolean', short: 'A' },
    output: { type: 'string', short: 'o' },
    ...CONNECTION_OPTIONS,
  },
  required: [],
  positionals: { min: 1, max: 2 },
  async run({ flags, positionals, ctx }) {
    const kind = resolveKind(positionals[0]);
    const name = positionals[1];
    const output = outputOf(flags.output);
    const all = flags['all-namespaces'] === true && kind.scope === 'Namespaced';
    if (all && name !== undefined) throw new UsageError('a resource cannot be fetched by name across all namespaces (-A): give -n NS instead');
    if (all && flags.namespace !== undefined) throw new UsageError('-n and -A exclude each other');
    const namespace = all ? undefined : namespaceFor(kind, typeof flags.namespace === 'string' ? flags.namespace : 'default');
    return withClient(flags, ctx, async (api) => {
      if (name !== undefined) {
        const r = await api.get(kind, namespace, name);
        ctx.stdout(output === 'table' ? table(kind, [r], false, ctx) : output === 'yaml' ? toYaml(r) : toJson(r));
        return 0;
      }
      const items = await api.list(kind, namespace);
      if (output === 'yaml') ctx.stdout(toYaml(listOf(items)));
      else if (output === 'json') ctx.stdout(toJson(listOf(items)));
      else if (items.length === 0) ctx.stderr(namespace === undefined ? 'No resources found.\n' : `No resources found in ${namespace} namespace.\n`);
      else ctx.stdout(table(kind, items, all, ctx));
      return 0;
    });
  },
};

function outputOf(flag: unknown): Output {
  if (flag === undefined) return 'table';
  if (typeof flag === 'string' && (OUTPUTS as readonly string[]).includes(flag)) return flag as Output;
  throw new UsageError(`unknown output format '${String(flag)}': use ${OUTPUTS.join(', ')}`);
}

/** The kind's columns, then STATUS (what the control plane says of each: control-plane/status/) when they have one, then AGE. */
function table(kind: KindDescriptor<unknown>, items: readonly Resource[], withNamespace: boolean, ctx: CliContext): string {
  const now = ctx.clock();
  const status = hasStatus(items);
  const headers = [...(withNamespace ? ['namespace'] : []), 'name', ...kind.columns.map((c) => c.name), ...(status ? ['status'] : []), 'age'];
  const rows = items.map((r) => [...(withNamespace ? [r.metadata.namespace ?? ''] : []), r.metadata.name, ...kind.columns.map((c) => c.value(r)), ...(status ? [statusWord(r)] : []), ageOf(r.metadata.creationTimestamp, now)]);
  return formatTable(headers, rows);
}
