// Sluice's policy kinds as API resources: RetryPolicy, CircuitBreakerPolicy,
// FaultInjectionPolicy, LoadBalancingPolicy, AuthorizationPolicy and RequestAuthentication. Each spec is
// `targetRefs` plus the fields and checks the proxy's static config uses too (kinds/), so a
// policy reads and fails the same in a proxy's file and in `sluicectl apply`.
//
// A policy attaches to mesh resources (Gateway API policy attachment, GEP-713): a Service,
// or an HTTPRoute / GRPCRoute, or one rule of a route by `sectionName`. Only what one
// document shows is checked here; a target that does not exist yet is accepted, as
// Kubernetes does, and resolved when the mesh is indexed.

import Type from 'typebox';
import { authorizationSpecFields, checkAuthorization } from '../../../kinds/authz-spec.ts';
import { checkLoadBalancing, loadBalancingSpecFields } from '../../../kinds/load-balancing.ts';
import { checkRequestAuthentication, requestAuthenticationSpecFields } from '../../../kinds/jwt-spec.ts';
import { checkTargetRef, type TargetRule, type TargetShape } from '../../../kinds/policy-targets.ts';
import { checkCircuitBreaker, checkFault, checkRetry, circuitBreakerSpecFields, DEFAULT_LIMITS, DEFAULT_RETRY, faultSpecFields, retrySpecFields } from '../../../kinds/resilience-specs.ts';
import { closed, Name, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind, type Add, type Column } from '../kind.ts';
import type { Resource } from '../resource.ts';

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

/** `Service/orders, HTTPRoute/web#rule-a`. */
function targetsColumn<S extends { targetRefs: readonly TargetRef[] }>(): Column<S> {
  return { name: 'TARGETS', value: (r: Resource<S>) => (r.spec?.targetRefs ?? []).map((t) => `${t.kind}/${t.name}${t.sectionName === undefined ? '' : `#${t.sectionName}`}`).join(', ') };
}

const percent = (p: number | undefined) => (p === undefined || p === 100 ? '' : ` (${p}%)`);

const POLICY = { group: 'mesh.sluice.dev', version: 'v1alpha1', scope: 'Namespaced', crd: true } as const;

// --- resilience ---

const RETRY_TARGETS: TargetRule = { targets: ['Service', 'HTTPRoute', 'GRPCRoute'] };

export const retryPolicyKind = defineKind({
  ...POLICY,
  kind: 'RetryPolicy',
  plural: 'retrypolicies',
  singular: 'retrypolicy',
  shortNames: ['rp'],
  spec: Type.Object({ targetRefs: TargetRefs, ...retrySpecFields }, closed),
  description: 'Retries, timeouts and the retry budget of requests to a Service, or through a route or one of its rules.',
  check(spec, add) {
    checkTargets(spec.targetRefs, 'RetryPolicy', RETRY_TARGETS, add);
    checkRetry(spec, 'spec', add, firstRoute(spec.targetRefs));
  },
  columns: [
    targetsColumn(),
    { name: 'ATTEMPTS', value: (r) => String(r.spec?.attempts ?? DEFAULT_RETRY.attempts), jsonPath: '.spec.attempts', type: 'integer' },
    { name: 'PER TRY', value: (r) => r.spec?.timeouts?.perTry ?? '-', jsonPath: '.spec.timeouts.perTry' },
  ],
});

const CIRCUIT_BREAKER_TARGETS: TargetRule = { targets: ['Service'], why: 'its limits and health checks are kept per destination service' };

export const circuitBreakerPolicyKind = defineKind({
  ...POLICY,
  kind: 'CircuitBreakerPolicy',
  plural: 'circuitbreakerpolicies',
  singular: 'circuitbreakerpolicy',
  shortNames: ['cbp'],
  spec: Type.Object({ targetRefs: TargetRefs, ...circuitBreakerSpecFields }, closed),
  description: "Connection and request limits, outlier detection and active health checks of a Service's endpoints.",
  check(spec, add) {
    checkTargets(spec.targetRefs, 'CircuitBreakerPolicy', CIRCUIT_BREAKER_TARGETS, add);
    checkCircuitBreaker(spec, 'spec', add);
  },
  columns: [
    targetsColumn(),
    { name: 'MAX CONNECTIONS', value: (r) => String(r.spec?.limits?.maxConnections ?? DEFAULT_LIMITS.maxConnections), jsonPath: '.spec.limits.maxConnections', type: 'integer' },
    // Outlier detection is on by default; `disabled` is the only way to turn it off.
    { name: 'OUTLIER DETECTION', value: (r) => (r.spec?.outlierDetection?.disabled === true ? 'off' : 'on') },
  ],
});

const FAULT_TARGETS: TargetRule = { targets: ['HTTPRoute', 'GRPCRoute'], why: 'faults are injected where requests are routed' };

export const faultInjectionPolicyKind = defineKind({
  ...POLICY,
  kind: 'FaultInjectionPolicy',
  plural: 'faultinjectionpolicies',
  singular: 'faultinjectionpolicy',
  shortNames: ['fip'],
  spec: Type.Object({ targetRefs: TargetRefs, ...faultSpecFields }, closed),
  description: 'Delays and aborts injected into a share of the requests through a route or one of its rules, to test how callers cope.',
  check(spec, add) {
    checkTargets(spec.targetRefs, 'FaultInjectionPolicy', FAULT_TARGETS, add);
    checkFault(spec, 'spec', add);
  },
  columns: [
    targetsColumn(),
    { name: 'DELAY', value: (r) => (r.spec?.delay === undefined ? '-' : `${r.spec.delay.fixedDelay}${percent(r.spec.delay.percent)}`) },
    {
      name: 'ABORT',
      value: (r) => {
        const a = r.spec?.abort;
        if (a === undefined) return '-';
        return `${a.httpStatus === undefined ? `grpc ${a.grpcStatus}` : String(a.httpStatus)}${percent(a.percent)}`;
      },
    },
  ],
});

// --- load balancing ---

const LOAD_BALANCING_TARGETS: TargetRule = { targets: ['Service'], why: "the balancer and what it hashes on are kept per destination service (its routes get the hash)" };

export const loadBalancingPolicyKind = defineKind({
  ...POLICY,
  kind: 'LoadBalancingPolicy',
  plural: 'loadbalancingpolicies',
  singular: 'loadbalancingpolicy',
  shortNames: ['lbp'],
  spec: Type.Object({ targetRefs: TargetRefs, ...loadBalancingSpecFields }, closed),
  description: "How calls to a Service pick its endpoints: the balancer (LeastRequest, RoundRobin, RingHash, Maglev), what a consistent hash is taken of (a header, a cookie, the caller's IP), and the locality failover threshold.",
  check(spec, add) {
    checkTargets(spec.targetRefs, 'LoadBalancingPolicy', LOAD_BALANCING_TARGETS, add);
    checkLoadBalancing(spec, 'spec', add);
  },
  columns: [
    targetsColumn(),
    { name: 'TYPE', value: (r) => r.spec?.type ?? '-', jsonPath: '.spec.type' },
    { name: 'HASH ON', value: (r) => (r.spec?.hashOn === undefined ? '-' : r.spec.hashOn.type === 'SourceIP' ? 'SourceIP' : `${r.spec.hashOn.type} ${r.spec.hashOn.name ?? ''}`) },
    { name: 'FAILOVER', value: (r) => (r.spec?.failoverThreshold === undefined ? '-' : `${r.spec.failoverThreshold}%`), jsonPath: '.spec.failoverThreshold', type: 'integer' },
  ],
});

// --- security ---

const INBOUND = "on the inbound side of the Service's workloads";

export const authorizationPolicyKind = defineKind({
  ...POLICY,
  kind: 'AuthorizationPolicy',
  plural: 'authorizationpolicies',
  singular: 'authorizationpolicy',
  shortNames: ['ap'],
  spec: Type.Object({ targetRefs: TargetRefs, ...authorizationSpecFields }, closed),
  description: "Which peers and requests a Service's workloads accept (ALLOW) or refuse (DENY), by SPIFFE identity, namespace, JWT principal, method, path, host, header and claim.",
  check(spec, add) {
    checkTargets(spec.targetRefs, 'AuthorizationPolicy', { targets: ['Service'], why: `requests are authorized where they arrive, ${INBOUND}` }, add);
    checkAuthorization(spec, 'spec', add);
  },
  columns: [
    targetsColumn(),
    { name: 'ACTION', value: (r) => r.spec?.action ?? 'ALLOW', jsonPath: '.spec.action' },
    { name: 'RULES', value: (r) => String(r.spec?.rules?.length ?? 0) },
  ],
});

export const requestAuthenticationKind = defineKind({
  ...POLICY,
  kind: 'RequestAuthentication',
  plural: 'requestauthentications',
  singular: 'requestauthentication',
  shortNames: ['ra'],
  spec: Type.Object({ targetRefs: TargetRefs, ...requestAuthenticationSpecFields }, closed),
  description: "Which end-user JWTs a Service's workloads accept: issuers, audiences and their keys (jwksUri or inline jwks).",
  check(spec, add) {
    checkTargets(spec.targetRefs, 'RequestAuthentication', { targets: ['Service'], why: `tokens are checked where requests arrive, ${INBOUND}` }, add);
    checkRequestAuthentication(spec, 'spec', add);
  },
  columns: [targetsColumn(), { name: 'ISSUERS', value: (r) => (r.spec?.jwtRules ?? []).map((j) => j.issuer).join(', ') }],
});
