// `sluicectl describe KIND NAME`: one resource for a person to read: its identity and
// bookkeeping as aligned fields, its spec as indented YAML, then its status: conditions,
// the Workloads it selects, the routes and policies attached, the proxies that run it.

import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import type { Command } from '../command.ts';
import { namespaceFor, resolveKind } from '../kind-name.ts';
import { toYaml } from '../print/resource.ts';
import { describeStatus } from '../print/status.ts';
import { ageOf } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

export const describe: Command = {
  words: ['describe'],
  usage: 'sluicectl describe KIND NAME [-n NS]',
  summary: 'show one resource in detail: metadata, its spec, then its status (conditions, selected Workloads, attached routes and policies, proxies)',
  examples: ['sluicectl describe mesh default', 'sluicectl describe httproute web -n shop'],
  options: { namespace: { type: 'string', short: 'n' }, ...CONNECTION_OPTIONS },
  required: [],
  positionals: 2,
  async run({ flags, positionals, ctx }) {
    const kind = resolveKind(positionals[0]);
    const namespace = namespaceFor(kind, typeof flags.namespace === 'string' ? flags.namespace : 'default');
    return withClient(flags, ctx, async (api) => {
      ctx.stdout(describeResource(kind, await api.get(kind, namespace, positionals[1]), ctx.clock()));
      return 0;
    });
  },
};

export function describeResource(kind: KindNames<unknown>, r: Resource, now: number): string {
  const m = r.metadata;
  const fields: [string, string][] = [['Name', m.name]];
  if (kind.scope === 'Namespaced') fields.push(['Namespace', m.namespace ?? '']);
  fields.push(
    ['Labels', pairs(m.labels)],
    ['Annotations', pairs(m.annotations)],
    ['API Version', r.apiVersion],
    ['Kind', r.kind],
    ['Created', m.creationTimestamp === undefined ? '<unknown>' : `${m.creationTimestamp} (${ageOf(m.creationTimestamp, now)} ago)`],
    ['Resource Version', m.resourceVersion ?? '<none>'],
    ['Generation', m.generation === undefined ? '<none>' : String(m.generation)],
  );
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  // Continuation lines of a multi-line value (one label per line) line up under its first.
  const head = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v.split('\n').join(`\n${' '.repeat(width)}`)}\n`).join('');
  // The status as the control plane computed it: conditions, then what it lists (describeStatus).
  const status = describeStatus(r, now);
  return head + section('Spec', r.spec) + (status !== '' ? status : r.status === undefined ? '' : section('Status', r.status));
}

function pairs(map: Record<string, string> | undefined): string {
  const entries = Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join('\n');
}

function section(title: string, value: unknown): string {
  if (value === undefined || value === null) return `${title}:  <none>\n`;
  return `${title}:\n${toYaml(value).replace(/\n$/, '').split('\n').map((l) => `  ${l}`).join('\n')}\n`;
}
