// The resilience kinds in the static file: what each policy resolves to, and every
// mistake reported at its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProxyConfig } from '../../../proxy/config/index.ts';
import { formatViolations, parseStaticConfig } from '../../../proxy/config/load-static.ts';
import { DEFAULT_RETRY } from '../../../kinds/resilience-specs.ts';

const LBS = { loadBalancers: ['round-robin', 'least-request', 'ring-hash', 'maglev'] };

const BASE = `
node: { zone: dc1-a }
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: shop
    rules:
      - name: checkout
        matches: [{ path: { value: /checkout } }]
        backendRefs: [{ name: api }]
      - name: browse
        backendRefs: [{ name: api }]
        timeouts: { backendRequest: 3s }
backends:
  - name: api
    endpoints:
      - { address: 127.0.0.1, port: 8001, zone: dc1-a }
      - { address: 127.0.0.1, port: 8002, zone: dc1-b }
      - { address: 127.0.0.1, port: 8003 }
      - { address: 127.0.0.1, port: 8004, zone: dc1-b, priority: 0 }
  - name: sessions
    loadBalancer: ring-hash
    hashOn: { type: Cookie, name: sid }
    endpoints: [{ address: 127.0.0.1, port: 8005 }]
`;

function parsed(policies: string): ProxyConfig {
  const r = parseStaticConfig(`${BASE}policies:\n${policies}`, LBS);
  if (!r.ok) assert.fail(formatViolations('test.yaml', r.error));
  return r.value;
}

function paths(policies: string, base = BASE): string[] {
  const r = parseStaticConfig(`${base}policies:\n${policies}`, LBS);
  if (r.ok) assert.fail('expected violations');
  return r.error.map((v) => `${v.path}: ${v.message}`);
}

const HEAD = (kind: string, name = 'p') => `  - apiVersion: mesh.sluice.dev/v1alpha1\n    kind: ${kind}\n    metadata: { name: ${name} }\n    spec:\n`;

describe('resilience policies resolve', () => {
  test('a RetryPolicy on a backend sets its retries, budget and connection timeouts', () => {
    const c = parsed(`${HEAD('RetryPolicy')}      targetRefs: [{ kind: Backend, name: api }]
      attempts: 4
      retryOn: [5xx, retriable-status-codes, unavailable]
      retriableStatusCodes: [429]
      backoff: { baseInterval: 10ms, maxInterval: 1s }
      retryNonIdempotent: true
      bufferLimitBytes: 1024
      timeouts: { request: 10s, perTry: 2s, connect: 300ms, idle: 90s }
      budget: { percent: 50, minRetriesPerSecond: 3, ttl: 5s }
`);
    const api = c.backends[0];
    assert.deepEqual(api.retry, {
      attempts: 4,
      retryOn: ['5xx', 'retriable-status-codes', 'unavailable'],
      retriableStatusCodes: [429],
      backoffBaseMs: 10,
      backoffMaxMs: 1000,
      retryNonIdempotent: true,
      bufferLimitBytes: 1024,
      perTryTimeoutMs: 2000,
      requestTimeoutMs: 10_000,
    });
    assert.deepEqual(api.retryBudget, { percent: 50, minRetriesPerSecond: 3, ttlMs: 5000 });
    assert.equal(api.connectTimeoutMs, 300);
    assert.equal(api.idleTimeoutMs, 90_000);
    assert.deepEqual(c.backends[1].retry, DEFAULT_RETRY, 'the other backend keeps the defaults');
  });

  test('a route-wide RetryPolicy applies to every rule; one naming a rule (sectionName) overrides it there', () => {
    const c = parsed(`${HEAD('RetryPolicy', 'route')}      targetRefs: [{ kind: HTTPRoute, name: shop }]
      attempts: 1
      retryOn: [gateway-error]
${HEAD('RetryPolicy', 'checkout')}      targetRefs: [{ kind: HTTPRoute, name: shop, sectionName: checkout }]
      attempts: 0
`);
    const [checkout, browse] = c.routes[0].rules;
    assert.deepEqual(checkout.retry, { attempts: 0, retryOn: ['gateway-error'] });
    assert.deepEqual(browse.retry, { attempts: 1, retryOn: ['gateway-error'] });
    assert.deepEqual(c.backends[0].retry, DEFAULT_RETRY, 'a route policy leaves the backend alone');
  });

  test('a CircuitBreakerPolicy sets limits, outlier detection and health checks; disabled turns outlier detection off', () => {
    const c = parsed(`${HEAD('CircuitBreakerPolicy')}      targetRefs: [{ kind: Backend, name: api }]
      limits: { maxConnections: 10, maxPendingRequests: 0, maxActiveRequests: 20, maxActiveRetries: 2 }
      outlierDetection:
        interval: 1s
        consecutive5xx: 3
        consecutiveGatewayErrors: 0
        baseEjectionTime: 5s
        maxEjectionPercent: 100
        successRate: { minimumHosts: 3 }
      healthCheck: { path: /healthz, interval: 2s, expectedStatuses: [{ from: 200, to: 204 }] }
${HEAD('CircuitBreakerPolicy', 'off')}      targetRefs: [{ kind: Backend, name: sessions }]
      outlierDetection: { disabled: true }
`);
    const [api, sessions] = c.backends;
    assert.deepEqual(api.limits, { maxConnections: 10, maxPendingRequests: 0, maxActiveRequests: 20, maxActiveRetries: 2 });
    assert.deepEqual(api.outlierDetection, {
      intervalMs: 1000,
      consecutive5xx: 3,
      consecutiveGatewayErrors: 0,
      baseEjectionMs: 5000,
      maxEjectionMs: 300_000,
      maxEjectionPercent: 100,
      successRate: { minimumHosts: 3, requestVolume: 100, stdevFactor: 1900 },
    });
    assert.deepEqual(api.healthCheck, { path: '/healthz', intervalMs: 2000, timeoutMs: 1000, unhealthyThreshold: 3, healthyThreshold: 2, expectedStatuses: [[200, 204]] });
    assert.equal(sessions.outlierDetection, null);
    assert.equal(sessions.healthCheck, null);
  });

  test('a FaultInjectionPolicy lands on the rules it targets', () => {
    const c = parsed(`${HEAD('FaultInjectionPolicy')}      targetRefs: [{ kind: HTTPRoute, name: shop, sectionName: browse }]
      delay: { fixedDelay: 1500ms, percent: 12.5 }
      abort: { grpcStatus: 14 }
`);
    const [checkout, browse] = c.routes[0].rules;
    assert.equal(checkout.fault, undefined);
    assert.deepEqual(browse.fault, { delay: { fixedDelayMs: 1500, percent: 12.5 }, abort: { httpStatus: 503, grpcStatus: 14, percent: 100 } });
  });

  test('endpoints in another zone than the node fail over (priority 1); unknown zones and explicit priorities do not', () => {
    const c = parsed('  []\n');
    assert.deepEqual(
      c.backends[0].endpoints.map((e) => e.priority),
      [0, 1, 0, 0],
    );
    assert.deepEqual(c.node, { zone: 'dc1-a' });
    assert.deepEqual(c.backends[1].hashOn, { type: 'Cookie', name: 'sid' });
  });
});

describe('resilience policy violations', () => {
  test('the envelope: apiVersion, kind (with a hint), metadata.name', () => {
    const out = paths(`  - apiVersion: mesh.sluice.dev/v1
    kind: RetryPolicy
    metadata: { name: a }
    spec: { targetRefs: [{ kind: Backend, name: api }] }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicies
    metadata: { name: b }
    spec: {}
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: Bad_Name }
    spec: { targetRefs: [{ kind: Backend, name: api }] }
`);
    assert.deepEqual(out, [
      "policies[0].apiVersion: must be mesh.sluice.dev/v1alpha1; got 'mesh.sluice.dev/v1'",
      "policies[1].kind: must be one of RetryPolicy, CircuitBreakerPolicy, FaultInjectionPolicy, LoadBalancingPolicy, AuthorizationPolicy, RequestAuthentication; got 'RetryPolicies'; did you mean 'RetryPolicy'?",
      "policies[2].metadata.name: 'Bad_Name' is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
    ]);
  });

  test("a spec is checked against its own kind's fields, with the path into it", () => {
    const out = paths(`${HEAD('RetryPolicy')}      targetRefs: [{ kind: Backend, name: api }]
      atempts: 3
      retryOn: [5xx, connection-failure]
      backoff: { baseInterval: 10 }
`);
    assert.deepEqual(out, [
      'policies[0].spec.atempts: unknown field \'atempts\'; did you mean \'attempts\'?',
      'policies[0].spec.backoff.baseInterval: must be a string; got 10 (quote it: "10")',
      "policies[0].spec.retryOn[1]: must be one of connect-failure, refused-stream, reset, gateway-error, 5xx, retriable-status-codes, cancelled, deadline-exceeded, resource-exhausted, unavailable; got 'connection-failure'; did you mean 'connect-failure'?",
    ]);
  });

  test('targets: undefined names, unknown rules, the wrong kind, and a target claimed twice', () => {
    const out = paths(`${HEAD('RetryPolicy', 'one')}      targetRefs:
        - { kind: Backend, name: apj }
        - { kind: HTTPRoute, name: shop, sectionName: pay }
        - { kind: HTTPRoute, name: shop, sectionName: checkout }
${HEAD('RetryPolicy', 'two')}      targetRefs: [{ kind: HTTPRoute, name: shop, sectionName: checkout }]
${HEAD('CircuitBreakerPolicy', 'three')}      targetRefs: [{ kind: HTTPRoute, name: shop }]
${HEAD('FaultInjectionPolicy', 'four')}      targetRefs: [{ kind: HTTPRoute, name: shop, group: mesh.sluice.dev }]
      abort: { httpStatus: 500 }
`);
    assert.deepEqual(out, [
      "policies[0].spec.targetRefs[0].name: backend 'apj' is not defined; defined backends: api, sessions",
      "policies[0].spec.targetRefs[1].sectionName: route 'shop' has no rule named 'pay'; named rules: checkout, browse",
      "policies[1].spec.targetRefs[0]: rule 'checkout' of route 'shop' is already the target of RetryPolicy 'one' (policies[0]); give each target at most one RetryPolicy",
      'policies[2].spec.targetRefs[0].kind: a CircuitBreakerPolicy targets Backend only: its limits and health checks are kept per backend; got HTTPRoute',
      "policies[3].spec.targetRefs[0].group: the group of HTTPRoute is gateway.networking.k8s.io; got 'mesh.sluice.dev'",
    ]);
  });

  test('fields that need a backend, and values that contradict each other', () => {
    const out = paths(`${HEAD('RetryPolicy')}      targetRefs: [{ kind: HTTPRoute, name: shop }]
      retryOn: [5xx]
      retriableStatusCodes: [429]
      backoff: { baseInterval: 100ms, maxInterval: 50ms }
      timeouts: { request: 1s, perTry: 2s, connect: 1s }
      budget: { percent: 10 }
${HEAD('CircuitBreakerPolicy', 'cb')}      targetRefs: [{ kind: Backend, name: api }]
      outlierDetection: { baseEjectionTime: 1m, maxEjectionTime: 10s }
      healthCheck: { path: healthz, expectedStatuses: [{ from: 300, to: 200 }] }
${HEAD('FaultInjectionPolicy', 'f')}      targetRefs: [{ kind: HTTPRoute, name: shop }]
`);
    assert.deepEqual(out, [
      'policies[0].spec.backoff.maxInterval: must not be shorter than baseInterval (100ms); got 50ms',
      'policies[0].spec.budget: is kept per backend, and targetRefs[0] is a route; put it in a RetryPolicy that targets the backend',
      "policies[0].spec.retriableStatusCodes: has no effect unless retryOn lists 'retriable-status-codes'",
      "policies[0].spec.timeouts.connect: is a property of a backend's connections, and targetRefs[0] is a route; put it in a RetryPolicy that targets the backend",
      'policies[0].spec.timeouts.perTry: must not be longer than timeouts.request (1s); got 2s',
      'policies[1].spec.healthCheck.expectedStatuses[0]: \'from\' (300) must not be above \'to\' (200)',
      "policies[1].spec.healthCheck.path: must start with '/'; got 'healthz'",
      'policies[1].spec.outlierDetection.maxEjectionTime: must not be shorter than baseEjectionTime (1m); got 10s',
      "policies[2].spec: needs 'delay', 'abort' or both",
    ]);
  });

  test('hashOn: only for hashing balancers, with a name for headers and cookies', () => {
    const base = `listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
backends:
  - { name: a, loadBalancer: round-robin, hashOn: { type: SourceIP }, endpoints: [] }
  - { name: b, loadBalancer: maglev, hashOn: { type: Header }, endpoints: [] }
  - { name: c, loadBalancer: ring-hash, hashOn: { type: SourceIP, name: x }, endpoints: [] }
`;
    assert.deepEqual(paths('  []\n', base), [
      'backends[0].hashOn: is read by the ring-hash and maglev load balancers only; this backend uses round-robin',
      'backends[1].hashOn.name: is required when type is Header: it names the header',
      'backends[2].hashOn.name: does not go with type SourceIP',
    ]);
  });
});
