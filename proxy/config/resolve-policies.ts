// Validated policies (policies.ts checked them) -> the model fields they set: each backend's
// retry, budget, limits, health and balancer; each route rule's retry and fault; each listener's
// authorization policies and JWT providers.

import type { AuthorizationPolicy } from '../authz/model.ts';
import type { JwtProvider } from '../jwt/model.ts';
import { forConnections, type AuthorizationSpec } from '../../kinds/authz-spec.ts';
import type { RequestAuthenticationSpec } from '../../kinds/jwt-spec.ts';
import { loadBalancingFields, type LoadBalancing, type LoadBalancingSpec } from '../../kinds/load-balancing.ts';
import { overlay, PolicyAttachments } from '../../kinds/policy-attachment.ts';
import { healthCheckOf, limitsOf, outlierOf } from '../../kinds/circuit-breaker-policy.ts';
import { DEFAULT_RETRY, type CircuitBreakerSpec, type FaultSpec, type RetrySpec } from '../../kinds/resilience-specs.ts';
import { retryBudget, retryFields } from '../../kinds/retry-policy.ts';
import { resolveAuthorization } from './authz-spec.ts';
import { resolveRequestAuthentication } from './jwt-spec.ts';
import type { ConnectionLimits, FaultInjection, HealthCheck, OutlierDetection, RetryBudget, RetryPolicy } from './model.ts';
import type { TargetRef } from './policies.ts';
import type { RawConfig, RawPolicy } from './schema.ts';
import { parseDuration } from './schema.ts';

export type BackendPolicies = {
  readonly retry: RetryPolicy;
  readonly retryBudget: RetryBudget;
  readonly limits: ConnectionLimits;
  readonly outlierDetection: OutlierDetection | null;
  readonly healthCheck: HealthCheck | null;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** What a LoadBalancingPolicy sets, laid over the backend's own fields. */
  readonly loadBalancing: LoadBalancing;
};

export type RulePolicies = { readonly retry?: Partial<RetryPolicy>; readonly fault?: FaultInjection };

export type ListenerPolicies = { readonly authorization: readonly AuthorizationPolicy[]; readonly jwt: readonly JwtProvider[] };

/** Looks up what the (validated) policies say about each backend, route rule and listener. */
export function resolvePolicies(raw: RawConfig): {
  backend(name: string): BackendPolicies;
  rule(route: string, rule: string | undefined): RulePolicies;
  listener(name: string): ListenerPolicies;
  /** A tcp listener's policies, as they apply to connections (kinds/authz-spec.ts forConnections). */
  tcpListener(name: string): readonly AuthorizationPolicy[];
} {
  const authorization = new Map<string, AuthorizationPolicy[]>();
  const connections = new Map<string, AuthorizationPolicy[]>();
  for (const p of raw.policies ?? []) {
    if (p.kind !== 'AuthorizationPolicy') continue;
    for (const t of (p.spec as { targetRefs: TargetRef[] }).targetRefs) {
      authorization.set(t.name, [...(authorization.get(t.name) ?? []), resolveAuthorization(p.metadata.name, p.spec as AuthorizationSpec)]);
      connections.set(t.name, [...(connections.get(t.name) ?? []), resolveAuthorization(p.metadata.name, forConnections(p.spec as AuthorizationSpec))]);
    }
  }
  // The file has no namespaces, and the validator allows one policy of a kind per target.
  const attached = <T>(kind: string) =>
    new PolicyAttachments<T>((raw.policies ?? []).filter((p) => p.kind === kind).map((p: RawPolicy) => ({ targetRefs: (p.spec as { targetRefs: TargetRef[] }).targetRefs, spec: p.spec as T })));
  const retries = attached<RetrySpec>('RetryPolicy');
  const breakers = attached<CircuitBreakerSpec>('CircuitBreakerPolicy');
  const faults = attached<FaultSpec>('FaultInjectionPolicy');
  const balancing = attached<LoadBalancingSpec>('LoadBalancingPolicy');
  const jwts = attached<RequestAuthenticationSpec>('RequestAuthentication');
  return {
    backend(name) {
      const retry = retries.on(undefined, 'Backend', name);
      const cb = breakers.on(undefined, 'Backend', name);
      const connect = retry?.timeouts?.connect;
      const idle = retry?.timeouts?.idle;
      return {
        retry: { ...DEFAULT_RETRY, ...retryFields(retry) },
        retryBudget: retryBudget(retry),
        limits: limitsOf(cb),
        outlierDetection: outlierOf(cb),
        healthCheck: healthCheckOf(cb),
        ...(connect === undefined ? {} : { connectTimeoutMs: parseDuration(connect) }),
        ...(idle === undefined ? {} : { idleTimeoutMs: parseDuration(idle) }),
        loadBalancing: loadBalancingFields(balancing.on(undefined, 'Backend', name)),
      };
    },
    rule(route, rule) {
      // The backend's policy is known per request only (a rule may split): the router lays this over it.
      const at = { route: { kind: 'HTTPRoute', name: route, rule } };
      const layers = retries.layers(at);
      // A fault policy is not merged: the rule's replaces the route's.
      const fault = faults.layers(at).at(-1);
      const retry = layers.length === 0 ? undefined : overlay(layers.map(retryFields));
      return { ...(retry === undefined ? {} : { retry }), ...(fault === undefined ? {} : { fault: faultInjection(fault) }) };
    },
    tcpListener: (name) => connections.get(name) ?? [],
    listener(name) {
      const jwt = jwts.on(undefined, 'Listener', name);
      return { authorization: authorization.get(name) ?? [], jwt: jwt === undefined ? [] : resolveRequestAuthentication(jwt) };
    },
  };
}

function faultInjection(s: FaultSpec): FaultInjection {
  return {
    ...(s.delay === undefined ? {} : { delay: { fixedDelayMs: parseDuration(s.delay.fixedDelay), percent: s.delay.percent ?? 100 } }),
    ...(s.abort === undefined
      ? {}
      : { abort: { httpStatus: s.abort.httpStatus ?? 503, ...(s.abort.grpcStatus === undefined ? {} : { grpcStatus: s.abort.grpcStatus }), percent: s.abort.percent ?? 100 } }),
  };
}

