// Validated policies (policies.ts checked them) -> the model fields they set: each backend's
// retry, budget, limits and health; each route rule's retry and fault; each listener's
// authorization policies and JWT providers.

import type { AuthorizationPolicy } from '../authz/model.ts';
import type { JwtProvider } from '../jwt/model.ts';
import type { AuthorizationSpec } from '../../kinds/authz-spec.ts';
import type { RequestAuthenticationSpec } from '../../kinds/jwt-spec.ts';
import { DEFAULT_BUDGET, DEFAULT_LIMITS, DEFAULT_OUTLIER, DEFAULT_RETRY, type CircuitBreakerSpec, type FaultSpec, type RetrySpec } from '../../kinds/resilience-specs.ts';
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
};

export type RulePolicies = { readonly retry?: Partial<RetryPolicy>; readonly fault?: FaultInjection };

export type ListenerPolicies = { readonly authorization: readonly AuthorizationPolicy[]; readonly jwt: readonly JwtProvider[] };

/** Looks up what the (validated) policies say about each backend, route rule and listener. */
export function resolvePolicies(raw: RawConfig): {
  backend(name: string): BackendPolicies;
  rule(route: string, rule: string | undefined): RulePolicies;
  listener(name: string): ListenerPolicies;
} {
  const byTarget = new Map<string, RawPolicy>();
  const authorization = new Map<string, AuthorizationPolicy[]>();
  for (const p of raw.policies ?? []) {
    for (const t of (p.spec as { targetRefs: TargetRef[] }).targetRefs) {
      byTarget.set(`${p.kind}|${t.kind}|${t.name}|${t.sectionName ?? ''}`, p);
      if (p.kind === 'AuthorizationPolicy') {
        const list = authorization.get(t.name) ?? [];
        list.push(resolveAuthorization(p.metadata.name, p.spec as AuthorizationSpec));
        authorization.set(t.name, list);
      }
    }
  }
  const spec = <T>(kind: string, target: string) => byTarget.get(`${kind}|${target}`)?.spec as T | undefined;
  return {
    backend(name) {
      const retry = spec<RetrySpec>('RetryPolicy', `Backend|${name}|`);
      const cb = spec<CircuitBreakerSpec>('CircuitBreakerPolicy', `Backend|${name}|`);
      const connect = retry?.timeouts?.connect;
      const idle = retry?.timeouts?.idle;
      return {
        retry: { ...DEFAULT_RETRY, ...retryFields(retry) },
        retryBudget: budget(retry),
        limits: { ...DEFAULT_LIMITS, ...cb?.limits },
        outlierDetection: outlier(cb),
        healthCheck: healthCheck(cb),
        ...(connect === undefined ? {} : { connectTimeoutMs: parseDuration(connect) }),
        ...(idle === undefined ? {} : { idleTimeoutMs: parseDuration(idle) }),
      };
    },
    rule(route, rule) {
      const whole = spec<RetrySpec>('RetryPolicy', `HTTPRoute|${route}|`);
      const section = rule === undefined ? undefined : spec<RetrySpec>('RetryPolicy', `HTTPRoute|${route}|${rule}`);
      const fault = (rule === undefined ? undefined : spec<FaultSpec>('FaultInjectionPolicy', `HTTPRoute|${route}|${rule}`)) ?? spec<FaultSpec>('FaultInjectionPolicy', `HTTPRoute|${route}|`);
      const retry = whole === undefined && section === undefined ? undefined : { ...retryFields(whole), ...retryFields(section) };
      return { ...(retry === undefined ? {} : { retry }), ...(fault === undefined ? {} : { fault: faultInjection(fault) }) };
    },
    listener(name) {
      const jwt = spec<RequestAuthenticationSpec>('RequestAuthentication', `Listener|${name}|`);
      return { authorization: authorization.get(name) ?? [], jwt: jwt === undefined ? [] : resolveRequestAuthentication(jwt) };
    },
  };
}

/** Only the fields the spec sets, so a route's policy overrides no more than it says. */
function retryFields(s: RetrySpec | undefined): Partial<RetryPolicy> {
  if (s === undefined) return {};
  const out: { -readonly [K in keyof RetryPolicy]?: RetryPolicy[K] } = {};
  if (s.attempts !== undefined) out.attempts = s.attempts;
  if (s.retryOn !== undefined) out.retryOn = s.retryOn;
  if (s.retriableStatusCodes !== undefined) out.retriableStatusCodes = s.retriableStatusCodes;
  if (s.backoff?.baseInterval !== undefined) out.backoffBaseMs = parseDuration(s.backoff.baseInterval);
  if (s.backoff?.maxInterval !== undefined) out.backoffMaxMs = parseDuration(s.backoff.maxInterval);
  else if (out.backoffBaseMs !== undefined) out.backoffMaxMs = Math.max(DEFAULT_RETRY.backoffMaxMs, out.backoffBaseMs * 10);
  if (s.retryNonIdempotent !== undefined) out.retryNonIdempotent = s.retryNonIdempotent;
  if (s.bufferLimitBytes !== undefined) out.bufferLimitBytes = s.bufferLimitBytes;
  // Gateway API: a zero duration means no timeout.
  if (s.timeouts?.perTry !== undefined && parseDuration(s.timeouts.perTry) > 0) out.perTryTimeoutMs = parseDuration(s.timeouts.perTry);
  if (s.timeouts?.request !== undefined && parseDuration(s.timeouts.request) > 0) out.requestTimeoutMs = parseDuration(s.timeouts.request);
  return out;
}

function budget(s: RetrySpec | undefined): RetryBudget {
  const b = s?.budget;
  return {
    percent: b?.percent ?? DEFAULT_BUDGET.percent,
    minRetriesPerSecond: b?.minRetriesPerSecond ?? DEFAULT_BUDGET.minRetriesPerSecond,
    ttlMs: b?.ttl === undefined ? DEFAULT_BUDGET.ttlMs : parseDuration(b.ttl),
  };
}

function outlier(s: CircuitBreakerSpec | undefined): OutlierDetection | null {
  const o = s?.outlierDetection;
  if (o?.disabled === true) return null;
  const ms = (d: string | undefined, dflt: number) => (d === undefined ? dflt : parseDuration(d));
  const sr = o?.successRate;
  return {
    intervalMs: ms(o?.interval, DEFAULT_OUTLIER.intervalMs),
    consecutive5xx: o?.consecutive5xx ?? DEFAULT_OUTLIER.consecutive5xx,
    consecutiveGatewayErrors: o?.consecutiveGatewayErrors ?? DEFAULT_OUTLIER.consecutiveGatewayErrors,
    baseEjectionMs: ms(o?.baseEjectionTime, DEFAULT_OUTLIER.baseEjectionMs),
    maxEjectionMs: ms(o?.maxEjectionTime, Math.max(DEFAULT_OUTLIER.maxEjectionMs, ms(o?.baseEjectionTime, 0))),
    maxEjectionPercent: o?.maxEjectionPercent ?? DEFAULT_OUTLIER.maxEjectionPercent,
    successRate: sr === undefined ? null : { minimumHosts: sr.minimumHosts ?? 5, requestVolume: sr.requestVolume ?? 100, stdevFactor: sr.stdevFactor ?? 1900 },
  };
}

function healthCheck(s: CircuitBreakerSpec | undefined): HealthCheck | null {
  const h = s?.healthCheck;
  if (h === undefined) return null;
  return {
    path: h.path,
    ...(h.host === undefined ? {} : { host: h.host }),
    intervalMs: h.interval === undefined ? 5000 : parseDuration(h.interval),
    timeoutMs: h.timeout === undefined ? 1000 : parseDuration(h.timeout),
    unhealthyThreshold: h.unhealthyThreshold ?? 3,
    healthyThreshold: h.healthyThreshold ?? 2,
    expectedStatuses: (h.expectedStatuses ?? [{ from: 200, to: 399 }]).map((r) => [r.from, r.to] as const),
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

