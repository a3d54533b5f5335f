// The table of every kind the control plane serves, one row each (Kuma's descriptors),
// each row a kind's names (kind-names.ts) joined with its schema and rules: the API server
// routes and validates by it, and the CRD generator walks it. A new kind is a new row in
// both tables, never a new branch. The CLI needs only the names and never loads this.

import type { KindDescriptor } from './kind.ts';
import * as names from './kind-names.ts';
import { meshKind } from './kinds/mesh.ts';
import { serviceKind } from './kinds/service.ts';
import { workloadKind } from './kinds/workload.ts';
import { httpRouteKind } from './kinds/httproute.ts';
import { grpcRouteKind } from './kinds/grpcroute.ts';
import { authorizationPolicyKind, circuitBreakerPolicyKind, faultInjectionPolicyKind, loadBalancingPolicyKind, requestAuthenticationKind, retryPolicyKind } from './kinds/policies.ts';

const SCHEMAS: readonly KindDescriptor<any>[] = [meshKind, serviceKind, workloadKind, httpRouteKind, grpcRouteKind, retryPolicyKind, circuitBreakerPolicyKind, faultInjectionPolicyKind, loadBalancingPolicyKind, authorizationPolicyKind, requestAuthenticationKind];
const byKind = new Map(SCHEMAS.map((k) => [k.kind, k]));

/** Every kind with its schema, in the order of kind-names.ts (`get all`, `api-resources`). */
export const KINDS: readonly KindDescriptor<any>[] = names.KIND_NAMES.map((n) => {
  const d = byKind.get(n.kind);
  if (d === undefined) throw new Error(`kind-names.ts lists ${n.kind}, which no kinds/ file defines`);
  return d;
});
if (KINDS.length !== SCHEMAS.length) throw new Error('a kinds/ file defines a kind kind-names.ts does not list');

/** The kind named, with its schema. */
export function withSchema(n: names.KindNames<unknown>): KindDescriptor<unknown>;
export function withSchema(n: names.KindNames<unknown> | undefined): KindDescriptor<unknown> | undefined;
export function withSchema(n: names.KindNames<unknown> | undefined): KindDescriptor<unknown> | undefined {
  return n === undefined ? undefined : byKind.get(n.kind);
}

/** `sluicectl get <name>`: the kind, its plural or singular, a short name; any case. */
export const findKind = (name: string) => withSchema(names.findKind(name));
export const kindByType = (type: string) => withSchema(names.kindByType(type));
export const kindByApiVersion = (apiVersion: string, kind: string) => withSchema(names.kindByApiVersion(apiVersion, kind));
