// The table of every kind the control plane serves, one row each (Kuma's descriptors):
// the API server routes by it, the CLI resolves `sluicectl get <name>` by it, and the CRD
// generator walks it. A new kind is a new row, never a new branch.

import { apiVersionOf, resourceTypeOf, type KindDescriptor } from './kind.ts';
import { meshKind } from './kinds/mesh.ts';
import { serviceKind } from './kinds/service.ts';
import { workloadKind } from './kinds/workload.ts';
import { httpRouteKind } from './kinds/httproute.ts';
import { grpcRouteKind } from './kinds/grpcroute.ts';
import { authorizationPolicyKind, circuitBreakerPolicyKind, faultInjectionPolicyKind, loadBalancingPolicyKind, requestAuthenticationKind, retryPolicyKind } from './kinds/policies.ts';

export const KINDS: readonly KindDescriptor<any>[] = [meshKind, serviceKind, workloadKind, httpRouteKind, grpcRouteKind, retryPolicyKind, circuitBreakerPolicyKind, faultInjectionPolicyKind, loadBalancingPolicyKind, authorizationPolicyKind, requestAuthenticationKind];

/** `sluicectl get <name>`: the kind, its plural or singular, a short name; any case. */
export function findKind(name: string): KindDescriptor<unknown> | undefined {
  const n = name.toLowerCase();
  return KINDS.find((k) => k.kind.toLowerCase() === n || k.plural === n || k.singular === n || k.shortNames.includes(n));
}

export function kindByType(type: string): KindDescriptor<unknown> | undefined {
  return KINDS.find((k) => resourceTypeOf(k) === type);
}

export function kindByApiVersion(apiVersion: string, kind: string): KindDescriptor<unknown> | undefined {
  return KINDS.find((k) => k.kind === kind && apiVersionOf(k) === apiVersion);
}
