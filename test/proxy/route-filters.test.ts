// Gateway API rule features through the real proxy: matches on method, query and host,
// header modifiers, URL rewrite, redirects, mirrors and weighted backends.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

describe('route rules', () => {
  let proxy: ProxyProcess;
  let a: Upstream;
  let b: Upstream;
  let shadow: Upstream;
  let base: string;

  before(async () => {
    [a, b, shadow] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('shadow')]);
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: hosts
    hostnames: ["*.example.com"]
    rules:
      - backendRefs: [{ name: b }]
  - name: r
    rules:
      - matches: [{ path: { type: Exact, value: /by-method }, method: DELETE }]
        backendRefs: [{ name: b }]
      - matches: [{ path: { type: Exact, value: /by-query }, queryParams: [{ name: v, value: "2" }] }]
        backendRefs: [{ name: b }]
      - matches: [{ path: { type: RegularExpression, value: "/users/[0-9]+" } }]
        backendRefs: [{ name: b }]
      - matches: [{ path: { type: PathPrefix, value: /headers } }]
        filters:
          - type: RequestHeaderModifier
            requestHeaderModifier: { set: [{ name: x-set, value: s }], add: [{ name: x-add, value: two }], remove: [x-drop] }
          - type: ResponseHeaderModifier
            responseHeaderModifier: { set: [{ name: x-resp, value: r }], remove: [x-upstream] }
        backendRefs: [{ name: a }]
      - matches: [{ path: { type: PathPrefix, value: /old } }]
        filters:
          - type: URLRewrite
            urlRewrite: { hostname: new.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }
        backendRefs: [{ name: a }]
      - matches: [{ path: { type: PathPrefix, value: /moved } }]
        filters:
          - type: RequestRedirect
            requestRedirect: { scheme: https, hostname: elsewhere.example.com, statusCode: 301 }
      - matches: [{ path: { type: PathPrefix, value: /mirrored } }]
        filters:
          - type: RequestMirror
            requestMirror: { backendRef: { name: shadow } }
        backendRefs: [{ name: a }]
      - matches: [{ path: { type: PathPrefix, value: /per-backend } }]
        backendRefs:
          - name: a
            filters:
              - type: RequestHeaderModifier
                requestHeaderModifier: { set: [{ name: x-backend, value: a }], remove: [x-drop] }
              - type: ResponseHeaderModifier
                responseHeaderModifier: { add: [{ name: x-served-by, value: a }] }
      - matches: [{ path: { type: PathPrefix, value: /split } }]
        backendRefs: [{ name: a, weight: 3 }, { name: b, weight: 1 }]
      - backendRefs: [{ name: a }]
backends:
  - { name: a, endpoints: [{ address: 127.0.0.1, port: ${a.port} }] }
  - { name: b, endpoints: [{ address: 127.0.0.1, port: ${b.port} }] }
  - { name: shadow, endpoints: [{ address: 127.0.0.1, port: ${shadow.port} }] }
`);
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([a.close(), b.close(), shadow.close()]);
  });

  const call = async (path: string, opts: { method?: string; headers?: Record<string, string> } = {}) => {
    const res = await request(base + path, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text.startsWith('{') ? JSON.parse(text) : null };
  };

  test('matches on method, query parameter and regular expression', async () => {
    assert.equal((await call('/by-method', { method: 'DELETE' })).json.name, 'b');
    assert.equal((await call('/by-method')).json.name, 'a');
    assert.equal((await call('/by-query?v=2')).json.name, 'b');
    assert.equal((await call('/by-query?v=3')).json.name, 'a');
    assert.equal((await call('/users/42')).json.name, 'b');
    assert.equal((await call('/users/42/x')).json.name, 'a');
  });

  test('matches wildcard hostnames before routes without hostnames', async () => {
    assert.equal((await call('/by-method', { headers: { host: 'shop.example.com' } })).json.name, 'b');
    assert.equal((await call('/anything', { headers: { host: 'example.com' } })).json.name, 'a');
  });

  test('sets, adds and removes request and response headers', async () => {
    const r = await call('/headers', { headers: { 'x-add': 'one', 'x-drop': 'gone', 'x-set': 'old' } });
    assert.equal(r.json.headers['x-set'], 's');
    assert.equal(r.json.headers['x-add'], 'one, two');
    assert.equal(r.json.headers['x-drop'], undefined);
    assert.equal(r.headers['x-resp'], 'r');
    assert.equal(r.headers['x-upstream'], undefined);
  });

  test('rewrites the host and the matched prefix', async () => {
    const r = await call('/old/page?q=1');
    assert.equal(r.json.url, '/new/page?q=1');
    assert.equal(r.json.headers.host, 'new.internal');
  });

  test('redirects without contacting a backend', async () => {
    const r = await call('/moved/here?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://elsewhere.example.com/moved/here?x=1');
  });

  test('mirrors a request to the shadow backend and answers from the real one', async () => {
    const r = await call('/mirrored/1');
    assert.equal(r.json.name, 'a');
    const copy = await waitFor(() => shadow.seen.find((s) => s.url === '/mirrored/1'));
    assert.match(String(copy.headers.host), /-shadow$/);
  });

  test("a backendRef's own header filters change the requests sent to it and its responses", async () => {
    const r = await call('/per-backend', { headers: { 'x-drop': 'gone' } });
    assert.equal(r.json.headers['x-backend'], 'a');
    assert.equal(r.json.headers['x-drop'], undefined);
    assert.equal(r.headers['x-served-by'], 'a');
    assert.equal((await call('/other')).json.headers['x-backend'], undefined, 'only on that rule');
  });

  test('splits traffic by backend weight', async () => {
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) counts[(await call('/split')).json.name]++;
    const share = counts.a / 400;
    assert.ok(share > 0.65 && share < 0.85, `a got ${share * 100}% (expected ~75%)`);
  });
});
