// How resources are named and shown: kubectl's `<kind>.<group>/<name>`, YAML and JSON of
// one resource or a List, and the form two resources are compared in (no server-set
// metadata, keys in one order) so that `apply` and `diff` agree on what "unchanged" is.

import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import { lazy } from '../lazy.ts';

const yaml = lazy<typeof import('yaml')>(import.meta.url, 'yaml');

/** The metadata the server sets on every write; a manifest's copy of them is ignored. */
export const SERVER_FIELDS = ['uid', 'resourceVersion', 'generation', 'creationTimestamp'] as const;

/** `httproute.gateway.networking.k8s.io`, `service` for core, as kubectl prints it. */
export function typeLabel(kind: KindNames<unknown>): string {
  const k = kind.kind.toLowerCase();
  return kind.group === '' ? k : `${k}.${kind.group}`;
}

/** `httproute.gateway.networking.k8s.io/web`. */
export function refLabel(kind: KindNames<unknown>, name: string): string {
  return `${typeLabel(kind)}/${name}`;
}

/** `HTTPRoute/default/web`, `Mesh/default` for a cluster-scoped kind. */
export function pathLabel(kind: KindNames<unknown>, r: Resource): string {
  return r.metadata.namespace === undefined ? `${kind.kind}/${r.metadata.name}` : `${kind.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

/** Without the server's metadata and the status (the control plane's own, never applied). */
export function withoutServerFields(r: Resource): Resource {
  const metadata = { ...r.metadata };
  for (const f of SERVER_FIELDS) delete metadata[f];
  const { status: _status, ...rest } = r;
  return { ...rest, metadata };
}

// Known keys first in the order people write them, the rest alphabetical, so that
// reordering a manifest's keys is not a change.
const FIRST = ['apiVersion', 'kind', 'metadata', 'name', 'namespace'];

export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  const rank = (k: string) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
}

/** Whether two resources say the same once the server's fields are set aside. */
export function sameContent(a: Resource, b: Resource): boolean {
  return JSON.stringify(canonical(withoutServerFields(a))) === JSON.stringify(canonical(withoutServerFields(b)));
}

/** No line folding: a long value stays on one line, so output is stable and greppable. */
export function toYaml(value: unknown): string {
  return yaml().stringify(value, { lineWidth: 0 });
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** kubectl's wrapper for several resources of `-o yaml|json`. */
export function listOf(items: readonly Resource[]): { apiVersion: 'v1'; kind: 'List'; items: readonly Resource[] } {
  return { apiVersion: 'v1', kind: 'List', items };
}
