// The control plane's status (control-plane/status/), written through to each object's
// /status subresource when the store is the Kubernetes API, in the shape each kind's CRD
// has: Sluice's kinds take it as computed (conditions and the fields beside them);
// Gateway API routes take it per parent (`status.parents[]`, one entry per parentRef with
// our controllerName, entries of other controllers kept), since their CRD's schema has
// no top-level conditions and the API server would prune them. Core Services are not
// written: their status belongs to Kubernetes.

import { KINDS } from '../api/descriptors.ts';
import { resourceTypeOf } from '../api/kind.ts';
import type { Resource } from '../api/resource.ts';
import type { StatusChange } from '../status/index.ts';
import type { KubeStore } from './kube-store.ts';

/** The controllerName Sluice writes in a Gateway API route's status.parents (GAMMA: the mesh's controller). */
export const GATEWAY_CONTROLLER_NAME = 'sluice.dev/mesh-controller';

type Shape = (status: Record<string, unknown>, current: unknown, object: Resource) => Record<string, unknown>;

/** Gateway API route status: RouteParentStatus per parentRef. */
const perParent: Shape = (status, current, object) => {
  const others = (((current as { parents?: unknown[] } | undefined)?.parents ?? []) as { controllerName?: string }[]).filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
  const refs = ((object.spec as { parentRefs?: unknown[] } | undefined)?.parentRefs ?? []) as unknown[];
  return { parents: [...others, ...refs.map((parentRef) => ({ parentRef, controllerName: GATEWAY_CONTROLLER_NAME, conditions: status.conditions }))] };
};

const SHAPES: ReadonlyMap<string, Shape> = new Map([
  ['HTTPRoute', perParent],
  ['GRPCRoute', perParent],
]);

/** StatusController's onChanged for a Kubernetes store: queues each change on the store's status writer. */
export function writeStatusThrough(store: KubeStore): (changes: readonly StatusChange[]) => void {
  return (changes) => {
    for (const c of changes) {
      const kind = KINDS.find((k) => k.kind === c.kind);
      if (kind === undefined) continue;
      store.writeStatus(resourceTypeOf(kind), kind.scope === 'Cluster' ? undefined : c.namespace, c.name, c.uid, c.status as Record<string, unknown> | undefined, SHAPES.get(c.kind));
    }
  };
}
