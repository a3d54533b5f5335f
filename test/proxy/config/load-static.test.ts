// The static config loader: YAML in -> a normalized, frozen model out, or every violation.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultHttpLimits, type ProxyConfig } from '../../../proxy/config/index.ts';
import { deepFreeze, formatViolations, loadStaticConfig, parseStaticConfig } from '../../../proxy/config/load-static.ts';
import { DEFAULT_BUDGET, DEFAULT_LIMITS, DEFAULT_OUTLIER, DEFAULT_RETRY } from '../../../kinds/resilience-specs.ts';
import type { Violation } from '../../../proxy/errors.ts';

/** What every backend gets with no policy naming it. */
const RESILIENCE = { failoverThreshold: 71, idleTimeoutMs: 60_000, retry: DEFAULT_RETRY, retryBudget: DEFAULT_BUDGET, limits: DEFAULT_LIMITS, outlierDetection: DEFAULT_OUTLIER, healthCheck: null };

const EXAMPLE = fileURLToPath(new URL('../../../examples/static/two-backends.yaml', import.meta.url));

function parsed(text: string, opts?: { loadBalancers?: readonly string[] }): ProxyConfig {
  const r = parseStaticConfig(text, opts);
  if (!r.ok) assert.fail(`expected a valid config, got:\n${formatViolations('test.yaml', r.error)}`);
  return r.value;
}

function violations(text: string): Violation[] {
  const r = parseStaticConfig(text);
  if (r.ok) assert.fail('expected violations, got a valid config');
  return r.error;
}

const FULL = `
listeners:
  - name: main
    address: 127.0.0.1
    port: 18000
    protocol: http
    limits: { maxHeaders: 50 }
  - { name: db, address: "::1", port: 15432, protocol: tcp, backend: postgres }
routes:
  - name: api
    parentRefs: [{ name: main }]
    hostnames: [API.example.com, "*.example.com"]
    rules:
      - name: items
        matches:
          - path: { type: Exact, value: /items }
            headers: [{ name: X-Canary, value: "1" }, { type: RegularExpression, name: X-User, value: "^u[0-9]+$" }]
            queryParams: [{ name: Debug, value: "on" }]
            method: GET
          - path: { value: /things }
          - path: { type: RegularExpression }
        filters:
          - type: RequestHeaderModifier
            requestHeaderModifier: { set: [{ name: X-Env, value: prod }], remove: [X-Internal] }
          - type: ResponseHeaderModifier
            responseHeaderModifier: { add: [{ name: Via, value: sluice }] }
          - type: RequestMirror
            requestMirror: { backendRef: { name: shadow } }
          - type: RequestMirror
            requestMirror: { backendRef: { name: shadow }, percent: 10 }
        backendRefs: [{ name: api }, { name: shadow, weight: 0 }]
        timeouts: { request: 1m30s, backendRequest: 0s }
      - matches: [{ path: { type: PathPrefix, value: /v1 } }]
        filters:
          - type: URLRewrite
            urlRewrite: { hostname: internal.example.com, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } }
        backendRefs: [{ name: api, weight: 3 }]
      - matches: [{ path: { value: /old } }]
        filters:
          - type: RequestRedirect
            requestRedirect: { scheme: https, path: { type: ReplaceFullPath, replaceFullPath: /new } }
backends:
  - name: api
    protocol: http2
    loadBalancer: least-request
    connectTimeoutMs: 250
    endpoints: [{ address: 10.0.0.1, port: 8080, weight: 2 }, { address: api.internal, port: 8080 }]
  - { name: shadow, endpoints: [] }
  - { name: postgres, endpoints: [{ address: 10.0.0.9, port: 5432 }] }
`;

const FULL_EXPECTED: ProxyConfig = {
  node: {},
  identity: null,
  listeners: [
    { name: 'main', address: '127.0.0.1', port: 18000, protocol: 'http', tls: { mode: 'DISABLE' }, limits: { ...defaultHttpLimits, maxHeaders: 50 }, escapedSlashes: 'Reject', pathParameters: 'Reject', authorization: [], jwt: [] },
    { name: 'db', address: '::1', port: 15432, protocol: 'tcp', tls: { mode: 'DISABLE' }, authorization: [], backend: 'postgres' },
  ],
  routes: [
    {
      name: 'api',
      parentRefs: ['main'],
      hostnames: ['api.example.com', '*.example.com'],
      rules: [
        {
          name: 'items',
          matches: [
            {
              path: { type: 'Exact', value: '/items' },
              headers: [
                { type: 'Exact', name: 'x-canary', value: '1' },
                { type: 'RegularExpression', name: 'x-user', value: '^u[0-9]+$' },
              ],
              queryParams: [{ type: 'Exact', name: 'Debug', value: 'on' }],
              method: 'GET',
            },
            { path: { type: 'PathPrefix', value: '/things' }, headers: [], queryParams: [] },
            { path: { type: 'RegularExpression', value: '/' }, headers: [], queryParams: [] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-env', value: 'prod' }], add: [], remove: ['x-internal'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [{ name: 'via', value: 'sluice' }], remove: [] } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' }, percent: 100 } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' }, percent: 10 } },
          ],
          backendRefs: [
            { name: 'api', weight: 1 },
            { name: 'shadow', weight: 0 },
          ],
          timeouts: { request: 90_000 },
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/v1' }, headers: [], queryParams: [] }],
          filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }],
          backendRefs: [{ name: 'api', weight: 3 }],
          timeouts: {},
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/old' }, headers: [], queryParams: [] }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, statusCode: 302 } }],
          backendRefs: [],
          timeouts: {},
        },
      ],
    },
  ],
  backends: [
    {
      name: 'api',
      protocol: 'http2',
      loadBalancer: 'least-request',
      ...RESILIENCE,
      connectTimeoutMs: 250,
      endpoints: [
        { address: '10.0.0.1', port: 8080, weight: 2, priority: 0 },
        { address: 'api.internal', port: 8080, weight: 1, priority: 0 },
      ],
      tls: null,
    },
    { name: 'shadow', protocol: 'http1', loadBalancer: 'least-request', ...RESILIENCE, connectTimeoutMs: 5000, endpoints: [], tls: null },
    { name: 'postgres', protocol: 'http1', loadBalancer: 'least-request', ...RESILIENCE, connectTimeoutMs: 5000, endpoints: [{ address: '10.0.0.9', port: 5432, weight: 1, priority: 0 }], tls: null },
  ],
};

describe('parseStaticConfig', () => {
  test('turns a full document into the model with every default filled and names normalized', () => {
    assert.deepEqual(parsed(FULL, { loadBalancers: ['round-robin', 'least-request'] }), FULL_EXPECTED);
  });

  test('fills in the defaults of a minimal document', () => {
    const config = parsed(`
listeners: [{ name: main, address: 0.0.0.0, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: web }] }] }]
backends: [{ name: web, endpoints: [{ address: 127.0.0.1, port: 8080 }] }]
`);
    assert.deepEqual(config.listeners[0], { name: 'main', address: '0.0.0.0', port: 0, protocol: 'http', tls: { mode: 'DISABLE' }, limits: defaultHttpLimits, escapedSlashes: 'Reject', pathParameters: 'Reject', authorization: [], jwt: [] });
    assert.deepEqual(config.routes[0], {
      name: 'all',
      parentRefs: [],
      hostnames: [],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }], filters: [], backendRefs: [{ name: 'web', weight: 1 }], timeouts: {} }],
    });
    assert.deepEqual(config.backends[0], {
      name: 'web',
      protocol: 'http1',
      loadBalancer: 'least-request',
      ...RESILIENCE,
      connectTimeoutMs: 5000,
      endpoints: [{ address: '127.0.0.1', port: 8080, weight: 1, priority: 0 }],
      tls: null,
    });
  });

  test('leaves routes and backends empty when the document has none', () => {
    const config = parsed('listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]');
    assert.deepEqual([config.routes, config.backends], [[], []]);
  });

  test("takes a mirror's share as Gateway API's fraction too, and an empty replacePrefixMatch (strip the prefix)", () => {
    const config = parsed(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
backends: [{ name: api, endpoints: [] }, { name: shadow, endpoints: [] }]
routes:
  - name: r
    rules:
      - matches: [{ path: { value: /v1 } }]
        filters:
          - { type: RequestMirror, requestMirror: { backendRef: { name: shadow }, fraction: { numerator: 1, denominator: 1000 } } }
          - { type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: '' } } }
        backendRefs: [{ name: api }]
`);
    assert.deepEqual(config.routes[0].rules[0].filters, [
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' }, percent: 0.1 } },
      { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '' } } },
    ]);
  });

  test('returns a deeply frozen config: any mutation throws', () => {
    const config = parsed(FULL, { loadBalancers: ['round-robin', 'least-request'] });
    assert.ok(Object.isFrozen(config));
    assert.throws(() => (config.listeners as unknown[]).push({}), TypeError);
    assert.throws(() => Object.assign(config.listeners[0], { port: 1 }), TypeError);
    assert.throws(() => Object.assign(config.routes[0].rules[0].matches[0].headers[0], { value: 'x' }), TypeError);
    assert.throws(() => Object.assign(config.backends[0].endpoints[0], { weight: 9 }), TypeError);
  });

  test('reports a YAML syntax error with its line and column', () => {
    assert.deepEqual(violations('listeners:\n  - name: main\n    port: 80: 81\n'), [
      { path: '(yaml) line 3, column 11', message: 'Nested mappings are not allowed in compact mappings' },
    ]);
  });

  test('reports a duplicate key as a YAML error at the second key', () => {
    assert.deepEqual(
      violations('listeners: []\nlisteners: []\n').map((v) => v.path),
      ['(yaml) line 2, column 1'],
    );
  });

  test('refuses a file with two documents, pointing at the second', () => {
    assert.deepEqual(
      violations('listeners: []\n---\nroutes: []\n').map((v) => v.path),
      ['(yaml) line 2, column 1'],
    );
  });

  test('accepts a trailing document separator', () => {
    parsed('---\nlisteners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]\n---\n');
  });

  for (const [what, text] of [
    ['a list', '- listeners'],
    ['a scalar', 'listeners'],
    ['an empty file', ''],
    ['a file of comments', '# nothing here\n'],
  ]) {
    test(`refuses ${what} as the document`, () => {
      const v = violations(text);
      assert.deepEqual(v.map((x) => x.path), ['(document)']);
      assert.match(v[0].message, /must be a mapping/);
    });
  }

  test('reports an alias to an undefined anchor where it stands, instead of throwing', () => {
    assert.deepEqual(violations('listeners:\n  - *nowhere\n'), [{ path: '(yaml) line 2, column 5', message: 'alias *nowhere names no anchor before it' }]);
  });
});

describe('loadStaticConfig', () => {
  test('loads the shipped example', async () => {
    const r = await loadStaticConfig(EXAMPLE);
    assert.ok(r.ok, r.ok ? '' : formatViolations(EXAMPLE, r.error));
    assert.deepEqual(
      r.value.backends.map((b) => b.name),
      ['api', 'api-canary', 'web'],
    );
  });

  test('turns a file that cannot be read into one violation', async () => {
    const r = await loadStaticConfig('/nonexistent/sluice.yaml');
    assert.ok(!r.ok);
    assert.equal(r.error.length, 1);
    assert.equal(r.error[0].path, '(file)');
    assert.match(r.error[0].message, /ENOENT/);
  });

  test('passes the load-balancer names on to validation', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-config-')), 'proxy.yaml');
    writeFileSync(file, 'listeners: [{ name: m, address: 127.0.0.1, port: 0, protocol: http }]\nbackends: [{ name: b, loadBalancer: ring-hash, endpoints: [] }]\n');
    assert.equal((await loadStaticConfig(file)).ok, false);
    assert.equal((await loadStaticConfig(file, { loadBalancers: ['round-robin', 'ring-hash'] })).ok, true);
  });
});

describe('formatViolations', () => {
  test('writes one FILE: path: message line per violation', () => {
    const text = formatViolations('proxy.yaml', [
      { path: 'listeners[0].port', message: 'must be between 0 and 65535; got 70000' },
      { path: '(yaml) line 3, column 5', message: 'Map keys must be unique' },
    ]);
    assert.equal(text, 'proxy.yaml: listeners[0].port: must be between 0 and 65535; got 70000\nproxy.yaml: (yaml) line 3, column 5: Map keys must be unique');
  });
});

describe('deepFreeze', () => {
  test('freezes nested objects and arrays and returns its argument', () => {
    const value = { a: [{ b: 1 }], c: { d: { e: 'f' } } };
    assert.equal(deepFreeze(value), value);
    assert.ok(Object.isFrozen(value.a) && Object.isFrozen(value.a[0]) && Object.isFrozen(value.c.d));
  });

  test('copes with cycles', () => {
    const a: { self?: unknown } = {};
    a.self = a;
    deepFreeze(a);
    assert.ok(Object.isFrozen(a));
  });
});
