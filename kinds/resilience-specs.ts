// The resilience kinds of mesh.sluice.dev/v1alpha1: RetryPolicy, CircuitBreakerPolicy and
// FaultInjectionPolicy. This file holds what the proxy's static config and the control
// plane's API share: each spec's fields without targetRefs (each side composes them with
// the targets it knows: `Type.Object({ targetRefs, ...retrySpecFields }, closed)`), the
// checks a schema cannot express, and what an omitted field means.

import Type, { type Static } from 'typebox';
import { checkDurations, closed, Count, Duration, MAX_TIMER_MS, Opt, parseDuration, Text } from './schema-kit.ts';

type Add = (path: string, message: string) => void;

// The retryOn words live with the defaults (no imports): the proxy's xDS translator reads them too.
import { RETRY_ON } from './resilience-defaults.ts';
export { RETRY_ON, type RetryOn } from './resilience-defaults.ts';

const Whole = (min = 0) => Type.Integer({ minimum: min, maximum: MAX_TIMER_MS });
const Percent = Type.Number({ minimum: 0, maximum: 100 });

// --- schemas ---

export const retrySpecFields = {
  attempts: Opt(Type.Integer({ minimum: 0, maximum: 10 })),
  retryOn: Opt(Type.Array(Type.Enum(RETRY_ON))),
  retriableStatusCodes: Opt(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }))),
  backoff: Opt(Type.Object({ baseInterval: Opt(Duration), maxInterval: Opt(Duration) }, closed)),
  retryNonIdempotent: Opt(Type.Boolean()),
  bufferLimitBytes: Opt(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024 })),
  timeouts: Opt(Type.Object({ request: Opt(Duration), perTry: Opt(Duration), connect: Opt(Duration), idle: Opt(Duration) }, closed)),
  budget: Opt(Type.Object({ percent: Opt(Type.Integer({ minimum: 0, maximum: 1000 })), minRetriesPerSecond: Opt(Whole()), ttl: Opt(Duration) }, closed)),
};

export const circuitBreakerSpecFields = {
  limits: Opt(Type.Object({ maxConnections: Opt(Count), maxPendingRequests: Opt(Whole()), maxActiveRequests: Opt(Count), maxActiveRetries: Opt(Whole()) }, closed)),
  outlierDetection: Opt(
    Type.Object(
      {
        disabled: Opt(Type.Boolean()),
        interval: Opt(Duration),
        consecutive5xx: Opt(Whole()),
        consecutiveGatewayErrors: Opt(Whole()),
        baseEjectionTime: Opt(Duration),
        maxEjectionTime: Opt(Duration),
        maxEjectionPercent: Opt(Type.Integer({ minimum: 0, maximum: 100 })),
        successRate: Opt(Type.Object({ minimumHosts: Opt(Count), requestVolume: Opt(Count), stdevFactor: Opt(Count) }, closed)),
      },
      closed,
    ),
  ),
  healthCheck: Opt(
    Type.Object(
      {
        path: Text,
        host: Opt(Text),
        interval: Opt(Duration),
        timeout: Opt(Duration),
        unhealthyThreshold: Opt(Count),
        healthyThreshold: Opt(Count),
        expectedStatuses: Opt(Type.Array(Type.Object({ from: Type.Integer({ minimum: 100, maximum: 599 }), to: Type.Integer({ minimum: 100, maximum: 599 }) }, closed), { minItems: 1 })),
      },
      closed,
    ),
  ),
};

export const faultSpecFields = {
  delay: Opt(Type.Object({ fixedDelay: Duration, percent: Opt(Percent) }, closed)),
  abort: Opt(Type.Object({ httpStatus: Opt(Type.Integer({ minimum: 200, maximum: 599 })), grpcStatus: Opt(Type.Integer({ minimum: 1, maximum: 16 })), percent: Opt(Percent) }, closed)),
};

const RetrySpec = Type.Object(retrySpecFields, closed);
const CircuitBreakerSpec = Type.Object(circuitBreakerSpecFields, closed);
const FaultSpec = Type.Object(faultSpecFields, closed);
/** The spec's fields, without targetRefs. */
export type RetrySpec = Static<typeof RetrySpec>;
export type CircuitBreakerSpec = Static<typeof CircuitBreakerSpec>;
export type FaultSpec = Static<typeof FaultSpec>;

// What an omitted field means: in their own file, so the proxy's xDS side reads them without typebox.
import { DEFAULT_OUTLIER, DEFAULT_RETRY } from './resilience-defaults.ts';
export { DEFAULT_BUDGET, DEFAULT_LIMITS, DEFAULT_OUTLIER, DEFAULT_RETRY } from './resilience-defaults.ts';

// --- checks (the spec has passed the schema; paths start at `path`, the spec's own) ---

/**
 * `routeTarget`: the index in targetRefs of the first target that is a route (or one of its
 * rules), if any. Connection timeouts and the retry budget are kept per backend, so a
 * policy that also targets a route cannot carry them.
 */
export function checkRetry(spec: RetrySpec, path: string, add: Add, routeTarget: number | undefined): void {
  if (routeTarget !== undefined) {
    const where = `targetRefs[${routeTarget}]`;
    for (const key of ['connect', 'idle'] as const) {
      if (spec.timeouts?.[key] !== undefined) add(`${path}.timeouts.${key}`, `is a property of a backend's connections, and ${where} is a route; put it in a RetryPolicy that targets the backend`);
    }
    if (spec.budget !== undefined) add(`${path}.budget`, `is kept per backend, and ${where} is a route; put it in a RetryPolicy that targets the backend`);
  }
  checkDurations(add, `${path}.timeouts`, { ...spec.timeouts });
  // 0s is no timeout elsewhere, but a connection cannot wait forever to open, nor be kept with no idle limit (Envoy and undici refuse both).
  for (const key of ['connect', 'idle'] as const) if (spec.timeouts?.[key] !== undefined && parseDuration(spec.timeouts[key]) === 0) add(`${path}.timeouts.${key}`, 'must be above 0');
  checkDurations(add, `${path}.backoff`, { ...spec.backoff });
  checkDurations(add, `${path}.budget`, { ttl: spec.budget?.ttl });
  const { request, perTry } = spec.timeouts ?? {};
  if (request !== undefined && perTry !== undefined && parseDuration(request) !== 0 && parseDuration(perTry) > parseDuration(request)) {
    add(`${path}.timeouts.perTry`, `must not be longer than timeouts.request (${request}); got ${perTry}`);
  }
  const base = spec.backoff?.baseInterval;
  const max = spec.backoff?.maxInterval;
  if (base !== undefined && parseDuration(base) === 0) add(`${path}.backoff.baseInterval`, 'must be above 0 (full jitter draws from 0 up to it)');
  const baseMs = base === undefined ? DEFAULT_RETRY.backoffBaseMs : parseDuration(base);
  const maxMs = max === undefined ? Math.max(DEFAULT_RETRY.backoffMaxMs, baseMs) : parseDuration(max);
  if (maxMs < baseMs) add(`${path}.backoff.maxInterval`, `must not be shorter than baseInterval (${base ?? `${DEFAULT_RETRY.backoffBaseMs}ms`}); got ${max}`);
  if (spec.retriableStatusCodes !== undefined && spec.retryOn !== undefined && !spec.retryOn.includes('retriable-status-codes')) {
    add(`${path}.retriableStatusCodes`, "has no effect unless retryOn lists 'retriable-status-codes'");
  }
  if (spec.budget?.ttl !== undefined && parseDuration(spec.budget.ttl) < 1000) add(`${path}.budget.ttl`, `must be at least 1s; got ${spec.budget.ttl}`);
}

export function checkCircuitBreaker(spec: CircuitBreakerSpec, path: string, add: Add): void {
  const o = spec.outlierDetection;
  if (o !== undefined) {
    checkDurations(add, `${path}.outlierDetection`, { interval: o.interval, baseEjectionTime: o.baseEjectionTime, maxEjectionTime: o.maxEjectionTime });
    for (const key of ['interval', 'baseEjectionTime'] as const) {
      if (o[key] !== undefined && parseDuration(o[key]) === 0) add(`${path}.outlierDetection.${key}`, 'must be above 0');
    }
    const base = o.baseEjectionTime === undefined ? DEFAULT_OUTLIER.baseEjectionMs : parseDuration(o.baseEjectionTime);
    if (o.maxEjectionTime !== undefined && parseDuration(o.maxEjectionTime) < base) {
      add(`${path}.outlierDetection.maxEjectionTime`, `must not be shorter than baseEjectionTime (${o.baseEjectionTime ?? '30s'}); got ${o.maxEjectionTime}`);
    }
  }
  const h = spec.healthCheck;
  if (h !== undefined) {
    if (!h.path.startsWith('/')) add(`${path}.healthCheck.path`, `must start with '/'; got '${h.path}'`);
    checkDurations(add, `${path}.healthCheck`, { interval: h.interval, timeout: h.timeout });
    for (const key of ['interval', 'timeout'] as const) if (h[key] !== undefined && parseDuration(h[key]) === 0) add(`${path}.healthCheck.${key}`, 'must be above 0');
    h.expectedStatuses?.forEach((r, k) => r.from > r.to && add(`${path}.healthCheck.expectedStatuses[${k}]`, `'from' (${r.from}) must not be above 'to' (${r.to})`));
  }
}

export function checkFault(spec: FaultSpec, path: string, add: Add): void {
  if (spec.delay === undefined && spec.abort === undefined) add(path, "needs 'delay', 'abort' or both");
  checkDurations(add, `${path}.delay`, { fixedDelay: spec.delay?.fixedDelay });
  if (spec.abort !== undefined && spec.abort.httpStatus === undefined && spec.abort.grpcStatus === undefined) add(`${path}.abort`, "needs 'httpStatus' or 'grpcStatus'");
}
