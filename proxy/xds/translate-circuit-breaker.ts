// Envoy's circuit_breakers limits, outlier_detection and health_checks -> the proxy's
// ConnectionLimits, OutlierDetection and HealthCheck (xds/SUBSET.md, "CircuitBreakerPolicy").
// What a cluster does not say keeps the static file's no-policy default; a message that is
// there is read as Envoy reads it (its unset fields have Envoy's defaults), and what a
// Sluice proxy cannot do the way Envoy would is a problem with its path.

import { DEFAULT_LIMITS, DEFAULT_OUTLIER } from '../../kinds/resilience-defaults.ts';
import type { ConnectionLimits, HealthCheck, OutlierDetection } from '../config/model.ts';
import { DURATION, durationMs, enumOf, message, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';

/** Cluster.circuit_breakers: one threshold, of the default priority, with its limits and retry budget. */
export const CIRCUIT_BREAKERS = message({
  thresholds: message({
    priority: enumOf('DEFAULT'),
    max_connections: WRAPPED,
    max_pending_requests: WRAPPED,
    max_requests: WRAPPED,
    max_retries: WRAPPED,
    retry_budget: message({ budget_percent: message({ value: scalar }), min_retry_concurrency: WRAPPED }),
  }),
});

export const OUTLIER_DETECTION = message({
  interval: DURATION,
  base_ejection_time: DURATION,
  max_ejection_time: DURATION,
  max_ejection_percent: WRAPPED,
  consecutive_5xx: WRAPPED,
  enforcing_consecutive_5xx: WRAPPED,
  consecutive_gateway_failure: WRAPPED,
  enforcing_consecutive_gateway_failure: WRAPPED,
  enforcing_success_rate: WRAPPED,
  success_rate_minimum_hosts: WRAPPED,
  success_rate_request_volume: WRAPPED,
  success_rate_stdev_factor: WRAPPED,
  always_eject_one_host: WRAPPED,
  successful_active_health_check_uneject_host: WRAPPED,
  split_external_local_origin_errors: scalar,
  consecutive_local_origin_failure: WRAPPED,
  enforcing_consecutive_local_origin_failure: WRAPPED,
});

export const HEALTH_CHECK = message({
  timeout: DURATION,
  interval: DURATION,
  no_traffic_interval: DURATION,
  unhealthy_threshold: WRAPPED,
  healthy_threshold: WRAPPED,
  http_health_check: message({ host: scalar, path: scalar, expected_statuses: message({ start: scalar, end: scalar }) }),
});

/** Envoy's defaults for what an outlier_detection leaves unset (config/cluster/v3/outlier_detection.proto). */
const ENVOY_OUTLIER = { intervalMs: 10_000, consecutive: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 10, enforcing5xx: 100, enforcingGateway: 0, enforcingSuccessRate: 100 };
const ENVOY_SUCCESS_RATE = { minimumHosts: 5, requestVolume: 100, stdevFactor: 1900 };

const wrapped = (v: Pb | undefined, dflt: number): number => (v === undefined ? dflt : Number(v.value ?? 0));

/** The DEFAULT threshold's limits; a limit it leaves unset keeps the no-policy default (three of four are Envoy's 1024). */
export function translateLimits(cb: Pb | undefined, sink: Sink): ConnectionLimits {
  // More than one threshold is reported by translateRetryBudget, which reads the same list.
  const t: Pb | undefined = (cb?.thresholds ?? [])[0];
  const limits = {
    maxConnections: wrapped(t?.max_connections, DEFAULT_LIMITS.maxConnections),
    maxPendingRequests: wrapped(t?.max_pending_requests, DEFAULT_LIMITS.maxPendingRequests),
    maxActiveRequests: wrapped(t?.max_requests, DEFAULT_LIMITS.maxActiveRequests),
    maxActiveRetries: wrapped(t?.max_retries, DEFAULT_LIMITS.maxActiveRetries),
  };
  // A Sluice proxy never opens less than one connection, nor admits less than one request.
  for (const [field, value] of [['max_connections', limits.maxConnections], ['max_requests', limits.maxActiveRequests]] as const) {
    if (value < 1) sink.add(`thresholds[0].${field}.value`, `must be at least 1; got ${value}`);
  }
  return limits;
}

/**
 * Unset: the static file's no-policy default (on). Every detector unenforced: off (null).
 * An enforcing_* other than 0 or 100 is a problem: a Sluice proxy ejects every time or never.
 */
export function translateOutlier(od: Pb | undefined, checked: boolean, sink: Sink): OutlierDetection | null {
  if (od === undefined) return { ...DEFAULT_OUTLIER };
  const enforced = (field: string, dflt: number): boolean => {
    const v = wrapped(od[field], dflt);
    if (v !== 0 && v !== 100) sink.add(`${field}.value`, `must be 0 or 100: a Sluice proxy enforces a detector always or never; got ${v}`);
    return v !== 0;
  };
  const on5xx = enforced('enforcing_consecutive_5xx', ENVOY_OUTLIER.enforcing5xx);
  const onGateway = enforced('enforcing_consecutive_gateway_failure', ENVOY_OUTLIER.enforcingGateway);
  const onSuccessRate = enforced('enforcing_success_rate', ENVOY_OUTLIER.enforcingSuccessRate);
  if (checked && od.successful_active_health_check_uneject_host?.value !== false) {
    sink.add('successful_active_health_check_uneject_host', 'must be false with health_checks: a passing health check does not end an ejection on a Sluice proxy (Envoy\'s default is that it does)');
  }
  // Split: failures before a response have their own counter (and Envoy enforces it unless told not to).
  const split = od.split_external_local_origin_errors === true;
  const onLocalOrigin = enforced('enforcing_consecutive_local_origin_failure', 100) && split;
  if (!split) {
    for (const f of ['consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure']) if (od[f] !== undefined) sink.add(f, 'is read only with split_external_local_origin_errors: true');
  }
  const localOrigin = onLocalOrigin ? wrapped(od.consecutive_local_origin_failure, ENVOY_OUTLIER.consecutive) : 0;
  if (onLocalOrigin && localOrigin < 1) sink.add('consecutive_local_origin_failure.value', 'must be at least 1');
  if (!on5xx && !onGateway && !onSuccessRate && !onLocalOrigin) return null;
  if (od.always_eject_one_host?.value !== true) sink.add('always_eject_one_host', 'must be true: a Sluice proxy lets one of two or more endpoints be ejected whatever max_ejection_percent says');
  const ms = (field: string, dflt: number): number => {
    if (od[field] === undefined) return dflt;
    const v = durationMs(od[field], sink, field);
    if (v === 0) sink.add(field, 'must be above 0');
    return v === undefined || v === 0 ? dflt : v;
  };
  const intervalMs = ms('interval', ENVOY_OUTLIER.intervalMs);
  const baseEjectionMs = ms('base_ejection_time', ENVOY_OUTLIER.baseEjectionMs);
  // Envoy: unset is 300 s or the base time, whichever is longer.
  const maxEjectionMs = ms('max_ejection_time', Math.max(ENVOY_OUTLIER.maxEjectionMs, baseEjectionMs));
  if (maxEjectionMs < baseEjectionMs) sink.add('max_ejection_time', `must not be shorter than base_ejection_time (${baseEjectionMs} ms); got ${maxEjectionMs} ms`);
  const maxEjectionPercent = wrapped(od.max_ejection_percent, ENVOY_OUTLIER.maxEjectionPercent);
  if (maxEjectionPercent > 100) sink.add('max_ejection_percent.value', `must be 0-100; got ${maxEjectionPercent}`);
  return {
    intervalMs,
    consecutive5xx: on5xx ? wrapped(od.consecutive_5xx, ENVOY_OUTLIER.consecutive) : 0,
    consecutiveGatewayErrors: onGateway ? wrapped(od.consecutive_gateway_failure, ENVOY_OUTLIER.consecutive) : 0,
    baseEjectionMs,
    maxEjectionMs,
    maxEjectionPercent,
    successRate: onSuccessRate
      ? {
          minimumHosts: wrapped(od.success_rate_minimum_hosts, ENVOY_SUCCESS_RATE.minimumHosts),
          requestVolume: wrapped(od.success_rate_request_volume, ENVOY_SUCCESS_RATE.requestVolume),
          stdevFactor: wrapped(od.success_rate_stdev_factor, ENVOY_SUCCESS_RATE.stdevFactor),
        }
      : null,
    ...(onLocalOrigin ? { consecutiveLocalOriginFailures: Math.max(1, localOrigin) } : {}),
  };
}

/** health_checks: none, or one HTTP check (the one kind a Sluice proxy runs). */
export function translateHealthChecks(list: Pb[] | undefined, sink: Sink): HealthCheck | null {
  if (list === undefined || list.length === 0) return null;
  if (list.length > 1) sink.add('', 'a Sluice proxy runs one health check per cluster; give one');
  const h = list[0]!;
  const at = sink.at('[0]');
  const required = (field: string): number | undefined => {
    if (h[field] === undefined) {
      at.add(field, 'required');
      return undefined;
    }
    const ms = durationMs(h[field], at, field);
    if (ms === 0) at.add(field, 'must be above 0');
    return ms;
  };
  const timeoutMs = required('timeout') ?? 1;
  const interval = required('interval');
  const intervalMs = interval ?? 1;
  if (h.no_traffic_interval !== undefined && interval !== undefined) {
    const ms = durationMs(h.no_traffic_interval, at, 'no_traffic_interval');
    if (ms !== undefined && ms !== intervalMs) at.add('no_traffic_interval', `must equal interval (${intervalMs} ms): a Sluice proxy checks at one pace, with or without traffic; got ${ms} ms`);
  }
  const threshold = (field: string): number => {
    if (h[field] === undefined) at.add(field, 'required');
    const v = wrapped(h[field], 1);
    if (v < 1) at.add(`${field}.value`, `must be at least 1; got ${v}`);
    return Math.max(1, v);
  };
  const unhealthyThreshold = threshold('unhealthy_threshold');
  const healthyThreshold = threshold('healthy_threshold');
  const http: Pb | undefined = h.http_health_check;
  if (http === undefined) {
    at.add('http_health_check', 'required: a Sluice proxy runs HTTP health checks only');
    return null;
  }
  const path = String(http.path ?? '');
  if (!path.startsWith('/')) at.add('http_health_check.path', `must start with '/'; got '${path}'`);
  // Envoy: unset is 200 only; each range is half-open, [start, end).
  const ranges: Pb[] = http.expected_statuses ?? [{ start: 200, end: 201 }];
  const expectedStatuses = ranges.map((r, i): readonly [number, number] => {
    const start = Number(r.start ?? 0);
    const end = Number(r.end ?? 0);
    if (!(start >= 100 && end <= 600 && start < end)) at.add(`http_health_check.expected_statuses[${i}]`, `must be a range of HTTP statuses, start inclusive and end exclusive, within [100, 600); got [${start}, ${end})`);
    return [start, end - 1];
  });
  const host = typeof http.host === 'string' && http.host !== '' ? http.host : undefined;
  return { path, ...(host === undefined ? {} : { host }), intervalMs, timeoutMs, unhealthyThreshold, healthyThreshold, expectedStatuses };
}
