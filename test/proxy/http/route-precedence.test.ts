// Gateway API precedence, compiled once: the most specific match wins whatever the order
// the rules were written in; ties go to the first route and rule.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import { compileRouteTable, type RouteRequest } from '../../../proxy/http/route-table.ts';

function table(routesYaml: string, listener = 'main') {
  const r = parseStaticConfig(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }, { name: other, address: 127.0.0.1, port: 0, protocol: http }]
backends: [{ name: a, endpoints: [] }, { name: b, endpoints: [] }, { name: c, endpoints: [] }, { name: d, endpoints: [] }]
${routesYaml}`);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return compileRouteTable(r.value.routes, listener);
}

const req = (path: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({ host: 'svc', path, query: '', method: 'GET', headers: {}, ...extra });
const backendOf = (t: ReturnType<typeof table>, r: RouteRequest) => t.match(r)?.rule.backendRefs[0]?.name;

describe('route precedence', () => {
  const canary = table(`
routes:
  - name: r
    rules:
      - backendRefs: [{ name: d }]
      - matches: [{ path: { type: PathPrefix, value: /api } }]
        backendRefs: [{ name: b }]
      - matches: [{ path: { type: PathPrefix, value: /api }, headers: [{ name: x-canary, value: "1" }] }, { headers: [{ name: x-canary, value: "1" }] }]
        backendRefs: [{ name: c }]
`);

  test('a header match beats the same prefix without one', () => {
    assert.equal(backendOf(canary, req('/api/x', { headers: { 'x-canary': '1' } })), 'c');
    assert.equal(backendOf(canary, req('/', { headers: { 'x-canary': '1' } })), 'c');
  });
  test('a longer prefix beats a shorter one written first', () => {
    assert.equal(backendOf(canary, req('/api/x')), 'b');
    assert.equal(backendOf(canary, req('/other')), 'd');
  });
  test('matches prefixes by whole segments', () => {
    assert.equal(backendOf(canary, req('/api')), 'b');
    assert.equal(backendOf(canary, req('/apix')), 'd');
  });

  const kinds = table(`
routes:
  - name: r
    rules:
      - matches: [{ path: { type: PathPrefix, value: /users } }]
        backendRefs: [{ name: a }]
      - matches: [{ path: { type: RegularExpression, value: "/users/[0-9]+" } }]
        backendRefs: [{ name: b }]
      - matches: [{ path: { type: Exact, value: /users/42 } }]
        backendRefs: [{ name: c }]
      - matches: [{ path: { type: PathPrefix, value: /users }, method: POST }]
        backendRefs: [{ name: d }]
`);
  test('Exact beats RegularExpression beats PathPrefix', () => {
    assert.equal(backendOf(kinds, req('/users/42')), 'c');
    assert.equal(backendOf(kinds, req('/users/7')), 'b');
    assert.equal(backendOf(kinds, req('/users/x')), 'a');
  });
  test('a method match beats the same path without one', () => {
    assert.equal(backendOf(kinds, req('/users/x', { method: 'POST' })), 'd');
  });

  const hosts = table(`
routes:
  - name: any
    rules: [{ backendRefs: [{ name: a }] }]
  - name: wild
    hostnames: ["*.example.com"]
    rules: [{ backendRefs: [{ name: b }] }]
  - name: exact
    hostnames: ["api.example.com"]
    rules: [{ backendRefs: [{ name: c }] }]
  - name: elsewhere
    parentRefs: [{ name: other }]
    rules: [{ matches: [{ path: { type: Exact, value: /only-other } }], backendRefs: [{ name: d }] }]
`);
  test('an exact hostname beats a wildcard beats no hostname, ignoring case and port', () => {
    assert.equal(backendOf(hosts, req('/', { host: 'API.example.com:8080' })), 'c');
    assert.equal(backendOf(hosts, req('/', { host: 'www.example.com' })), 'b');
    assert.equal(backendOf(hosts, req('/', { host: 'example.com' })), 'a');
  });
  test('leaves out routes attached to another listener', () => {
    assert.equal(backendOf(hosts, req('/only-other')), 'a');
  });

  test('matches query parameters and repeated headers', () => {
    const t = table(`
routes:
  - name: r
    rules:
      - matches: [{ queryParams: [{ name: v, value: "2" }] }]
        backendRefs: [{ name: b }]
      - matches: [{ headers: [{ type: RegularExpression, name: x-tier, value: "gold|platinum" }] }]
        backendRefs: [{ name: c }]
      - backendRefs: [{ name: a }]
`);
    assert.equal(backendOf(t, req('/', { query: 'v=2&v=3' })), 'b');
    assert.equal(backendOf(t, req('/', { query: 'v=3' })), 'a');
    assert.equal(backendOf(t, req('/', { headers: { 'x-tier': 'silver, gold' } })), 'c');
  });

  test('picks weighted backends in proportion and never a zero weight', () => {
    const t = table(`
routes:
  - name: r
    rules: [{ backendRefs: [{ name: a, weight: 1 }, { name: b, weight: 3 }, { name: c, weight: 0 }] }]
`);
    const m = t.match(req('/'))!;
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const name = m.pickBackend(() => i / 1000)!.name;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.deepEqual(counts, { a: 250, b: 750 });
  });
});
