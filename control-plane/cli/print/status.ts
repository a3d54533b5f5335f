// The status the control plane writes on a resource (control-plane/status/), for people:
// one word for `sluicectl get` (the reason of the first condition that is not True, else
// of the first), and for `describe` the conditions as kubectl prints them, then what else
// the status lists (the Workloads a Service selects, the routes and policies attached, the
// proxies that run a Workload with SYNCED, STALE, NACKED or OFFLINE).

import type { Resource } from '../../api/resource.ts';
import { ageOf, formatTable } from './table.ts';

type Condition = { type: string; status: string; reason: string; message: string; lastTransitionTime?: string };
type Status = { conditions?: Condition[]; selectedWorkloads?: number; [field: string]: unknown };

function statusOf(r: Resource): Status | undefined {
  const s = r.status as Status | undefined;
  return typeof s === 'object' && s !== null && Array.isArray(s.conditions) ? s : undefined;
}

/** Whether `get` has a STATUS column for these: some of them carry conditions. */
export function hasStatus(items: readonly Resource[]): boolean {
  return items.some((r) => statusOf(r) !== undefined);
}

/** `Accepted`, `BackendNotFound`, `Synced`, `WorkloadsSelected (2)`; `<none>` before the control plane computed any. */
export function statusWord(r: Resource): string {
  const s = statusOf(r);
  const conditions = s?.conditions ?? [];
  if (conditions.length === 0) return '<none>';
  const word = (conditions.find((c) => c.status !== 'True') ?? conditions[0]).reason;
  return typeof s?.selectedWorkloads === 'number' ? `${word} (${s.selectedWorkloads})` : word;
}

/** The message of the condition statusWord names, for `get -o wide`; `<none>` without one. */
export function statusMessage(r: Resource): string {
  const conditions = statusOf(r)?.conditions ?? [];
  if (conditions.length === 0) return '<none>';
  const message = (conditions.find((c) => c.status !== 'True') ?? conditions[0]).message;
  return message === '' ? '<none>' : message;
}

const TITLES: Readonly<Record<string, string>> = { selectedWorkloads: 'Selected Workloads', workloads: 'Workloads', routes: 'Routes', policies: 'Policies', proxies: 'Proxies', services: 'Services', zones: 'Zones' };

/** The `Status:` part of describe; empty when the resource has no status. */
export function describeStatus(r: Resource, now: number): string {
  const s = statusOf(r);
  if (s === undefined) return '';
  const rows = (s.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.lastTransitionTime === undefined ? '<unknown>' : ageOf(c.lastTransitionTime, now), c.message]);
  let out = `Conditions:\n${indent(formatTable(['type', 'status', 'reason', 'age', 'message'], rows))}`;
  for (const [field, value] of Object.entries(s)) {
    if (field === 'conditions') continue;
    const title = TITLES[field] ?? field;
    if (Array.isArray(value) && value.length > 0 && typeof value[0] === 'object') {
      // The proxies of a Workload: one row each, with what a NACK said.
      const keys = [...new Set(value.flatMap((v) => Object.keys(v as object)))];
      out += `${title}:\n${indent(formatTable(keys, value.map((v) => keys.map((k) => cell(k, (v as Record<string, unknown>)[k], now)))))}`;
    } else if (Array.isArray(value)) out += `${title}:${value.length === 0 ? '  <none>' : `  ${value.join(', ')}`}\n`;
    else out += `${title}:  ${String(value)}\n`;
  }
  return `Status:\n${indent(out)}`;
}

function cell(key: string, v: unknown, now: number): string {
  if (v === undefined) return '';
  if (key === 'since' && typeof v === 'string') return `${v} (${ageOf(v, now)} ago)`;
  return String(v);
}

function indent(text: string): string {
  return text.replace(/\n$/, '').split('\n').map((l) => `  ${l}`).join('\n') + '\n';
}
