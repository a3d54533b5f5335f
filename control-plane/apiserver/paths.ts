// Kubernetes-style REST paths to what they name: a kind, a namespace (or all of them) and
// maybe one resource. Core kinds live under /api/v1, the others under /apis/<group>/<version>.

import { KINDS } from '../api/descriptors.ts';
import type { KindDescriptor } from '../api/kind.ts';

export type Target = {
  readonly kind: KindDescriptor<unknown>;
  /** Undefined for cluster-scoped kinds and for lists across all namespaces. */
  readonly namespace?: string;
  readonly name?: string;
};

export type PathResult = { readonly ok: true; readonly target: Target } | { readonly ok: false; readonly message: string };

export function parsePath(pathname: string): PathResult {
  let parts: string[];
  try {
    parts = pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return { ok: false, message: `the path ${pathname} is not valid percent-encoding` };
  }
  if (parts.at(-1) === '') parts.pop();
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) [group, rest] = ['', parts.slice(1)];
  else if (parts[0] === 'apis' && parts.length >= 3) [group, rest] = [parts[1], parts.slice(2)];
  else return { ok: false, message: `no such path ${pathname}: resources are under /api/v1 (core) and /apis/<group>/<version>` };
  const [version, ...tail] = rest;
  const namespaced = tail[0] === 'namespaces' && tail.length >= 3;
  const [plural, name, extra] = namespaced ? tail.slice(2) : tail;
  const namespace = namespaced ? tail[1] : undefined;
  if (plural === undefined || extra !== undefined) return { ok: false, message: `no such path ${pathname}` };
  const kind = KINDS.find((k) => k.group === group && k.version === version && k.plural === plural);
  if (kind === undefined) {
    const served = KINDS.filter((k) => k.group === group).map((k) => `${k.version}/${k.plural}`);
    return { ok: false, message: `${group === '' ? 'the core group' : `group ${group}`} serves no '${version}/${plural}'${served.length > 0 ? `; it serves ${served.join(', ')}` : ''}` };
  }
  if (kind.scope === 'Cluster' && namespace !== undefined) return { ok: false, message: `${kind.kind} is cluster-scoped: use ${collectionPath(kind)}` };
  if (kind.scope === 'Namespaced' && namespace === undefined && name !== undefined) {
    return { ok: false, message: `${kind.kind} is namespaced: use ${collectionPath(kind, 'NAMESPACE')}/${name}` };
  }
  return { ok: true, target: { kind, namespace, name } };
}

/** The collection path of a kind, in one namespace, or across all (or cluster-scoped) when absent. */
export function collectionPath(kind: KindDescriptor<unknown>, namespace?: string): string {
  const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  return namespace === undefined || kind.scope === 'Cluster' ? `${base}/${kind.plural}` : `${base}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}`;
}

export function itemPath(kind: KindDescriptor<unknown>, namespace: string | undefined, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}
