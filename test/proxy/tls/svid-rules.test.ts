// Certificates a mesh must not accept from a peer, though TLS does: each chains to a root of
// the bundle, and OpenSSL completes the handshake. The X.509-SVID standard and the trust
// domain refuse them: a leaf that is a CA (basicConstraints cA:TRUE, keyUsage keyCertSign
// or cRLSign), a SPIFFE ID of another trust domain (from our CA, or from another trust
// domain's CA whose root sits in the bundle), a root of another trust domain speaking for
// ours, and anything but exactly one spiffe:// URI SAN naming a workload. Real proxies
// check them on both sides of mTLS: the inbound listener drops the caller (node:tls and
// openssl s_client as clients) and logs why, nothing reaches the app; the outbound side
// answers 503 UF and logs why, nothing reaches the peer. A good certificate next to the
// bad ones still works.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { mergeBundles, type Ca } from '../../../certs/index.ts';
import { forgeCertificate, SAN } from '../../helpers/forged-cert.ts';
import { issue, newCa, tempDir, writeIdentity, type Svid } from '../../helpers/mesh-pki.ts';
import { mtlsRequest } from '../../helpers/mtls-client.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

const TD = 'mesh.example';
const API = `spiffe://${TD}/ns/shop/sa/api`;
const WEB = `spiffe://${TD}/ns/shop/sa/web`;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

type Bad = {
  readonly what: string;
  /** Makes the certificate for a workload that says it is `id`. */
  readonly make: (id: string) => Svid;
  /** The ID the certificate names, when one: the outbound side expects it, so only the rule can refuse it. */
  readonly names: (id: string) => string;
  /** The reason in the log. */
  readonly reason: RegExp;
  /** The reason in the outbound side's log, when it is not `reason`: TLS's own words for a chain it cannot verify. */
  readonly outReason?: RegExp;
};

/** A chain to a root of the bundle that is not our trust domain's: TLS does not trust that root for peers. */
const FOREIGN_ROOT = /does not chain to a root of our trust domain in the bundle \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)/;
const FOREIGN_ROOT_OUT = /unable to get local issuer certificate/;

const uri = (value: string) => ({ type: SAN.uri, value });

describe('X.509-SVID rules at the mTLS handshake', () => {
  const dir = tempDir('sluice-svid-rules-');
  let ca: Ca;
  /** Another trust domain's CA: its root is in every bundle here, so only the trust-domain rules stop what it signs. */
  let other: Ca;
  let bundle: string;
  let bad: Bad[];
  let app: Upstream;
  let echo: TcpServer;
  let echoed = 0;
  let api: ProxyProcess;

  before(async () => {
    ca = newCa(TD);
    other = newCa('other.example');
    bundle = mergeBundles(ca.bundle, other.bundle);
    const otherId = (id: string) => id.replace(`spiffe://${TD}/`, 'spiffe://other.example/');
    bad = [
      { what: 'a leaf with basicConstraints cA:TRUE', make: (id) => forgeCertificate(ca, { altNames: [uri(id)], ca: true }), names: (id) => id, reason: /is a CA certificate \(basicConstraints cA:TRUE\)/ },
      {
        what: 'a leaf with cA:TRUE, keyCertSign and cRLSign',
        make: (id) => forgeCertificate(ca, { altNames: [uri(id)], ca: true, keyUsage: { digitalSignature: true, keyCertSign: true, cRLSign: true } }),
        names: (id) => id,
        reason: /is a CA certificate/,
      },
      { what: 'a leaf whose keyUsage has keyCertSign', make: (id) => forgeCertificate(ca, { altNames: [uri(id)], keyUsage: { digitalSignature: true, keyEncipherment: true, keyCertSign: true } }), names: (id) => id, reason: /keyUsage allows keyCertSign,/ },
      { what: 'a leaf whose keyUsage has cRLSign', make: (id) => forgeCertificate(ca, { altNames: [uri(id)], keyUsage: { digitalSignature: true, cRLSign: true } }), names: (id) => id, reason: /keyUsage allows cRLSign,/ },
      { what: 'an ID of another trust domain, signed by our CA', make: (id) => forgeCertificate(ca, { altNames: [uri(otherId(id))] }), names: otherId, reason: /spiffe:\/\/other\.example\/ns\/shop\/sa\/\w+ is not in our trust domain mesh\.example/ },
      { what: "an ID of another trust domain, from that trust domain's CA (its root in the bundle)", make: (id) => issue(other, otherId(id)), names: otherId, reason: FOREIGN_ROOT, outReason: FOREIGN_ROOT_OUT },
      { what: "an ID of our trust domain, signed by another trust domain's CA (its root in the bundle)", make: (id) => forgeCertificate(other, { altNames: [uri(id)] }), names: (id) => id, reason: FOREIGN_ROOT, outReason: FOREIGN_ROOT_OUT },
      { what: 'two URI SANs', make: (id) => forgeCertificate(ca, { altNames: [uri(id), uri(`${id}-too`)] }), names: (id) => id, reason: /exactly one SPIFFE ID in a URI SAN; it names 2/ },
      { what: 'an https URI SAN', make: (id) => forgeCertificate(ca, { altNames: [uri(id.replace('spiffe://', 'https://'))] }), names: (id) => id, reason: /URI SAN is not a SPIFFE ID: a SPIFFE ID must start with 'spiffe:\/\/'/ },
      { what: 'a DNS SAN and no URI SAN', make: (id) => forgeCertificate(ca, { altNames: [{ type: SAN.dns, value: 'api.shop.svc' }], commonName: id }), names: (id) => id, reason: /exactly one SPIFFE ID in a URI SAN; it names 0/ },
      { what: 'the bare trust domain as its ID', make: () => forgeCertificate(ca, { altNames: [uri(`spiffe://${TD}`)] }), names: (id) => id, reason: /names a trust domain, not a workload/ },
    ];
    writeIdentity(join(dir, 'api'), issue(ca, API), bundle);
    app = await startUpstream('app');
    echo = createTcpServer((s) => {
      s.on('data', (d: Buffer) => (echoed += d.length));
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    api = await startProxy(
      writeFile(
        dir,
        'api.yaml',
        `
identity: { dir: api }
listeners:
  - { name: inbound, address: 127.0.0.1, port: 0, protocol: http, tls: { mode: STRICT } }
  - { name: tcp-in, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo, tls: { mode: STRICT } }
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends:
  - { name: app, endpoints: [{ address: 127.0.0.1, port: ${app.port} }] }
  - { name: echo, endpoints: [{ address: 127.0.0.1, port: ${(echo.address() as AddressInfo).port} }] }
`,
      ),
    );
  });

  after(async () => {
    await api?.stop();
    await app?.close();
    echo?.close();
  });

  test('inbound: each bad client certificate is dropped in the handshake, with the reason logged; nothing reaches the app', async () => {
    const before = app.seen.length;
    const good = await mtlsRequest(api.ports.inbound, { svid: issue(ca, WEB), bundle, path: '/good' });
    assert.ok('status' in good && good.status === 200, `a good certificate: ${JSON.stringify(good)}`);
    // One URI SAN beside other SAN types is an SVID too (the standard allows DNS names).
    const withDns = await mtlsRequest(api.ports.inbound, { svid: forgeCertificate(ca, { altNames: [uri(WEB), { type: SAN.dns, value: 'web.shop.svc' }] }), bundle, path: '/good-dns' });
    assert.ok('status' in withDns && withDns.status === 200, `one URI SAN and a DNS SAN: ${JSON.stringify(withDns)}`);
    for (const b of bad) {
      const r = await mtlsRequest(api.ports.inbound, { svid: b.make(WEB), bundle, path: '/bad' });
      assert.ok('error' in r, `${b.what}: the connection must be dropped, got ${JSON.stringify(r)}`);
      await api.waitForLog(new RegExp(`"msg":"mTLS connection refused".*"listener":"inbound".*${b.reason.source}`), 5000);
    }
    assert.deepEqual(
      app.seen.slice(before).map((s) => s.url),
      ['/good', '/good-dns'],
    );
  });

  test('inbound on a TCP listener: the bad certificates are dropped before a byte is forwarded', async () => {
    const refusedBefore = await refusedCount(api, 'tcp-in');
    const bytesBefore = echoed;
    assert.equal(await tcpEcho(api.ports['tcp-in'], issue(ca, WEB), bundle), 'hello', 'a good certificate');
    for (const b of bad) assert.equal(await tcpEcho(api.ports['tcp-in'], b.make(WEB), bundle), null, `${b.what}: bytes crossed`);
    assert.equal(echoed - bytesBefore, 'hello'.length);
    assert.equal((await refusedCount(api, 'tcp-in')) - refusedBefore, bad.length);
  });

  test('inbound with openssl s_client: the handshake is refused for each bad certificate, not for a good one', { skip: hasOpenssl ? false : 'openssl is not installed' }, async () => {
    const before = app.seen.length;
    writeFile(dir, 'bundle.pem', bundle);
    const run = (name: string, svid: Svid) => {
      writeFile(dir, `${name}.pem`, svid.cert);
      writeFile(dir, `${name}-key.pem`, svid.key);
      // -cert sends the leaf alone; -cert_chain adds the intermediate that follows it in the file.
      return opensslClient(
        ['s_client', '-connect', `127.0.0.1:${api.ports.inbound}`, '-cert', join(dir, `${name}.pem`), '-cert_chain', join(dir, `${name}.pem`), '-key', join(dir, `${name}-key.pem`), '-CAfile', join(dir, 'bundle.pem'), '-alpn', 'http/1.1', '-ign_eof', '-verify_return_error'],
        `GET /openssl-${name} HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n`,
      );
    };
    assert.match(await run('good', issue(ca, WEB)), /HTTP\/1\.1 200/);
    for (const [i, b] of bad.entries()) {
      const out = await run(`bad-${i}`, b.make(WEB));
      // OpenSSL verified the server and finished its side: only the proxy's rules stand in the way.
      assert.match(out, /Verify return code: 0 \(ok\)/, b.what);
      assert.doesNotMatch(out, /HTTP\/1\.1 \d{3}/, `${b.what}: the proxy answered`);
    }
    assert.deepEqual(
      app.seen.slice(before).map((s) => s.url),
      ['/openssl-good'],
    );
  });

  test('outbound: a peer proxy presenting a bad certificate gets 503 UF with the reason logged; it never sees the request', async () => {
    writeIdentity(join(dir, 'web'), issue(ca, WEB), bundle);
    const peers = [await fakePeer(issue(ca, API), bundle), ...(await Promise.all(bad.map((b) => fakePeer(b.make(API), bundle))))];
    const expected = [API, ...bad.map((b) => b.names(API))];
    const web = await startProxy(
      writeFile(
        dir,
        'web.yaml',
        `
identity: { dir: web }
listeners: [{ name: outbound, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: all
    rules:
${peers.map((_, i) => `      - { matches: [{ path: { type: PathPrefix, value: /peer-${i} } }], backendRefs: [{ name: peer-${i} }] }`).join('\n')}
backends:
${peers.map((p, i) => `  - { name: peer-${i}, tls: { identities: ["${expected[i]}"] }, endpoints: [{ address: 127.0.0.1, port: ${p.port} }] }`).join('\n')}
`,
      ),
    );
    try {
      const good = await fetch(`http://127.0.0.1:${web.ports.outbound}/peer-0`);
      assert.equal(good.status, 200, await good.text());
      assert.equal(peers[0].seen, 1);
      for (const [i, b] of bad.entries()) {
        const res = await fetch(`http://127.0.0.1:${web.ports.outbound}/peer-${i + 1}`);
        await res.arrayBuffer();
        assert.equal(res.status, 503, b.what);
        assert.equal(res.headers.get('x-sluice-details'), 'upstream_connect_failure', b.what);
        assert.equal(peers[i + 1].seen, 0, `${b.what}: the peer got the request`);
        await web.waitForLog(new RegExp(`"msg":"mTLS connection to an upstream failed","backend":"peer-${i + 1}".*${(b.outReason ?? b.reason).source}`), 5000);
      }
      await waitUntil(() => web.accessLog().filter((l) => String(l.path).startsWith('/peer-')).length === peers.length);
      for (const l of web.accessLog().filter((l) => String(l.path).startsWith('/peer-') && l.path !== '/peer-0')) assert.match(String(l.flags), /UF/, JSON.stringify(l));
    } finally {
      await web.stop();
      for (const p of peers) await p.close();
    }
  });
});

/** A peer proxy's mTLS listener as far as a caller can tell: h2 over TLS with `svid`, answering 200 to whatever reaches it. */
async function fakePeer(svid: Svid, bundle: string): Promise<{ port: number; readonly seen: number; close(): Promise<void> }> {
  let seen = 0;
  const server = http2.createSecureServer({ cert: svid.cert, key: svid.key, ca: bundle, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (_req, res) => {
    seen++;
    res.end('reached');
  });
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get seen() {
      return seen;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** openssl with `input` on stdin; stdout and stderr. Not spawnSync: the app this test runs must go on answering meanwhile. */
function opensslClient(args: string[], input: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    child.stdin.end(input);
  });
}

/** 'hello' through a TLS TCP listener and back, or null when the connection is dropped first. */
function tcpEcho(port: number, svid: Svid, bundle: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, cert: svid.cert, key: svid.key, ca: bundle, checkServerIdentity: () => undefined });
    let got = '';
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.once('secureConnect', () => socket.write('hello'));
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === 'hello') socket.end();
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(got === '' ? null : got);
    });
  });
}

async function refusedCount(p: ProxyProcess, listener: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.statsPort}/stats/prometheus`)).text();
  return Number(new RegExp(`sluice_downstream_mtls_refused_total\\{listener="${listener}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), 'timed out waiting');
}
