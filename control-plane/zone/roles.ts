// What each role of sluice-cp takes at apply (issue 18; zones.md). A zone gets the
// mesh-wide kinds from the global, so it refuses them from an operator; a global has no
// proxies, so it refuses Workloads and join tokens, and Services, which zones declare;
// standalone takes everything.

import { WATCHED_TYPES } from '../xds/mesh-index.ts';

export type Role = 'standalone' | 'global' | 'zone';

/** The kinds that are mesh-wide, with their store types: the global holds them, every zone is sent them. */
export const MESH_WIDE: Readonly<Record<string, string>> = {
  Mesh: WATCHED_TYPES.meshes,
  HTTPRoute: WATCHED_TYPES.httpRoutes,
  GRPCRoute: WATCHED_TYPES.grpcRoutes,
  RetryPolicy: WATCHED_TYPES.retryPolicies,
  CircuitBreakerPolicy: WATCHED_TYPES.circuitBreakerPolicies,
  AuthorizationPolicy: WATCHED_TYPES.authorizationPolicies,
  RequestAuthentication: WATCHED_TYPES.requestAuthentications,
  LoadBalancingPolicy: WATCHED_TYPES.loadBalancingPolicies,
  FaultInjectionPolicy: WATCHED_TYPES.faultInjectionPolicies,
};
export const MESH_WIDE_KINDS: ReadonlySet<string> = new Set(Object.keys(MESH_WIDE));
export const MESH_WIDE_TYPES: readonly string[] = Object.values(MESH_WIDE);

/** Why this control plane refuses to write a resource of `kind` (apply, delete, a join token); undefined: it takes it. */
export function refusalOf(role: Role, zone: string | undefined, kind: string): string | undefined {
  if (role === 'zone' && MESH_WIDE_KINDS.has(kind)) return `${kind} is mesh-wide: apply it on the global control plane; this control plane is zone ${zone}`;
  if (role === 'global' && (kind === 'Workload' || kind === 'JoinToken')) {
    return `${kind}s belong to a zone: no proxy joins a global control plane; apply it on the control plane of the zone where the workload runs (sluice-cp --role zone)`;
  }
  // Nothing would carry a Service of the global's own to the zones: refused rather than kept to no effect.
  if (role === 'global' && kind === 'Service') {
    return 'Services belong to the zones that run their instances: apply it on each such zone\'s control plane; the global learns it from their summaries (one Service across zones by namespace and name)';
  }
  return undefined;
}
