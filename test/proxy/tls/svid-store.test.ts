// The proxy's certificate store over real TLS on 127.0.0.1: the context it builds does
// mutual TLS with certificates our CA made, a reload swaps it for new handshakes while a
// live connection keeps working, and files that do not check out change nothing.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { createCa, generateKeyPair, issueSvid, loadCa, mergeBundles, parseSpiffeId, type Ca } from '../../../certs/index.ts';
import { checkSvid, SvidStore } from '../../../proxy/tls/svid-store.ts';

function newCa(): Ca {
  const r = loadCa(createCa({ trustDomain: 'mesh.example', now: Date.now() }));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function issue(ca: Ca, id: string, now = Date.now()): { cert: string; key: string } {
  const keys = generateKeyPair();
  const spiffe = parseSpiffeId(id);
  if (!spiffe.ok) throw new Error(spiffe.error);
  const r = issueSvid(ca, { spiffeId: spiffe.value, publicKeyPem: keys.publicKeyPem, now });
  if (!r.ok) throw new Error(r.error);
  return { cert: r.value.certChain, key: keys.privateKeyPem };
}

/**
 * Sends a line over a fresh connection: 'echoed' when the server answered, 'refused' when
 * the connection failed first. With TLS 1.3 the server checks the client's certificate
 * after the client considers the handshake done, so a refusal shows up here, not there.
 */
function exchange(port: number, client: tls.SecureContext): Promise<'echoed' | 'refused'> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'mesh', secureContext: client, checkServerIdentity: () => undefined });
    socket.once('secureConnect', () => socket.write('ping'));
    socket.once('data', () => {
      socket.destroy();
      resolve('echoed');
    });
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
  });
}

/** The URI SAN the other side presented, and the TLS version, for one handshake. */
function handshake(port: number, client: tls.SecureContext): Promise<{ peer: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'mesh', secureContext: client, checkServerIdentity: () => undefined });
    socket.once('secureConnect', () => resolve({ peer: socket.getPeerCertificate().subjectaltname ?? '', socket }));
    socket.once('error', reject);
  });
}

describe('SvidStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-svid-'));
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') };
  const logs: string[] = [];
  let ca: Ca;
  let store: SvidStore;
  let server: tls.Server;
  let port: number;
  const clientIdentities: string[] = [];
  let clientContext: tls.SecureContext;

  const write = (svid: { cert: string; key: string }, bundle = ca.bundle) => {
    writeFileSync(files.cert, svid.cert);
    writeFileSync(files.key, svid.key);
    writeFileSync(files.bundle, bundle);
  };

  before(async () => {
    ca = newCa();
    write(issue(ca, 'spiffe://mesh.example/ns/shop/sa/api'));
    store = new SvidStore(files, { now: Date.now, log: (_l, msg, f) => logs.push(`${msg} ${JSON.stringify(f)}`) });
    assert.ok((await store.reload()).ok);
    const client = issue(ca, 'spiffe://mesh.example/ns/shop/sa/web');
    clientContext = tls.createSecureContext({ cert: client.cert, key: client.key, ca: ca.bundle });
    // The way a listener will use the store: the context is looked up per handshake.
    server = tls.createServer({ SNICallback: (_name, cb) => cb(null, store.current()!.context), requestCert: true, rejectUnauthorized: true }, (socket) => {
      clientIdentities.push(socket.getPeerCertificate().subjectaltname ?? '');
      socket.pipe(socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.close());

  test('its context does mutual TLS: each side sees the other\'s SPIFFE ID, on TLS 1.3', async () => {
    const { peer, socket } = await handshake(port, clientContext);
    assert.equal(peer, 'URI:spiffe://mesh.example/ns/shop/sa/api');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.destroy();
    assert.equal(await exchange(port, clientContext), 'echoed');
    assert.equal(clientIdentities.at(-1), 'URI:spiffe://mesh.example/ns/shop/sa/web');
    assert.equal(store.current()!.identity, 'spiffe://mesh.example/ns/shop/sa/api');
  });

  test('a reload swaps the certificate for new handshakes; a connection made before keeps working', async () => {
    const old = await handshake(port, clientContext);
    write(issue(ca, 'spiffe://mesh.example/ns/shop/sa/api-v2'));
    assert.ok((await store.reload()).ok);
    const fresh = await handshake(port, clientContext);
    assert.equal(fresh.peer, 'URI:spiffe://mesh.example/ns/shop/sa/api-v2');
    fresh.socket.destroy();
    // The old connection still echoes.
    const echoed = new Promise<string>((r) => old.socket.once('data', (d: Buffer) => r(d.toString())));
    old.socket.write('still here');
    assert.equal(await echoed, 'still here');
    old.socket.destroy();
  });

  test('a root rotated in by overlap: certificates of the old and the new CA are both accepted, then only the new', async () => {
    const next = newCa();
    const bothRoots = mergeBundles(ca.bundle, next.bundle);
    write(issue(next, 'spiffe://mesh.example/ns/shop/sa/api'), bothRoots);
    assert.ok((await store.reload()).ok);
    assert.equal(store.current()!.roots, 2);
    // A client still on the old CA is accepted, and accepts the new certificate, as long as
    // it trusts both roots too.
    const oldClient = issue(ca, 'spiffe://mesh.example/ns/shop/sa/web');
    const oldClientContext = tls.createSecureContext({ cert: oldClient.cert, key: oldClient.key, ca: bothRoots });
    const overlap = await handshake(port, oldClientContext);
    assert.equal(overlap.peer, 'URI:spiffe://mesh.example/ns/shop/sa/api');
    overlap.socket.destroy();
    assert.equal(await exchange(port, oldClientContext), 'echoed');
    // The old root leaves: the old client is refused, a client of the new CA is not.
    write(issue(next, 'spiffe://mesh.example/ns/shop/sa/api'), next.bundle);
    assert.ok((await store.reload()).ok);
    assert.equal(await exchange(port, oldClientContext), 'refused');
    const newClient = issue(next, 'spiffe://mesh.example/ns/shop/sa/web');
    assert.equal(await exchange(port, tls.createSecureContext({ cert: newClient.cert, key: newClient.key, ca: next.bundle })), 'echoed');
    ca = next;
  });

  test('files that do not check out are refused with the reason, and the current certificate stays', async () => {
    const before = store.current()!.fingerprint;
    const good = issue(ca, 'spiffe://mesh.example/ns/shop/sa/api');
    const cases: [string, () => void, RegExp][] = [
      ["a key that is not the certificate's", () => write({ cert: good.cert, key: generateKeyPair().privateKeyPem }), /not the certificate's key/],
      ['a certificate of another CA', () => write(issue(newCa(), 'spiffe://mesh.example/ns/shop/sa/api')), /does not chain to a root of the bundle/],
      ['an expired certificate', () => write(issue(ca, 'spiffe://mesh.example/x', Date.now() - 48 * 3_600_000)), /expired at/],
      ['a bundle that is a leaf', () => write(good, good.cert), /bundle: .*not a CA certificate/],
      ['a missing file', () => write({ cert: '', key: '' }), /holds no certificate/],
    ];
    for (const [what, setup, reason] of cases) {
      setup();
      const r = await store.reload();
      assert.equal(r.ok, false, what);
      assert.match((r as { error: string }).error, reason, what);
      assert.equal(store.current()!.fingerprint, before, `${what}: the current certificate stays`);
    }
    assert.ok(logs.some((l) => l.startsWith('certificate not loaded; keeping the current one')));
  });

  test('checkSvid refuses a CA certificate offered as the proxy\'s own', () => {
    assert.deepEqual(checkSvid(ca.ca, ca.caKey, ca.bundle, Date.now()), { ok: false, error: 'spiffe://mesh.example is a CA certificate, not a workload\'s SVID' });
  });
});
