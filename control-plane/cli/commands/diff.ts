// `sluicectl diff -f`: what `apply` would change, as a unified diff per resource between
// the live resource and the server's dry run of the apply (so server defaults are not
// shown as changes). Server-set metadata is left out of both sides.

import { planManifests, type Planned } from '../apply-plan.ts';
import type { Command } from '../command.ts';
import { FILENAME_OPTION, filenamesOf, formatProblems, readManifests } from '../manifests.ts';
import { unifiedDiff } from '../print/diff.ts';
import { canonical, pathLabel, toYaml, withoutServerFields } from '../print/resource.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

export const diff: Command = {
  words: ['diff'],
  usage: 'sluicectl diff -f FILE|DIR|- [-f ...] [-n NS]',
  summary: 'show what apply would change, a unified diff per resource. Exit 0 none, 1 differences, 2+ error (kubectl diff)',
  examples: ['sluicectl diff -f mesh.yaml', 'sluicectl diff -f deploy/mesh/ && echo in sync'],
  options: { ...FILENAME_OPTION, namespace: { type: 'string', short: 'n' }, ...CONNECTION_OPTIONS },
  required: ['filename'],
  positionals: 0,
  // Exit 1 means "differences" here, so a failure (unreachable server...) must not end with it.
  failureExitCode: 3,
  async run({ flags, ctx }) {
    const read = await readManifests(filenamesOf(flags), ctx);
    return withClient(flags, ctx, async (api) => {
      const plan = await planManifests(api, read, flags.namespace);
      if (plan.problems.length > 0) {
        ctx.stderr(formatProblems(plan.problems, ''));
        return 2;
      }
      const diffs = plan.planned.map(diffOf).filter((d) => d !== '');
      ctx.stdout(diffs.join(''));
      return diffs.length === 0 ? 0 : 1;
    });
  },
};

function diffOf(p: Planned): string {
  const show = (r: Planned['live']) => (r === undefined ? '' : toYaml(canonical(withoutServerFields(r))));
  const text = unifiedDiff(show(p.live), show(p.preview), 'live', 'applied');
  return text === '' ? '' : `diff ${pathLabel(p.kind, p.desired)}\n${text}`;
}
