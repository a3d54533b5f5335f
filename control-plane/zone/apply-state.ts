// A zone writes the global's mesh-wide state into its own store: what the global holds is
// created or updated, what it no longer holds is deleted. The zone refuses these kinds from
// its operator (roles.ts), so every one of them in its store came from the global. In the
// global's creation order, so the oldest-wins rules of routes and policies agree.

import type { Resource } from '../api/resource.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';
import { key } from '../xds/mesh-view.ts';
import { MESH_WIDE, MESH_WIDE_TYPES } from './roles.ts';

const same = (a: Resource, b: Resource) =>
  JSON.stringify([a.spec, a.metadata.labels ?? {}, a.metadata.annotations ?? {}]) === JSON.stringify([b.spec, b.metadata.labels ?? {}, b.metadata.annotations ?? {}]);

/** Makes the store's mesh-wide resources exactly `resources`; returns how many writes that took. */
export async function applyGlobalState(store: ResourceStore, resources: readonly Resource[]): Promise<number> {
  let writes = 0;
  const wanted = new Map<string, Map<string, Resource>>(MESH_WIDE_TYPES.map((t) => [t, new Map()]));
  const ordered = [...resources].sort((a, b) => ((a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : 1));
  for (const r of ordered) {
    const type = MESH_WIDE[r.kind];
    if (type === undefined) continue;
    wanted.get(type)!.set(key(r.metadata.namespace, r.metadata.name), r);
  }
  for (const type of MESH_WIDE_TYPES) {
    const { items } = await store.list(type);
    const held = new Map(items.map((r) => [key(r.metadata.namespace, r.metadata.name), r]));
    for (const [k, r] of wanted.get(type)!) {
      const { name, namespace, labels, annotations } = r.metadata;
      const fresh: Resource = { apiVersion: r.apiVersion, kind: r.kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }), ...(labels === undefined ? {} : { labels }), ...(annotations === undefined ? {} : { annotations }) }, spec: r.spec };
      const h = held.get(k);
      if (h === undefined) await store.create(type, fresh);
      else if (!same(h, r)) await store.update(type, fresh);
      else continue;
      writes++;
    }
    for (const [k, h] of held) {
      if (wanted.get(type)!.has(k)) continue;
      await store.delete(type, h.metadata.namespace, h.metadata.name).catch((err: unknown) => (isStoreError(err, 'NOT_FOUND') ? undefined : Promise.reject(err)));
      writes++;
    }
  }
  return writes;
}
