// The policy kinds as API resources: what the API accepts, every mistake reported at its
// field path, and that a spec mistake reads the same as in a proxy's static config (both
// sides check the one shared spec).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import type { Resource } from '../../../../control-plane/api/resource.ts';
import { validateResource } from '../../../../control-plane/api/validate.ts';
import { validateDocument } from '../../../../proxy/config/validate.ts';

const API = 'mesh.sluice.dev/v1alpha1';
const ROUTES = 'gateway.networking.k8s.io';

function policy(kind: string, spec: object, extra: object = {}): object {
  return { apiVersion: API, kind, metadata: { name: 'p', namespace: 'shop' }, spec, ...extra };
}

/** Every violation, as `path: message`. */
function violations(doc: object): string[] {
  const r = validateResource(doc);
  return r.ok ? [] : r.violations.map((v) => `${v.path}: ${v.message}`);
}

const GOOD: Record<string, string> = {
  RetryPolicy: `
    targetRefs:
      - { group: '', kind: Service, name: orders }
      - { kind: Service, name: payments }
    attempts: 3
    retryOn: [connect-failure, 5xx, retriable-status-codes]
    retriableStatusCodes: [503, 504]
    backoff: { baseInterval: 50ms, maxInterval: 1s }
    timeouts: { request: 10s, perTry: 2s, connect: 1s, idle: 5m }
    budget: { percent: 25, minRetriesPerSecond: 5, ttl: 10s }`,
  'RetryPolicy on routes': `
    targetRefs:
      - { group: ${ROUTES}, kind: HTTPRoute, name: web, sectionName: checkout }
      - { kind: GRPCRoute, name: rpc }
    attempts: 1
    timeouts: { request: 3s, perTry: 1s }`,
  CircuitBreakerPolicy: `
    targetRefs: [{ kind: Service, name: orders }]
    limits: { maxConnections: 100, maxPendingRequests: 50, maxActiveRequests: 200, maxActiveRetries: 3 }
    outlierDetection: { interval: 5s, consecutive5xx: 3, baseEjectionTime: 30s, maxEjectionTime: 5m, maxEjectionPercent: 20 }
    healthCheck: { path: /healthz, interval: 5s, timeout: 1s, expectedStatuses: [{ from: 200, to: 299 }] }`,
  FaultInjectionPolicy: `
    targetRefs: [{ group: ${ROUTES}, kind: HTTPRoute, name: web, sectionName: browse }]
    delay: { fixedDelay: 2s, percent: 10 }
    abort: { httpStatus: 503, percent: 5 }`,
  LoadBalancingPolicy: `
    targetRefs: [{ kind: Service, name: sessions }]
    type: RingHash
    hashOn: { type: Cookie, name: sid }
    failoverThreshold: 50`,
  AuthorizationPolicy: `
    targetRefs: [{ kind: Service, name: orders }]
    action: ALLOW
    rules:
      - from: [{ identities: [spiffe://example.org/ns/web/sa/frontend], namespaces: [web] }]
        to: [{ methods: [GET, post], paths: [{ type: PathPrefix, value: /orders/ }], hosts: ['*.example.com'] }]
        when: [{ claim: realm_access.roles, values: [buyer] }]`,
  RequestAuthentication: `
    targetRefs: [{ kind: Service, name: orders }]
    jwtRules:
      - issuer: https://id.example.com/realms/shop
        audiences: [orders]
        jwksUri: https://id.example.com/realms/shop/protocol/openid-connect/certs
        outputClaimToHeaders: [{ header: x-user, claim: sub }]`,
};

describe('policy kinds: accepted documents', () => {
  for (const [name, yaml] of Object.entries(GOOD)) {
    test(`accepts a ${name}, a target that is not applied yet included`, () => {
      const doc = policy(name.split(' ')[0], parse(yaml));
      assert.deepEqual(violations(doc), []);
    });
  }

  test('fills in the default namespace, as for any namespaced kind', () => {
    const r = validateResource({ apiVersion: API, kind: 'FaultInjectionPolicy', metadata: { name: 'slow' }, spec: parse(GOOD.FaultInjectionPolicy) }, 'team-a');
    assert.ok(r.ok);
    assert.equal(r.resource.metadata.namespace, 'team-a');
  });

  test('sluicectl finds each kind by its name, plural and short name', () => {
    for (const [name, plural, short] of [
      ['RetryPolicy', 'retrypolicies', 'rp'],
      ['CircuitBreakerPolicy', 'circuitbreakerpolicies', 'cbp'],
      ['FaultInjectionPolicy', 'faultinjectionpolicies', 'fip'],
      ['LoadBalancingPolicy', 'loadbalancingpolicies', 'lbp'],
      ['AuthorizationPolicy', 'authorizationpolicies', 'ap'],
      ['RequestAuthentication', 'requestauthentications', 'ra'],
    ]) {
      for (const key of [name, plural, short]) assert.equal(findKind(key)?.kind, name, key);
      assert.equal(findKind(name)?.scope, 'Namespaced');
    }
  });
});

describe('policy kinds: every mistake at its field path', () => {
  // [title, kind, spec (YAML), [path, message fragment][]]: the whole list, in order.
  const cases: [string, string, string, [string, string][]][] = [
    ['a kind the schema does not know', 'RetryPolicy', 'targetRefs: [{ kind: Gateway, name: edge }]', [['spec.targetRefs[0].kind', "must be one of Service, HTTPRoute, GRPCRoute; got 'Gateway'"]]],
    ['a circuit breaker on a route', 'CircuitBreakerPolicy', 'targetRefs: [{ kind: HTTPRoute, name: web }]', [['spec.targetRefs[0].kind', 'a CircuitBreakerPolicy targets Service only: its limits and health checks are kept per destination service; got HTTPRoute']]],
    ['a fault on a Service', 'FaultInjectionPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nabort: { httpStatus: 500 }', [['spec.targetRefs[0].kind', 'a FaultInjectionPolicy targets HTTPRoute or GRPCRoute only: faults are injected where requests are routed; got Service']]],
    ['an authorization policy on a route', 'AuthorizationPolicy', 'targetRefs: [{ kind: GRPCRoute, name: rpc }]', [['spec.targetRefs[0].kind', "an AuthorizationPolicy targets Service only: requests are authorized where they arrive, on the inbound side of the Service's workloads; got GRPCRoute"]]],
    ['JWT rules on a route', 'RequestAuthentication', 'targetRefs: [{ kind: HTTPRoute, name: web }]\njwtRules: [{ issuer: i, jwksUri: https://i/keys }]', [['spec.targetRefs[0].kind', 'a RequestAuthentication targets Service only: tokens are checked where requests arrive']]],
    ['a balancer on a route', 'LoadBalancingPolicy', 'targetRefs: [{ kind: HTTPRoute, name: web }]\ntype: RoundRobin', [['spec.targetRefs[0].kind', 'a LoadBalancingPolicy targets Service only: the balancer and what it hashes on are kept per destination service']]],
    ['a hash for a balancer that does not hash', 'LoadBalancingPolicy', 'targetRefs: [{ kind: Service, name: orders }]\ntype: LeastRequest\nhashOn: { type: SourceIP, name: x }', [['spec.hashOn', 'is read by the RingHash and Maglev balancers only; this policy\'s type is LeastRequest'], ['spec.hashOn.name', 'does not go with type SourceIP']]],
    ['a failover threshold beside zones: Spread', 'LoadBalancingPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nzones: Spread\nfailoverThreshold: 50', [['spec.failoverThreshold', 'does nothing with zones: Spread (every zone is one failover level); remove it or use zones: PreferLocal']]],
    ['a load-balancing policy that says nothing', 'LoadBalancingPolicy', 'targetRefs: [{ kind: Service, name: orders }]', [['spec', "needs 'type', 'hashOn', 'failoverThreshold' or 'zones'"]]],
    ['a route in the wrong group', 'RetryPolicy', 'targetRefs: [{ group: mesh.sluice.dev, kind: HTTPRoute, name: web }]', [['spec.targetRefs[0].group', "the group of HTTPRoute is gateway.networking.k8s.io; got 'mesh.sluice.dev'"]]],
    ['a Service outside the core group', 'CircuitBreakerPolicy', 'targetRefs: [{ group: core, kind: Service, name: orders }]', [['spec.targetRefs[0].group', "the group of Service is '' (the core group; or leave group out); got 'core'"]]],
    ['a sectionName on a Service', 'AuthorizationPolicy', 'targetRefs: [{ kind: Service, name: orders, sectionName: http }]', [['spec.targetRefs[0].sectionName', 'applies to HTTPRoute and GRPCRoute targets only (it names one rule of the route)']]],
    ['the same target twice', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: orders }, { group: "", kind: Service, name: orders }]', [['spec.targetRefs[1]', 'names the same target as targetRefs[0]']]],
    ['no targets', 'RetryPolicy', 'targetRefs: []', [['spec.targetRefs', 'must not be empty']]],
    ['targetRefs left out', 'FaultInjectionPolicy', 'abort: { httpStatus: 500 }', [['spec.targetRefs', 'is required']]],
    ['a target name that is no resource name', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: Orders }]', [['spec.targetRefs[0].name', "'Orders' is not a valid name"]]],
    ['a misspelt field', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nretyrOn: [5xx]', [['spec.retyrOn', "unknown field 'retyrOn'; did you mean 'retryOn'?"]]],
    ['perTry longer than request', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: orders }]\ntimeouts: { request: 1s, perTry: 2s }', [['spec.timeouts.perTry', 'must not be longer than timeouts.request (1s); got 2s']]],
    [
      'connection settings on a route',
      'RetryPolicy',
      `targetRefs: [{ kind: Service, name: orders }, { group: ${ROUTES}, kind: GRPCRoute, name: rpc }]\ntimeouts: { connect: 1s }\nbudget: { percent: 10 }`,
      [
        ['spec.timeouts.connect', "is a property of a backend's connections, and targetRefs[1] is a route"],
        ['spec.budget', 'is kept per backend, and targetRefs[1] is a route'],
      ],
    ],
    ['backoff that shrinks', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nbackoff: { baseInterval: 1s, maxInterval: 100ms }', [['spec.backoff.maxInterval', 'must not be shorter than baseInterval (1s); got 100ms']]],
    ['status codes that are never retried', 'RetryPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nretryOn: [5xx]\nretriableStatusCodes: [503]', [['spec.retriableStatusCodes', "has no effect unless retryOn lists 'retriable-status-codes'"]]],
    [
      'maxEjectionTime below baseEjectionTime',
      'CircuitBreakerPolicy',
      'targetRefs: [{ kind: Service, name: orders }]\noutlierDetection: { baseEjectionTime: 1m, maxEjectionTime: 30s }',
      [['spec.outlierDetection.maxEjectionTime', 'must not be shorter than baseEjectionTime (1m); got 30s']],
    ],
    ['a health check path without /', 'CircuitBreakerPolicy', 'targetRefs: [{ kind: Service, name: orders }]\nhealthCheck: { path: healthz }', [['spec.healthCheck.path', "must start with '/'; got 'healthz'"]]],
    ['a fault with neither delay nor abort', 'FaultInjectionPolicy', `targetRefs: [{ group: ${ROUTES}, kind: HTTPRoute, name: web }]`, [['spec', "needs 'delay', 'abort' or both"]]],
    ['an abort without a status', 'FaultInjectionPolicy', `targetRefs: [{ group: ${ROUTES}, kind: HTTPRoute, name: web }]\nabort: { percent: 5 }`, [['spec.abort', "needs 'httpStatus' or 'grpcStatus'"]]],
    [
      'a principal that is no SPIFFE ID',
      'AuthorizationPolicy',
      'targetRefs: [{ kind: Service, name: orders }]\naction: DENY\nrules: [{ from: [{ identities: [frontend] }] }]',
      [['spec.rules[0].from[0].identities[0]', 'is not a SPIFFE ID']],
    ],
    [
      'a path normalization would change',
      'AuthorizationPolicy',
      'targetRefs: [{ kind: Service, name: orders }]\naction: DENY\nrules: [{ to: [{ paths: [{ value: /admin/../secret }] }] }]',
      [['spec.rules[0].to[0].paths[0].value', "path normalization, which turns it into '/secret'"]],
    ],
    ['an empty rule', 'AuthorizationPolicy', 'targetRefs: [{ kind: Service, name: orders }]\naction: DENY\nrules: [{}]', [['spec.rules[0]', 'an empty rule matches every request; here it would deny them all']]],
    ['a JWT rule without keys', 'RequestAuthentication', 'targetRefs: [{ kind: Service, name: orders }]\njwtRules: [{ issuer: https://id.example.com }]', [['spec.jwtRules[0]', "needs 'jwksUri'"]]],
    [
      'one issuer in two rules',
      'RequestAuthentication',
      'targetRefs: [{ kind: Service, name: orders }]\njwtRules: [{ issuer: i, jwksUri: https://i/keys }, { issuer: i, jwksUri: https://i/other }]',
      [['spec.jwtRules[1].issuer', "issuer 'i' is already accepted by jwtRules[0]"]],
    ],
    ['a JWKS URL that is not http(s)', 'RequestAuthentication', 'targetRefs: [{ kind: Service, name: orders }]\njwtRules: [{ issuer: i, jwksUri: "file:///etc/keys" }]', [['spec.jwtRules[0].jwksUri', "must be an http(s) URL; got scheme 'file'"]]],
  ];

  for (const [title, kind, yaml, want] of cases) {
    test(`refuses ${title}`, () => {
      const got = violations(policy(kind, parse(yaml)));
      assert.equal(got.length, want.length, `want ${want.length} violation(s), got:\n${got.join('\n')}`);
      want.forEach(([path, fragment], i) => {
        assert.ok(got[i].startsWith(`${path}: `), `violation ${i} is at ${got[i]}, not at ${path}`);
        assert.ok(got[i].includes(fragment), `violation ${i} says ${got[i]}, not ${fragment}`);
      });
    });
  }

  test('reports target and spec mistakes together, targets first', () => {
    const got = violations(policy('RetryPolicy', parse('targetRefs: [{ kind: Service, name: orders, sectionName: x }]\ntimeouts: { request: 1s, perTry: 2s }')));
    assert.deepEqual(
      got.map((v) => v.split(': ')[0]),
      ['spec.targetRefs[0].sectionName', 'spec.timeouts.perTry'],
    );
  });
});

describe('policy kinds: one spec on both sides', () => {
  test('a spec mistake reads the same in a proxy static config and in the API, only the path prefix differs', () => {
    const spec = { timeouts: { request: '1s', perTry: '2s' }, backoff: { baseInterval: '0s' } };
    const proxy = validateDocument({
      listeners: [{ name: 'main', address: '127.0.0.1', port: 0, protocol: 'http' }],
      backends: [{ name: 'orders', endpoints: [{ address: '127.0.0.1', port: 8080 }] }],
      policies: [{ apiVersion: API, kind: 'RetryPolicy', metadata: { name: 'p' }, spec: { targetRefs: [{ kind: 'Backend', name: 'orders' }], ...spec } }],
    });
    const api = validateResource(policy('RetryPolicy', { targetRefs: [{ kind: 'Service', name: 'orders' }], ...spec }));
    assert.ok(!api.ok);
    assert.ok(api.violations.length === 2, 'both mistakes are reported');
    assert.deepEqual(
      proxy.map((v) => ({ path: v.path.replace(/^policies\[0\]\./, ''), message: v.message })),
      api.violations.map((v) => ({ path: v.path, message: v.message })),
    );
  });
});

describe('policy kinds: sluicectl get columns', () => {
  const columns = (doc: object) => {
    const r = validateResource(doc);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.violations));
    return Object.fromEntries(r.kind.columns.map((c) => [c.name, c.value(r.resource as Resource<never>)]));
  };

  test('TARGETS lists kind/name and #rule, then what each kind is about', () => {
    assert.deepEqual(columns(policy('RetryPolicy', parse(GOOD['RetryPolicy on routes']))), { TARGETS: 'HTTPRoute/web#checkout, GRPCRoute/rpc', ATTEMPTS: '1', 'PER TRY': '1s' });
    assert.deepEqual(columns(policy('RetryPolicy', { targetRefs: [{ kind: 'Service', name: 'orders' }] })), { TARGETS: 'Service/orders', ATTEMPTS: '2', 'PER TRY': '-' });
    assert.deepEqual(columns(policy('CircuitBreakerPolicy', parse(GOOD.CircuitBreakerPolicy))), { TARGETS: 'Service/orders', 'MAX CONNECTIONS': '100', 'OUTLIER DETECTION': 'on' });
    assert.deepEqual(columns(policy('FaultInjectionPolicy', parse(GOOD.FaultInjectionPolicy))), { TARGETS: 'HTTPRoute/web#browse', DELAY: '2s (10%)', ABORT: '503 (5%)' });
    assert.deepEqual(columns(policy('LoadBalancingPolicy', parse(GOOD.LoadBalancingPolicy))), { TARGETS: 'Service/sessions', TYPE: 'RingHash', 'HASH ON': 'Cookie sid', FAILOVER: '50%' });
    assert.deepEqual(columns(policy('LoadBalancingPolicy', { targetRefs: [{ kind: 'Service', name: 'web' }], type: 'Maglev', hashOn: { type: 'SourceIP' } })), { TARGETS: 'Service/web', TYPE: 'Maglev', 'HASH ON': 'SourceIP', FAILOVER: '-' });
    assert.deepEqual(columns(policy('AuthorizationPolicy', parse(GOOD.AuthorizationPolicy))), { TARGETS: 'Service/orders', ACTION: 'ALLOW', RULES: '1' });
    assert.deepEqual(columns(policy('RequestAuthentication', parse(GOOD.RequestAuthentication))), { TARGETS: 'Service/orders', ISSUERS: 'https://id.example.com/realms/shop' });
  });
});
