// Sluice's policy kinds as API resources: RetryPolicy, CircuitBreakerPolicy,
// FaultInjectionPolicy, LoadBalancingPolicy, AuthorizationPolicy and RequestAuthentication. Each spec is
// `targetRefs` plus the fields and checks the proxy's static config uses too (kinds/), so a
// policy reads and fails the same in a proxy's file and in `sluicectl apply`.
//
// A policy attaches to mesh resources (Gateway API policy attachment, GEP-713): a Service,
// or an HTTPRoute / GRPCRoute, or one rule of a route by `sectionName`. Only what one
// document shows is checked here; a target that does not exist yet is accepted, as
// Kubernetes does, and resolved when the mesh is indexed.

import Type, { type Static } from 'typebox';
import { authorizationSpecFields, checkAuthorization } from '../../../kinds/authz-spec.ts';
import { checkLoadBalancing, loadBalancingSpecFields } from '../../../kinds/load-balancing.ts';
import { checkRequestAuthentication, requestAuthenticationSpecFields } from '../../../kinds/jwt-spec.ts';
import { checkTargetRef, type TargetRule, type TargetShape } from '../../../kinds/policy-targets.ts';
import { checkCircuitBreaker, checkFault, checkRetry, circuitBreakerSpecFields, faultSpecFields, retrySpecFields } from '../../../kinds/resilience-specs.ts';
import { closed, Name, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind, type Add } from '../kind.ts';
import { authorizationPolicyNames, circuitBreakerPolicyNames, faultInjectionPolicyNames, loadBalancingPolicyNames, requestAuthenticationNames, retryPolicyNames } from '../kind-names.ts';

const ROUTE_GROUP = 'gateway.networking.k8s.io';
const SHAPE: TargetShape = { groups: { Service: '', HTTPRoute: ROUTE_GROUP, GRPCRoute: ROUTE_GROUP }, sectioned: ['HTTPRoute', 'GRPCRoute'] };

const TargetRef = Type.Object(
  {
    /** '' (or omitted) for Service, the core group; gateway.networking.k8s.io for routes. */
    group: Opt(Type.String({ maxLength: 253 })),
    kind: Type.Enum(['Service', 'HTTPRoute', 'GRPCRoute']),
    /** In the policy's namespace. */
    name: Name,
    /** A route's rule, by its `name`; the whole route when omitted. */
    sectionName: Opt(Name),
  },
  closed,
);
const TargetRefs = Type.Array(TargetRef, { minItems: 1, maxItems: 16 });
type TargetRef = { readonly group?: string; readonly kind: string; readonly name: string; readonly sectionName?: string };

/** Every kind/group/sectionName mistake and repeated target, at `spec.targetRefs[k]`. */
function checkTargets(refs: readonly TargetRef[], policyKind: string, rule: TargetRule, add: Add): void {
  const seen = new Map<string, number>();
  refs.forEach((t, k) => {
    const at = `spec.targetRefs[${k}]`;
    if (!checkTargetRef(t, at, policyKind, rule, SHAPE, add)) return;
    const key = `${t.kind}/${t.name}#${t.sectionName ?? ''}`;
    const first = seen.get(key);
    if (first !== undefined) add(at, `names the same target as targetRefs[${first}]; list each target once`);
    else seen.set(key, k);
  });
}

/** The first target that is a route: RetryPolicy fields kept per Service do not belong there. */
function firstRoute(refs: readonly TargetRef[]): number | undefined {
  const k = refs.findIndex((t) => t.kind !== 'Service');
  return k === -1 ? undefined : k;
}

// Each kind's names, columns and description are its row in kind-names.ts.

const RetryPolicySpec = Type.Object({ targetRefs: TargetRefs, ...retrySpecFields }, closed);
const CircuitBreakerPolicySpec = Type.Object({ targetRefs: TargetRefs, ...circuitBreakerSpecFields }, closed);
const FaultInjectionPolicySpec = Type.Object({ targetRefs: TargetRefs, ...faultSpecFields }, closed);
const LoadBalancingPolicySpec = Type.Object({ targetRefs: TargetRefs, ...loadBalancingSpecFields }, closed);
const AuthorizationPolicySpec = Type.Object({ targetRefs: TargetRefs, ...authorizationSpecFields }, closed);
const RequestAuthenticationSpec = Type.Object({ targetRefs: TargetRefs, ...requestAuthenticationSpecFields }, closed);

export type RetryPolicySpec = Static<typeof RetryPolicySpec>;
export type CircuitBreakerPolicySpec = Static<typeof CircuitBreakerPolicySpec>;
export type FaultInjectionPolicySpec = Static<typeof FaultInjectionPolicySpec>;
export type LoadBalancingPolicySpec = Static<typeof LoadBalancingPolicySpec>;
export type AuthorizationPolicySpec = Static<typeof AuthorizationPolicySpec>;
export type RequestAuthenticationSpec = Static<typeof RequestAuthenticationSpec>;

// --- resilience ---

const RETRY_TARGETS: TargetRule = { targets: ['Service', 'HTTPRoute', 'GRPCRoute'] };

export const retryPolicyKind = defineKind(retryPolicyNames, {
  spec: RetryPolicySpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'RetryPolicy', RETRY_TARGETS, add);
    checkRetry(spec, 'spec', add, firstRoute(spec.targetRefs));
  },
});

const CIRCUIT_BREAKER_TARGETS: TargetRule = { targets: ['Service'], why: 'its limits and health checks are kept per destination service' };

export const circuitBreakerPolicyKind = defineKind(circuitBreakerPolicyNames, {
  spec: CircuitBreakerPolicySpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'CircuitBreakerPolicy', CIRCUIT_BREAKER_TARGETS, add);
    checkCircuitBreaker(spec, 'spec', add);
  },
});

const FAULT_TARGETS: TargetRule = { targets: ['HTTPRoute', 'GRPCRoute'], why: 'faults are injected where requests are routed' };

export const faultInjectionPolicyKind = defineKind(faultInjectionPolicyNames, {
  spec: FaultInjectionPolicySpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'FaultInjectionPolicy', FAULT_TARGETS, add);
    checkFault(spec, 'spec', add);
  },
});

// --- load balancing ---

const LOAD_BALANCING_TARGETS: TargetRule = { targets: ['Service'], why: "the balancer and what it hashes on are kept per destination service (its routes get the hash)" };

export const loadBalancingPolicyKind = defineKind(loadBalancingPolicyNames, {
  spec: LoadBalancingPolicySpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'LoadBalancingPolicy', LOAD_BALANCING_TARGETS, add);
    checkLoadBalancing(spec, 'spec', add);
  },
});

// --- security ---

const INBOUND = "on the inbound side of the Service's workloads";

export const authorizationPolicyKind = defineKind(authorizationPolicyNames, {
  spec: AuthorizationPolicySpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'AuthorizationPolicy', { targets: ['Service'], why: `requests are authorized where they arrive, ${INBOUND}` }, add);
    checkAuthorization(spec, 'spec', add);
  },
});

export const requestAuthenticationKind = defineKind(requestAuthenticationNames, {
  spec: RequestAuthenticationSpec,
  check(spec, add) {
    checkTargets(spec.targetRefs, 'RequestAuthentication', { targets: ['Service'], why: `tokens are checked where requests arrive, ${INBOUND}` }, add);
    checkRequestAuthentication(spec, 'spec', add);
  },
});
