// AuthorizationPolicy on mTLS inbound listeners of a real proxy, in front of a real app:
// callers are workloads presenting certificates our CA issued, straight to the listener,
// one connection per request, so each request is decided on exactly that peer's SPIFFE ID.
// A denied request is answered 403 by the proxy and never reaches the app.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Ca } from '../../../certs/index.ts';
import { issue, newCa, tempDir, writeIdentity, type Svid } from '../../helpers/mesh-pki.ts';
import { appProxyConfig, authorizationPolicy } from '../../helpers/mesh-policy.ts';
import { mtlsRequest, replyOf, type Reply } from '../../helpers/mtls-client.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

const API = 'spiffe://mesh.example/ns/shop/sa/api';
const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const BATCH = 'spiffe://mesh.example/ns/shop/sa/batch';
const DETAILS = 'x-sluice-details';
const NONE_MATCHED = 'rbac_access_denied_matched_policy[none]';

const STRICT = { tls: { mode: 'STRICT' } };

/** The app's proxy: one listener per policy setup, all in front of the same app. */
const apiConfig = appProxyConfig;

/** A config whose only ALLOW policy on the STRICT listener `in` admits `identity`. */
function reloadableConfig(appPort: number, identity: string): string {
  return apiConfig(appPort, { in: STRICT }, [authorizationPolicy('allow-one', ['in'], { rules: [{ from: [{ identities: [identity] }] }] })]);
}

describe('AuthorizationPolicy on an mTLS inbound listener', () => {
  const dir = tempDir('sluice-authz-');
  let ca: Ca;
  let app: Upstream;
  let api: ProxyProcess;
  const svids = new Map<string, Svid>();

  /** The SVID of `id`, issued once by our CA. */
  const svid = (id: string): Svid => {
    let s = svids.get(id);
    if (s === undefined) svids.set(id, (s = issue(ca, id)));
    return s;
  };

  /** One request from workload `id` to `listener`; also says whether the app saw it. */
  async function call(listener: string, id: string, path: string, opts: { method?: string; headers?: Record<string, string | string[]> } = {}): Promise<Reply & { forwarded: boolean }> {
    const before = app.seen.length;
    const r = replyOf(await mtlsRequest(api.ports[listener], { svid: svid(id), bundle: ca.bundle, path, ...opts }));
    return { ...r, forwarded: app.seen.length > before };
  }

  function assertDenied(r: Reply & { forwarded: boolean }, policy: string | null, what: string): void {
    assert.equal(r.status, 403, `${what}: expected 403, got ${r.status} ${r.body}`);
    assert.equal(r.headers[DETAILS], policy === null ? NONE_MATCHED : `rbac_access_denied_matched_policy[${policy}]`, what);
    assert.equal(r.forwarded, false, `${what}: the app must never see a denied request`);
  }

  function assertAllowed(r: Reply & { forwarded: boolean }, what: string): void {
    assert.equal(r.status, 200, `${what}: expected 200, got ${r.status} ${r.body}`);
    assert.equal(r.forwarded, true, what);
  }

  before(async () => {
    ca = newCa();
    writeIdentity(join(dir, 'api'), issue(ca, API), ca.bundle);
    app = await startUpstream('app');
    const config = apiConfig(
      app.port,
      { 'by-id': STRICT, 'by-ns': STRICT, ops: STRICT, nothing: STRICT, permissive: { tls: { mode: 'PERMISSIVE' } } },
      [
        authorizationPolicy('allow-web', ['by-id', 'permissive'], { rules: [{ from: [{ identities: [WEB] }] }] }),
        authorizationPolicy('allow-shop', ['by-ns'], { rules: [{ from: [{ namespaces: ['shop'] }] }] }),
        authorizationPolicy('ops-allow', ['ops'], { action: 'ALLOW', rules: [{ from: [{ identities: [WEB] }], to: [{ methods: ['GET', 'POST'] }] }] }),
        authorizationPolicy('ops-deny', ['ops'], {
          action: 'DENY',
          rules: [
            { to: [{ paths: [{ type: 'PathPrefix', value: '/admin' }, { type: 'Exact', value: '/debug' }] }] },
            { to: [{ headers: [{ name: 'x-debug', value: 'on' }] }] },
            { to: [{ hosts: ['internal.example.com'] }] },
          ],
        }),
        authorizationPolicy('allow-nothing', ['nothing'], { rules: [] }),
      ],
    );
    writeFileSync(join(dir, 'api.yaml'), config);
    api = await startProxy(join(dir, 'api.yaml'));
  });

  after(async () => {
    await api?.stop();
    await app?.close();
  });

  test('admits the one identity an ALLOW policy names and answers 403 RBAC to another workload of the trust domain, which the app never sees', async () => {
    const ok = await call('by-id', WEB, '/by-id/web');
    assertAllowed(ok, 'web');
    assert.equal(app.seen.at(-1)!.headers['x-forwarded-client-cert'], `By=${API};URI=${WEB}`);

    assertDenied(await call('by-id', BATCH, '/by-id/batch'), null, 'batch, same trust domain and namespace');
    // Identities are compared whole: a name that starts like the allowed one is another workload.
    assertDenied(await call('by-id', `${WEB}x`, '/by-id/webx'), null, 'webx');
    assertDenied(await call('by-id', `${WEB}/admin`, '/by-id/web-admin'), null, 'web/admin');

    const line = await waitFor(() => api.accessLog().find((l) => l.path === '/by-id/batch'), 3000, 'access log line of the denied request');
    assert.equal(line.status, 403);
    assert.match(String(line.flags), /\bRBAC\b/);
    assert.equal(line.details, NONE_MATCHED);
    assert.equal(line.downstream_peer, BATCH);
    assert.equal(line.upstream, null, 'no backend was picked for a denied request');
  });

  test('namespaces: [shop] admits every workload of shop, and no peer whose ID only mentions shop elsewhere', async () => {
    assertAllowed(await call('by-ns', WEB, '/ns/web'), 'shop/web');
    assertAllowed(await call('by-ns', BATCH, '/ns/batch'), 'shop/batch');
    assertDenied(await call('by-ns', 'spiffe://mesh.example/ns/billing/sa/web', '/ns/billing'), null, 'billing/web');
    assertDenied(await call('by-ns', 'spiffe://mesh.example/ns/billing/sa/shop', '/ns/sa-shop'), null, 'service account named shop');
    assertDenied(await call('by-ns', 'spiffe://mesh.example/sa/x/ns/shop', '/ns/reordered'), null, '/sa/x/ns/shop');
    assertDenied(await call('by-ns', 'spiffe://mesh.example/ns/shop/sa/web/extra', '/ns/longer'), null, 'a path longer than /ns/<ns>/sa/<sa>');
    assertDenied(await call('by-ns', 'spiffe://mesh.example/ns/shopping/sa/web', '/ns/shopping'), null, 'namespace shopping');
  });

  test('a matching DENY policy refuses what the ALLOW policy admits', async () => {
    assertAllowed(await call('ops', WEB, '/orders'), 'web GET /orders');
    assertDenied(await call('ops', WEB, '/admin'), 'ops-deny', 'web GET /admin');
    // The DENY policy answers first, whoever asks.
    assertDenied(await call('ops', BATCH, '/admin'), 'ops-deny', 'batch GET /admin');
    assertDenied(await call('ops', BATCH, '/orders'), null, 'batch GET /orders');
  });

  test('methods: only the methods the ALLOW rule lists get through', async () => {
    assertAllowed(await call('ops', WEB, '/orders', { method: 'GET' }), 'GET');
    assertAllowed(await call('ops', WEB, '/orders', { method: 'POST' }), 'POST');
    assertDenied(await call('ops', WEB, '/orders', { method: 'PUT' }), null, 'PUT');
    assertDenied(await call('ops', WEB, '/orders', { method: 'DELETE' }), null, 'DELETE');
  });

  test('paths: Exact is the one path, PathPrefix whole segments; both see the normalized path and ignore the query', async () => {
    assertDenied(await call('ops', WEB, '/debug'), 'ops-deny', 'Exact /debug');
    assertDenied(await call('ops', WEB, '/debug?verbose=1'), 'ops-deny', 'Exact /debug with a query');
    assertAllowed(await call('ops', WEB, '/debug/'), 'Exact /debug does not match /debug/');
    assertAllowed(await call('ops', WEB, '/debug/x'), 'Exact /debug does not match /debug/x');
    assertDenied(await call('ops', WEB, '/admin/'), 'ops-deny', 'PathPrefix /admin: /admin/');
    assertDenied(await call('ops', WEB, '/admin/users/1'), 'ops-deny', 'PathPrefix /admin: /admin/users/1');
    assertDenied(await call('ops', WEB, '/orders/../admin/users'), 'ops-deny', 'dot segments resolve before matching');
    assertAllowed(await call('ops', WEB, '/administrator'), 'PathPrefix /admin does not match /administrator');
  });

  test('headers: a DENY rule on x-debug: on matches that value, also beside another one', async () => {
    assertDenied(await call('ops', WEB, '/orders', { headers: { 'x-debug': 'on' } }), 'ops-deny', 'x-debug: on');
    assertDenied(await call('ops', WEB, '/orders', { headers: { 'x-debug': ['off', 'on'] } }), 'ops-deny', 'x-debug: off + x-debug: on');
    assertAllowed(await call('ops', WEB, '/orders', { headers: { 'x-debug': 'off' } }), 'x-debug: off');
  });

  test('hosts: a DENY rule on internal.example.com ignores case, port and a trailing dot, and matches no other host', async () => {
    for (const host of ['internal.example.com', 'INTERNAL.Example.com', 'internal.example.com:8443', 'internal.example.com.']) {
      assertDenied(await call('ops', WEB, '/orders', { headers: { host } }), 'ops-deny', `Host: ${host}`);
    }
    for (const host of ['api.example.com', 'x.internal.example.com', 'internal.example.com.evil']) {
      assertAllowed(await call('ops', WEB, '/orders', { headers: { host } }), `Host: ${host}`);
    }
  });

  test('an ALLOW policy with rules: [] answers 403 to every peer', async () => {
    assertDenied(await call('nothing', WEB, '/nothing'), null, 'web');
    assertDenied(await call('nothing', BATCH, '/nothing'), null, 'batch');
    assertDenied(await call('nothing', API, '/nothing'), null, 'the proxy\'s own identity');
  });

  test('on a PERMISSIVE listener a plaintext caller has no identity, so an identities rule never admits it', async () => {
    const before = app.seen.length;
    const plain = await fetch(`http://127.0.0.1:${api.ports.permissive}/permissive/plain`, { headers: { 'x-forwarded-client-cert': `By=${API};URI=${WEB}` } });
    assert.equal(plain.status, 403, await plain.text());
    // Why is told to meshed callers only; the access log still has it.
    assert.equal(plain.headers.get(DETAILS), null);
    assert.equal(app.seen.length, before, 'the app never sees it');
    assertAllowed(await call('permissive', WEB, '/permissive/mtls'), 'web over mTLS on the same port');
    const line = await waitFor(() => api.accessLog().find((l) => l.path === '/permissive/plain'), 3000, 'access log line of the plaintext request');
    assert.equal(line.downstream_peer, null);
    assert.match(String(line.flags), /\bRBAC\b/);
    assert.equal(line.details, NONE_MATCHED);
  });

  test('a SIGHUP reload that changes the policy takes effect on the running proxy', async () => {
    const reloadDir = tempDir('sluice-authz-reload-');
    writeIdentity(join(reloadDir, 'api'), issue(ca, API), ca.bundle);
    const file = join(reloadDir, 'api.yaml');
    writeFileSync(file, reloadableConfig(app.port, WEB));
    const p = await startProxy(file);
    try {
      const ask = async (id: string, path: string) => replyOf(await mtlsRequest(p.ports.in, { svid: svid(id), bundle: ca.bundle, path }));
      assert.equal((await ask(WEB, '/reload/web-before')).status, 200);
      assert.equal((await ask(BATCH, '/reload/batch-before')).status, 403);

      writeFileSync(file, reloadableConfig(app.port, BATCH));
      const reloads = () => p.stderr().split('\n').filter((l) => l.includes('"msg":"config reloaded"')).length;
      p.child.kill('SIGHUP');
      await waitFor(() => reloads() === 1, 10_000, "the 'config reloaded' log line");
      assert.equal(p.child.exitCode, null, 'the same process goes on serving');

      const web = await ask(WEB, '/reload/web-after');
      assert.equal(web.status, 403);
      assert.equal(web.headers[DETAILS], NONE_MATCHED);
      assert.equal((await ask(BATCH, '/reload/batch-after')).status, 200);
      assert.deepEqual(
        app.seen.filter((s) => s.url.startsWith('/reload/')).map((s) => s.url),
        ['/reload/web-before', '/reload/batch-after'],
      );
    } finally {
      await p.stop();
    }
  });
});
