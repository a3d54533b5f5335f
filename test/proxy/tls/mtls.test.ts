// mTLS between two real proxy processes on 127.0.0.1, with certificates our CA made:
// web's proxy (outbound, plaintext from the app) -> mTLS h2 -> api's proxy (inbound) -> app.
// Who may connect, what the app learns about the caller, and what is refused.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as createTcpConnection, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { mergeBundles, type Ca } from '../../../certs/index.ts';
import { clientContext, issue, newCa, tempDir, writeIdentity } from '../../helpers/mesh-pki.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { sendRaw } from '../../helpers/raw.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const API = 'spiffe://mesh.example/ns/shop/sa/api';
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

/** api's proxy: a STRICT mTLS HTTP listener, a PERMISSIVE one, and a STRICT TCP one, in front of the app. */
function apiConfig(appPort: number, echoPort: number, wsPort: number): string {
  return `
identity: { dir: api }
listeners:
  - { name: inbound, address: 127.0.0.1, port: 0, protocol: http, tls: { mode: STRICT } }
  - { name: permissive, address: 127.0.0.1, port: 0, protocol: http, tls: { mode: PERMISSIVE } }
  - { name: tcp-in, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo, tls: { mode: STRICT } }
routes:
  - name: all
    rules:
      - backendRefs: [{ name: app }]
      - { matches: [{ path: { type: PathPrefix, value: /chat } }], backendRefs: [{ name: ws }] }
backends:
  - { name: app, endpoints: [{ address: 127.0.0.1, port: ${appPort} }] }
  - { name: echo, endpoints: [{ address: 127.0.0.1, port: ${echoPort} }] }
  - { name: ws, endpoints: [{ address: 127.0.0.1, port: ${wsPort} }] }
`;
}

/** web's proxy: plaintext listeners for its app, backends reaching api's proxy over mTLS. */
function webConfig(api: ProxyProcess, expected = API): string {
  return `
identity: { dir: web }
listeners:
  - { name: outbound, address: 127.0.0.1, port: 0, protocol: http }
  - { name: tcp-out, address: 127.0.0.1, port: 0, protocol: tcp, backend: api-tcp }
routes: [{ name: all, rules: [{ backendRefs: [{ name: api }] }] }]
backends:
  - name: api
    tls: { identities: [${expected}] }
    endpoints: [{ address: 127.0.0.1, port: ${api.ports.inbound} }]
  - name: api-tcp
    tls: { identities: [${expected}] }
    endpoints: [{ address: 127.0.0.1, port: ${api.ports['tcp-in']} }]
`;
}

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

async function get(port: number, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** One request over a fresh TLS connection straight to a listener, as a peer proxy would send it. */
function tlsRequest(port: number, context: tls.SecureContext): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, secureContext: context, servername: 'api', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
    let data = '';
    socket.once('secureConnect', () => socket.write('GET /direct HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'));
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.once('error', (err) => resolve({ error: err.message }));
    socket.once('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve(m === null ? { error: `closed without an answer${data === '' ? '' : `: ${data.slice(0, 80)}`}` } : { status: Number(m[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('mTLS between proxies', () => {
  const dir = tempDir('sluice-mtls-');
  let ca: Ca;
  let app: Upstream;
  let echo: ReturnType<typeof createTcpServer>;
  let ws: ReturnType<typeof createTcpServer>;
  let api: ProxyProcess;
  let web: ProxyProcess;

  before(async () => {
    ca = newCa();
    writeIdentity(join(dir, 'api'), issue(ca, API), ca.bundle);
    writeIdentity(join(dir, 'web'), issue(ca, WEB), ca.bundle);
    app = await startUpstream('app');
    echo = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    // A WebSocket-ish app: takes the upgrade, then echoes bytes upper-cased.
    ws = createTcpServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()));
      });
    });
    await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
    api = await startProxy(writeFile(dir, 'api.yaml', apiConfig(app.port, (echo.address() as AddressInfo).port, (ws.address() as AddressInfo).port)));
    web = await startProxy(writeFile(dir, 'web.yaml', webConfig(api)));
  });

  after(async () => {
    await Promise.all([web?.stop(), api?.stop()]);
    await app?.close();
    echo?.close();
    ws?.close();
  });

  test("an HTTP/1.1 call crosses as h2 over mTLS, and the app learns the caller's SPIFFE ID", async () => {
    const before = app.seen.length;
    const r = await get(web.ports.outbound, '/hello', { 'x-forwarded-client-cert': 'By=spiffe://evil/x;URI=spiffe://mesh.example/ns/shop/sa/admin' });
    assert.equal(r.status, 200);
    const seen = app.seen[before];
    assert.equal(seen.url, '/hello');
    // The client's own claim is gone; the one the inbound proxy vouches for is there.
    assert.equal(seen.headers['x-forwarded-client-cert'], `By=${API};URI=${WEB}`);
    await waitForAccessLog(api, (l) => l.path === '/hello');
    const line = api.accessLog().find((l) => l.path === '/hello')!;
    assert.equal(line.downstream_peer, WEB);
    assert.equal(line.protocol, 'HTTP/2', 'proxies speak h2 to each other whatever the app speaks');
    const clusters = await web.clusters();
    assert.equal(clusters.find((c) => c.name === 'api')!.protocol, 'mtls-h2');
  });

  test('a plaintext connection to a STRICT listener is refused before any byte reaches the app', async () => {
    const before = app.seen.length;
    const r = await sendRaw(api.ports.inbound, 'GET /plain HTTP/1.1\r\nhost: api\r\n\r\n');
    assert.equal(r.response, '');
    assert.ok(r.closed);
    assert.equal(app.seen.length, before);
    const metrics = await (await fetch(`http://127.0.0.1:${api.statsPort}/stats/prometheus`)).text();
    assert.match(metrics, /sluice_downstream_mtls_refused_total\{listener="inbound"\} [1-9]/);
    await api.waitForLog(/mTLS connection refused.*STRICT/);
  });

  test('a server with the right CA but the wrong SPIFFE ID is refused by the caller (503 UF), and never sees the request', async () => {
    const other = await startProxy(writeFile(dir, 'web-wrong.yaml', webConfig(api, 'spiffe://mesh.example/ns/shop/sa/payments')));
    try {
      const before = app.seen.length;
      const r = await get(other.ports.outbound, '/wrong-peer');
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-sluice-details'], 'upstream_connect_failure');
      assert.equal(app.seen.length, before);
      await waitForAccessLog(other, (l) => l.path === '/wrong-peer');
      assert.match(String(other.accessLog().find((l) => l.path === '/wrong-peer')!.flags), /UF/);
      await other.waitForLog(/the peer is spiffe:\/\/mesh\.example\/ns\/shop\/sa\/api, not spiffe:\/\/mesh\.example\/ns\/shop\/sa\/payments/);
    } finally {
      await other.stop();
    }
  });

  test('active health checks reach a peer proxy over mTLS too', async () => {
    const checked = await startProxy(
      writeFile(
        dir,
        'web-checked.yaml',
        `${webConfig(api)}
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: check-api }
    spec:
      targetRefs: [{ kind: Backend, name: api }]
      healthCheck: { path: /healthz, interval: 100ms, timeout: 2s, healthyThreshold: 1, unhealthyThreshold: 1 }
`,
      ),
    );
    try {
      await waitForAccessLog(api, (l) => l.path === '/healthz' && l.status === 200);
      const line = api.accessLog().find((l) => l.path === '/healthz')!;
      assert.equal(line.downstream_peer, WEB);
      const endpoint = (await checked.clusters()).find((c) => c.name === 'api')!.endpoints[0];
      assert.equal(endpoint.health, 'healthy', JSON.stringify(endpoint));
    } finally {
      await checked.stop();
    }
  });

  test('a client whose certificate another CA signed is refused in the handshake', async () => {
    const stranger = newCa();
    const r = await tlsRequest(api.ports.inbound, clientContext(issue(stranger, WEB), ca.bundle));
    assert.ok('error' in r, `expected a refusal, got ${JSON.stringify(r)}`);
    const none = await tlsRequest(api.ports.inbound, tls.createSecureContext({ ca: ca.bundle }));
    assert.ok('error' in none, 'a client without a certificate is refused too');
  });

  test('a peer signed by our CA is let in over TLS 1.3 and over TLS 1.2; TLS 1.1 is refused', async () => {
    const svid = issue(ca, WEB);
    // Versions are context options: a context per version range.
    const versions = (minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion) => tls.createSecureContext({ cert: svid.cert, key: svid.key, ca: ca.bundle, minVersion, maxVersion });
    const status = (r: { status: number } | { error: string }) => ('status' in r ? r.status : r.error);
    assert.equal(status(await tlsRequest(api.ports.inbound, versions('TLSv1.3', 'TLSv1.3'))), 200);
    assert.equal(status(await tlsRequest(api.ports.inbound, versions('TLSv1.2', 'TLSv1.2'))), 200);
    const old = await tlsRequest(api.ports.inbound, versions('TLSv1', 'TLSv1.1'));
    assert.ok('error' in old, `TLS 1.1 was accepted: ${JSON.stringify(old)}`);
  });

  test('PERMISSIVE takes mTLS and plaintext on one port; only mTLS callers get an identity', async () => {
    const before = app.seen.length;
    const plain = await get(api.ports.permissive, '/plain', { 'x-forwarded-client-cert': `URI=${WEB}` });
    assert.equal(plain.status, 200);
    assert.equal(app.seen[before].headers['x-forwarded-client-cert'], undefined, "a plaintext caller's claim is dropped");
    const secure = await tlsRequest(api.ports.permissive, clientContext(issue(ca, WEB), ca.bundle));
    assert.ok('status' in secure && secure.status === 200);
    assert.equal(app.seen[before + 1].headers['x-forwarded-client-cert'], `By=${API};URI=${WEB}`);
  });

  test('a WebSocket upgrade crosses over mTLS (ALPN http/1.1) both ways, with the caller known', async () => {
    const s = createTcpConnection(web.ports.outbound, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.write('GET /chat HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await waitUntil(() => got.includes('\r\n\r\n'));
    assert.match(got, /^HTTP\/1\.1 101/);
    s.write('ping over two proxies');
    await waitUntil(() => got.includes('PING OVER TWO PROXIES'));
    s.destroy();
    await waitForAccessLog(api, (l) => l.path === '/chat');
    const line = api.accessLog().find((l) => l.path === '/chat')!;
    assert.equal(line.downstream_peer, WEB);
    assert.equal(line.protocol, 'HTTP/1.1');
  });

  test('opaque TCP crosses over mTLS byte for byte', async () => {
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const got = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      const s = createTcpConnection(web.ports['tcp-out'], '127.0.0.1', () => s.end(payload));
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (n >= payload.length) s.destroy();
      });
      s.once('close', () => resolve(Buffer.concat(chunks)));
      s.once('error', reject);
    });
    assert.ok(got.equals(payload));
  });

  test('openssl s_client completes the mTLS handshake with TLS 1.3, ALPN h2, and verifies the chain', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
    const r = spawnSync(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${api.ports.inbound}`, '-cert', join(dir, 'web', 'cert.pem'), '-key', join(dir, 'web', 'key.pem'), '-CAfile', join(dir, 'web', 'bundle.pem'), '-alpn', 'h2', '-verify_return_error'],
      { input: '', encoding: 'utf8', timeout: 10_000 },
    );
    const out = `${r.stdout}\n${r.stderr}`;
    assert.match(out, /New, TLSv1\.3/);
    assert.match(out, /ALPN protocol: h2/);
    assert.match(out, /Verify return code: 0 \(ok\)/);
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'api', 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(text, new RegExp(`URI:${API.replaceAll('/', '\\/')}`));
  });

  test('ECDSA P-256 by default; during a move off an RSA CA (both roots in the bundle) an older proxy with an RSA SVID and an ECDSA one call each other', { skip: hasOpenssl ? false : 'openssl is not installed' }, async () => {
    const ecdsa = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${api.ports.inbound}`, '-cert', join(dir, 'web', 'cert.pem'), '-key', join(dir, 'web', 'key.pem'), '-CAfile', join(dir, 'web', 'bundle.pem'), '-verify_return_error'], { input: '', encoding: 'utf8', timeout: 10_000 });
    assert.match(`${ecdsa.stdout}${ecdsa.stderr}`, /Peer signature type: ECDSA/);
    assert.match(`${ecdsa.stdout}${ecdsa.stderr}`, /Verify return code: 0 \(ok\)/);

    const rsaCa = newCa('mesh.example', Date.now(), 'rsa-2048');
    const bundle = mergeBundles(rsaCa.bundle, ca.bundle);
    writeIdentity(join(dir, 'api-ecdsa'), issue(ca, API), bundle);
    writeIdentity(join(dir, 'api-rsa'), issue(rsaCa, API, { keyType: 'rsa-2048' }), bundle);
    writeIdentity(join(dir, 'web-rsa'), issue(rsaCa, WEB, { keyType: 'rsa-2048' }), bundle);
    const apiAt = (name: string) => startProxy(writeFile(dir, `${name}.yaml`, apiConfig(app.port, (echo.address() as AddressInfo).port, (ws.address() as AddressInfo).port).replace('identity: { dir: api }', `identity: { dir: ${name} }`)));
    // The two api proxies start at once; whatever started is stopped, whatever failed.
    const pair = await Promise.allSettled([apiAt('api-ecdsa'), apiAt('api-rsa')]);
    const started = pair.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      if (started.length < 2) throw (pair.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
      const [apiEcdsa, apiRsa] = started;
      const webRsa = await startProxy(writeFile(dir, 'web-rsa.yaml', webConfig(apiEcdsa).replace('identity: { dir: web }', 'identity: { dir: web-rsa }')));
      started.push(webRsa);
      // The RSA proxy calls the ECDSA one ...
      const before = app.seen.length;
      assert.equal((await get(webRsa.ports.outbound, '/rsa-to-ecdsa')).status, 200);
      assert.equal(app.seen[before].headers['x-forwarded-client-cert'], `By=${API};URI=${WEB}`);
      // ... and an ECDSA client is let in by an RSA proxy.
      const r = await tlsRequest(apiRsa.ports.inbound, clientContext(issue(ca, WEB), bundle));
      assert.ok('status' in r && r.status === 200, JSON.stringify(r));
    } finally {
      await Promise.all(started.map((p) => p.stop()));
    }
  });

  test("/certs shows the proxy's identity and validity", async () => {
    const certs = (await (await fetch(`http://127.0.0.1:${api.adminPort}/certs`)).json()) as { certificate: { identity: string; roots: number; expiresInSeconds: number } };
    assert.equal(certs.certificate.identity, API);
    assert.equal(certs.certificate.roots, 1);
    assert.ok(certs.certificate.expiresInSeconds > 3600);
  });
});

function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'timed out waiting');
}

async function waitForAccessLog(p: ProxyProcess, pred: (l: Record<string, unknown>) => boolean): Promise<void> {
  for (let i = 0; i < 500 && !p.accessLog().some(pred); i++) await new Promise((r) => setTimeout(r, 20));
}
