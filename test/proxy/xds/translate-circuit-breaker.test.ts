// Envoy's circuit_breakers limits, outlier_detection and health_checks -> the proxy's
// ConnectionLimits, OutlierDetection and HealthCheck, read as Envoy reads them; and every
// one a Sluice proxy cannot honour, NACKed with its path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS, DEFAULT_OUTLIER } from '../../../kinds/resilience-defaults.ts';
import type { Backend } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type NodeContext } from '../../../proxy/xds/translate.ts';
import { assignment, cluster, listener, locality, resources, rootCa, route, routeConfig } from './resources.ts';

const NODE: NodeContext = { identity: null };
const d = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
const ON = { value: 100 };
const OFF = { value: 0 };

/** One listener to cluster `orders`, whose extra fields are `extra`. */
function input(extra: Record<string, unknown>) {
  const routes = [route({ prefix: '' }, { cluster: 'orders' }, 'all')];
  return resources({
    listeners: [listener('web')],
    routes: [routeConfig('web', [{ name: 'orders', domains: ['*'], routes }])],
    clusters: [cluster('orders', { extra })],
    endpoints: [assignment('orders', [locality('', [['10.0.0.1', 8080]])])],
    secrets: [rootCa()],
  });
}

function backend(extra: Record<string, unknown>): Backend {
  const r = translate(input(extra), NODE);
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config.backends[0];
}

function problems(extra: Record<string, unknown>): string[] {
  const r = translate(input(extra), NODE);
  if (r.ok) assert.fail('expected problems, got a config');
  return r.error.map(formatProblem);
}

/** An outlier_detection as the control plane writes one. */
const outlier = (extra: Record<string, unknown> = {}) => ({
  interval: d(2000),
  base_ejection_time: d(5000),
  max_ejection_time: d(60_000),
  max_ejection_percent: { value: 30 },
  consecutive_5xx: { value: 3 },
  enforcing_consecutive_5xx: ON,
  enforcing_consecutive_gateway_failure: OFF,
  enforcing_success_rate: OFF,
  always_eject_one_host: { value: true },
  ...extra,
});

const check = (extra: Record<string, unknown> = {}, http: Record<string, unknown> = {}) => ({
  timeout: d(500),
  interval: d(3000),
  no_traffic_interval: d(3000),
  unhealthy_threshold: { value: 2 },
  healthy_threshold: { value: 1 },
  http_health_check: { host: 'orders.shop', path: '/healthz', expected_statuses: [{ start: '200', end: '205' }], ...http },
  ...extra,
});

describe('circuit_breakers limits', () => {
  test('the DEFAULT threshold sets all four limits beside the retry budget', () => {
    const b = backend({ circuit_breakers: { thresholds: [{ max_connections: { value: 10 }, max_pending_requests: { value: 5 }, max_requests: { value: 20 }, max_retries: { value: 0 }, retry_budget: { budget_percent: { value: 30 } } }] } });
    assert.deepEqual(b.limits, { maxConnections: 10, maxPendingRequests: 5, maxActiveRequests: 20, maxActiveRetries: 0 });
    assert.equal(b.retryBudget.percent, 30);
  });

  test('no circuit_breakers, or a limit left unset, keeps the no-policy default', () => {
    assert.deepEqual(backend({}).limits, DEFAULT_LIMITS);
    assert.deepEqual(backend({ circuit_breakers: { thresholds: [{ max_requests: { value: 3 } }] } }).limits, { ...DEFAULT_LIMITS, maxActiveRequests: 3 });
  });

  test('another priority, a second threshold, a field not read, or no room for one request: NACKed with the path', () => {
    assert.deepEqual(problems({ circuit_breakers: { thresholds: [{ priority: 'HIGH', max_requests: { value: 0 }, track_remaining: true }, {}] } }), [
      "Cluster orders: circuit_breakers.thresholds[0].priority: \"HIGH\" is not supported; a Sluice proxy reads DEFAULT (xds/SUBSET.md)",
      "Cluster orders: circuit_breakers.thresholds[0].track_remaining: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)",
      "Cluster orders: circuit_breakers.thresholds: a Sluice proxy has one priority: give one threshold, of priority DEFAULT",
      "Cluster orders: circuit_breakers.thresholds[0].max_requests.value: must be at least 1; got 0",
    ]);
  });
});

describe('outlier_detection', () => {
  test('read as the control plane writes it: consecutive 5xx on, gateway errors and success rate off', () => {
    assert.deepEqual(backend({ outlier_detection: outlier() }).outlierDetection, {
      intervalMs: 2000,
      consecutive5xx: 3,
      consecutiveGatewayErrors: 0,
      baseEjectionMs: 5000,
      maxEjectionMs: 60_000,
      maxEjectionPercent: 30,
      successRate: null,
    });
  });

  test("unset fields have Envoy's defaults: success rate enforced, gateway failures not, 10 %", () => {
    const o = backend({ outlier_detection: { always_eject_one_host: { value: true } } }).outlierDetection;
    assert.deepEqual(o, { intervalMs: 10_000, consecutive5xx: 5, consecutiveGatewayErrors: 0, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 10, successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1900 } });
    const gw = backend({ outlier_detection: outlier({ enforcing_consecutive_gateway_failure: ON, success_rate_minimum_hosts: { value: 2 }, enforcing_success_rate: ON }) }).outlierDetection;
    assert.equal(gw?.consecutiveGatewayErrors, 5);
    assert.deepEqual(gw?.successRate, { minimumHosts: 2, requestVolume: 100, stdevFactor: 1900 });
  });

  test('every detector unenforced is outlier detection off; none sent is the no-policy default', () => {
    assert.equal(backend({ outlier_detection: { enforcing_consecutive_5xx: OFF, enforcing_success_rate: OFF, enforcing_consecutive_gateway_failure: OFF } }).outlierDetection, null);
    assert.deepEqual(backend({}).outlierDetection, DEFAULT_OUTLIER);
  });

  test('connection failures counted apart (split_external_local_origin_errors): their own run ejects; unset, Envoy\'s 5, enforced', () => {
    const split = (extra: Record<string, unknown>) => backend({ outlier_detection: outlier({ split_external_local_origin_errors: true, ...extra }) }).outlierDetection;
    assert.equal(split({ consecutive_local_origin_failure: { value: 2 } })?.consecutiveLocalOriginFailures, 2);
    assert.equal(split({})?.consecutiveLocalOriginFailures, 5);
    assert.equal(split({ enforcing_consecutive_local_origin_failure: OFF })?.consecutiveLocalOriginFailures, undefined);
    assert.equal(backend({ outlier_detection: outlier() }).outlierDetection?.consecutiveLocalOriginFailures, undefined, 'not split: failures count as 5xx, as before');
    // The only detector on: still outlier detection.
    assert.equal(backend({ outlier_detection: { split_external_local_origin_errors: true, enforcing_consecutive_5xx: OFF, enforcing_success_rate: OFF, always_eject_one_host: { value: true } } }).outlierDetection?.consecutiveLocalOriginFailures, 5);
    assert.deepEqual(problems({ outlier_detection: outlier({ consecutive_local_origin_failure: { value: 2 } }) }), [
      'Cluster orders: outlier_detection.consecutive_local_origin_failure: is read only with split_external_local_origin_errors: true',
    ]);
  });

  test('what a Sluice proxy cannot do as Envoy would is NACKed with its path', () => {
    assert.deepEqual(
      problems({ outlier_detection: outlier({ enforcing_consecutive_5xx: { value: 50 }, always_eject_one_host: undefined, max_ejection_time: d(1000), interval: d(0), failure_percentage_threshold: { value: 85 } }) }),
      [
        "Cluster orders: outlier_detection.failure_percentage_threshold: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)",
        "Cluster orders: outlier_detection.enforcing_consecutive_5xx.value: must be 0 or 100: a Sluice proxy enforces a detector always or never; got 50",
        "Cluster orders: outlier_detection.always_eject_one_host: must be true: a Sluice proxy lets one of two or more endpoints be ejected whatever max_ejection_percent says",
        "Cluster orders: outlier_detection.interval: must be above 0",
        "Cluster orders: outlier_detection.max_ejection_time: must not be shorter than base_ejection_time (5000 ms); got 1000 ms",
      ],
    );
  });

  test('with health_checks, a passing check must not end an ejection (Envoy does unless told)', () => {
    assert.deepEqual(problems({ outlier_detection: outlier(), health_checks: [check()] }), [
      "Cluster orders: outlier_detection.successful_active_health_check_uneject_host: must be false with health_checks: a passing health check does not end an ejection on a Sluice proxy (Envoy's default is that it does)",
    ]);
    assert.ok(backend({ outlier_detection: outlier({ successful_active_health_check_uneject_host: { value: false } }), health_checks: [check()] }).healthCheck !== null);
  });
});

describe('health_checks', () => {
  test("one HTTP check; Envoy's half-open status ranges become inclusive ones", () => {
    assert.deepEqual(backend({ health_checks: [check()] }).healthCheck, { path: '/healthz', host: 'orders.shop', intervalMs: 3000, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 1, expectedStatuses: [[200, 204]] });
    // Unset: Envoy expects 200 only, and the Host is left to the proxy (the endpoint's address).
    const bare = backend({ health_checks: [check({}, { host: undefined, expected_statuses: undefined })] }).healthCheck;
    assert.deepEqual([bare?.host, bare?.expectedStatuses], [undefined, [[200, 200]]]);
    assert.equal(backend({}).healthCheck, null);
  });

  test('two checks, another kind, a missing field, a bad range or another no-traffic pace: NACKed with the path', () => {
    assert.deepEqual(
      problems({
        health_checks: [
          check({ timeout: undefined, no_traffic_interval: d(60_000), healthy_threshold: undefined, unhealthy_interval: d(1000) }, { path: 'healthz', expected_statuses: [{ start: '200', end: '200' }] }),
          { ...check(), http_health_check: undefined, tcp_health_check: {} },
        ],
      }),
      [
        "Cluster orders: health_checks[0].unhealthy_interval: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)",
        "Cluster orders: health_checks[1].tcp_health_check: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)",
        "Cluster orders: health_checks: a Sluice proxy runs one health check per cluster; give one",
        "Cluster orders: health_checks[0].timeout: required",
        "Cluster orders: health_checks[0].no_traffic_interval: must equal interval (3000 ms): a Sluice proxy checks at one pace, with or without traffic; got 60000 ms",
        "Cluster orders: health_checks[0].healthy_threshold: required",
        "Cluster orders: health_checks[0].http_health_check.path: must start with '/'; got 'healthz'",
        "Cluster orders: health_checks[0].http_health_check.expected_statuses[0]: must be a range of HTTP statuses, start inclusive and end exclusive, within [100, 600); got [200, 200)",
      ],
    );
  });
});
