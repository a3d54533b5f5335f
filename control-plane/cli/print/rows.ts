// The rows of `sluicectl get`: NAME (or KIND/NAME when several kinds print), the kind's own
// columns, STATUS when the control plane wrote one, AGE; `-o wide` adds LABELS and the
// MESSAGE of the condition STATUS names (why a route has no backend, why a proxy NACKed).

import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import { typeLabel } from './resource.ts';
import { hasStatus, statusMessage, statusWord } from './status.ts';
import { ageOf } from './table.ts';

export type RowOptions = {
  readonly withNamespace: boolean;
  /** `service/orders` in NAME: `get all` and `get svc,httproute` mix kinds. */
  readonly withType: boolean;
  readonly wide: boolean;
  /** STATUS even when no item has one yet (a watch cannot know what comes). */
  readonly withStatus?: boolean;
  readonly now: number;
};

export function headersOf(kind: KindNames<unknown>, items: readonly Resource[], o: RowOptions): string[] {
  const status = o.withStatus === true || hasStatus(items);
  return [
    ...(o.withNamespace ? ['namespace'] : []),
    'name',
    ...kind.columns.map((c) => c.name),
    ...(status ? ['status'] : []),
    'age',
    ...(o.wide ? ['labels', ...(status ? ['message'] : [])] : []),
  ];
}

export function rowOf(kind: KindNames<unknown>, r: Resource, status: boolean, o: RowOptions): string[] {
  return [
    ...(o.withNamespace ? [r.metadata.namespace ?? ''] : []),
    o.withType ? `${typeLabel(kind)}/${r.metadata.name}` : r.metadata.name,
    ...kind.columns.map((c) => c.value(r)),
    ...(status ? [statusWord(r)] : []),
    ageOf(r.metadata.creationTimestamp, o.now),
    ...(o.wide ? [labelsOf(r), ...(status ? [statusMessage(r)] : [])] : []),
  ];
}

function labelsOf(r: Resource): string {
  const entries = Object.entries(r.metadata.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}
