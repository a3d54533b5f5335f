// A CircuitBreakerPolicy spec, resolved: a backend's limits, outlier detection and active
// health check in the units the data path reads (ms, [from, to] ranges). Shared by the
// proxy's static file (which puts them in its config model) and the control plane (which
// writes them as Envoy's circuit_breakers, outlier_detection and health_checks), so a
// policy means the same wherever it is applied.

import { DEFAULT_LIMITS, DEFAULT_OUTLIER } from './resilience-defaults.ts';
import type { CircuitBreakerSpec } from './resilience-specs.ts';
import { parseDuration } from './schema-kit.ts';

/** Envoy's circuit-breaker thresholds. Over any of them the proxy answers 503 UO at once. */
export type ConnectionLimits = {
  /** Connections to each endpoint (Istio's reading); a request beyond waits as pending. Default 1024. */
  readonly maxConnections: number;
  /** Requests waiting for a connection, over the whole backend. Default 1024. */
  readonly maxPendingRequests: number;
  /** Requests in flight to the backend. Default 1024. */
  readonly maxActiveRequests: number;
  /** Retries in flight to the backend; over it a retry is skipped (not answered UO). Default 64. */
  readonly maxActiveRetries: number;
};

export type OutlierDetection = {
  /** How often success rates are computed and ejections expire. Default 10000. */
  readonly intervalMs: number;
  /** Consecutive 5xx (local failures included) that eject an endpoint; 0 = off. Default 5. */
  readonly consecutive5xx: number;
  /** Consecutive 502/503/504 or connect failures, resets and timeouts; 0 = off. Default 5. */
  readonly consecutiveGatewayErrors: number;
  /** The first ejection lasts this long; the n-th lasts n times as long. Default 30000. */
  readonly baseEjectionMs: number;
  /** Ejections never last longer than this. Default 300000. */
  readonly maxEjectionMs: number;
  /** At most this share of endpoints is ejected at once (at least one may be). Default 50. */
  readonly maxEjectionPercent: number;
  /** Success-rate ejection; null means off (the default). */
  readonly successRate: SuccessRateEjection | null;
  /**
   * Above 0: failures before a response (connection refused or timed out, reset) are counted
   * apart from 5xx answers (Envoy's split_external_local_origin_errors), and this many in a
   * row eject the endpoint (consecutive_local_origin_failure). Absent or 0: they count as
   * gateway errors and 5xx, as before. Not a spec field: the control plane sets it for
   * clusters with endpoints in other zones (README, "Failover across zones").
   */
  readonly consecutiveLocalOriginFailures?: number;
};

export type SuccessRateEjection = {
  /** Fewer endpoints with enough requests than this: no success-rate ejection. Default 5. */
  readonly minimumHosts: number;
  /** Requests in one interval an endpoint needs to be judged. Default 100. */
  readonly requestVolume: number;
  /** Ejected below mean - stdev * stdevFactor / 1000. Default 1900 (1.9 standard deviations). */
  readonly stdevFactor: number;
};

export type HealthCheck = {
  /** GET this path on every endpoint. */
  readonly path: string;
  /** Host header sent with the check; default the endpoint's address:port. */
  readonly host?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Failed checks in a row that mark an endpoint unhealthy. Default 3. */
  readonly unhealthyThreshold: number;
  /** Passed checks in a row that make it healthy again. Default 2. */
  readonly healthyThreshold: number;
  /** Statuses that pass, as [from, to] inclusive ranges. Default [[200, 399]]. */
  readonly expectedStatuses: readonly (readonly [number, number])[];
};

/** What a success-rate block leaves unset (Envoy's defaults). */
export const DEFAULT_SUCCESS_RATE = Object.freeze({ minimumHosts: 5, requestVolume: 100, stdevFactor: 1900 });
/** What a health check leaves unset. */
export const DEFAULT_HEALTH_CHECK = Object.freeze({ intervalMs: 5000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 2, expectedStatuses: Object.freeze([[200, 399] as const]) });

export function limitsOf(s: CircuitBreakerSpec | undefined): ConnectionLimits {
  return { ...DEFAULT_LIMITS, ...s?.limits };
}

/** null when the policy turns outlier detection off. */
export function outlierOf(s: CircuitBreakerSpec | undefined): OutlierDetection | null {
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
    successRate: sr === undefined ? null : { minimumHosts: sr.minimumHosts ?? DEFAULT_SUCCESS_RATE.minimumHosts, requestVolume: sr.requestVolume ?? DEFAULT_SUCCESS_RATE.requestVolume, stdevFactor: sr.stdevFactor ?? DEFAULT_SUCCESS_RATE.stdevFactor },
  };
}

/** null when the policy has no health check (the default: none). */
export function healthCheckOf(s: CircuitBreakerSpec | undefined): HealthCheck | null {
  const h = s?.healthCheck;
  if (h === undefined) return null;
  const d = DEFAULT_HEALTH_CHECK;
  return {
    path: h.path,
    ...(h.host === undefined ? {} : { host: h.host }),
    intervalMs: h.interval === undefined ? d.intervalMs : parseDuration(h.interval),
    timeoutMs: h.timeout === undefined ? d.timeoutMs : parseDuration(h.timeout),
    unhealthyThreshold: h.unhealthyThreshold ?? d.unhealthyThreshold,
    healthyThreshold: h.healthyThreshold ?? d.healthyThreshold,
    expectedStatuses: h.expectedStatuses === undefined ? d.expectedStatuses : h.expectedStatuses.map((r) => [r.from, r.to] as const),
  };
}
