// `sluicectl apply -f`: all or nothing. Every document is checked here and by the server
// (dry run) first; only when all pass is each one created, updated, or left as it is.

import type { Resource } from '../../api/resource.ts';
import { conditional, getIfExists, planManifests, type Planned } from '../apply-plan.ts';
import { formatError, isApiError, type ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { FILENAME_OPTION, filenamesOf, formatProblems, readManifests } from '../manifests.ts';
import { refLabel, sameContent } from '../print/resource.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

/** Writes racing ours get this many fresh reads before we give up on a document. */
const ATTEMPTS = 4;

type Outcome = 'created' | 'configured' | 'unchanged';

export const apply: Command = {
  words: ['apply'],
  usage: 'sluicectl apply -f FILE|DIR|- [-f ...] [-n NS] [--dry-run[=server|client|none]]',
  summary: 'create or update the resources of YAML/JSON files, a directory or stdin; all or nothing. Exit 0 applied, 1 not',
  examples: ['sluicectl apply -f mesh.yaml', 'sluicectl apply -f deploy/mesh/ -n shop', 'cat route.yaml | sluicectl apply -f - --dry-run'],
  options: {
    ...FILENAME_OPTION,
    namespace: { type: 'string', short: 'n' },
    'dry-run': { type: 'boolean' },
    ...CONNECTION_OPTIONS,
  },
  required: ['filename'],
  positionals: 0,
  async run({ flags, ctx }) {
    const read = await readManifests(filenamesOf(flags), ctx);
    return withClient(flags, ctx, async (api) => {
      const plan = await planManifests(api, read, flags.namespace);
      if (plan.problems.length > 0) {
        ctx.stderr(formatProblems(plan.problems, '; nothing was applied'));
        return 1;
      }
      if (flags['dry-run'] === true) {
        for (const p of plan.planned) ctx.stdout(`${refLabel(p.kind, p.desired.metadata.name)} ${dryRunOutcome(p)} (dry run)\n`);
        return 0;
      }
      let failed = 0;
      for (const p of plan.planned) {
        try {
          ctx.stdout(`${refLabel(p.kind, p.desired.metadata.name)} ${await applyOne(api, p)}\n`);
        } catch (err) {
          // Lost connection or credentials would fail every remaining document alike.
          if (isApiError(err, 'UNREACHABLE') || isApiError(err, 'UNAUTHORIZED')) throw err;
          failed++;
          ctx.stderr(`${p.manifest.where}: ${formatError(err)}`);
        }
      }
      return failed === 0 ? 0 : 1;
    });
  },
};

function dryRunOutcome(p: Planned): Outcome {
  if (p.live === undefined) return 'created';
  return sameContent(p.live, p.preview) ? 'unchanged' : 'configured';
}

/**
 * Creates, or updates conditionally on the resourceVersion just read; a write in between
 * (CONFLICT, ALREADY_EXISTS, or a delete) means read again and retry.
 */
async function applyOne(api: ApiClient, p: Planned): Promise<Outcome> {
  let live: Resource | undefined = p.live;
  for (let attempt = 1; ; attempt++) {
    try {
      if (live === undefined) {
        await api.create(p.kind, p.desired);
        return 'created';
      }
      if (sameContent(live, p.desired)) return 'unchanged';
      const stored = await api.update(p.kind, conditional(p.desired, live));
      // The server may default fields the document leaves out: it knows best whether anything changed.
      return stored.metadata.resourceVersion === live.metadata.resourceVersion ? 'unchanged' : 'configured';
    } catch (err) {
      const raced = isApiError(err, 'CONFLICT') || isApiError(err, 'ALREADY_EXISTS') || (live !== undefined && isApiError(err, 'NOT_FOUND'));
      if (!raced) throw err;
      if (attempt === ATTEMPTS) throw new Error(`gave up after ${ATTEMPTS} attempts: the resource kept changing while it was applied (${(err as Error).message})`);
    }
    live = await getIfExists(api, p.kind, p.desired);
  }
}
