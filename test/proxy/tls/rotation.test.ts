// Certificate rotation between two real proxy processes on 127.0.0.1, with certificates our
// CA made: load -> web's proxy -> mTLS h2 -> api's proxy (STRICT) -> app. The identity files
// are rewritten while traffic flows: no request may fail, new handshakes must get the new
// certificate, live connections keep theirs, a TLS session from before a trust change is
// never resumed, and a file set that does not check out changes nothing.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls, { type TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import { mergeBundles, type Ca } from '../../../certs/index.ts';
import { clientContext, fingerprintOf, issue, newCa, tempDir, writeIdentity, writeIdentityInSteps, type Svid } from '../../helpers/mesh-pki.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const API = 'spiffe://mesh.example/ns/shop/sa/api';
/** Longer than the store's 100 ms debounce, so the watcher also sees the half-written sets. */
const WRITE_GAP_MS = 250;
/** Bound on "until the reload is visible" and "until traffic shows it"; a reload takes ~0.1 s. */
const SOON_MS = 10_000;
const REFUSED_SET = 'certificate not loaded; keeping the current one';

// --- the mesh: app, api, web (and a witness) ---

function apiConfig(appPort: number): string {
  return `
identity: { dir: api }
listeners:
  - { name: inbound, address: 127.0.0.1, port: 0, protocol: http, tls: { mode: STRICT } }
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends:
  - { name: app, endpoints: [{ address: 127.0.0.1, port: ${appPort} }] }
`;
}

/**
 * web's proxy, with two backends on api's one endpoint, so that web makes new handshakes
 * while the load goes on, without pausing it. `api` keeps its h2 connection as long as
 * traffic flows (a minute of idle). `api-fresh` takes paths under /fresh and drops its
 * connection after 100 ms idle, so a /fresh request sent every 250 ms opens a new one: a
 * handshake with the certificate web has at that moment. The idle timeout is part of a
 * pool's identity, so the two never share a connection. With a witness, /witness goes to
 * it the way /fresh goes to api.
 */
function webConfig(apiPort: number, witnessPort: number | null): string {
  const witness = witnessPort === null ? '' : `
  - { name: witness, idleTimeoutMs: 100, tls: { identities: [${API}] }, endpoints: [{ address: 127.0.0.1, port: ${witnessPort} }] }`;
  const toWitness = witnessPort === null ? '' : `
      - { matches: [{ path: { type: PathPrefix, value: /witness } }], backendRefs: [{ name: witness }] }`;
  return `
identity: { dir: web }
listeners:
  - { name: outbound, address: 127.0.0.1, port: 0, protocol: http }
routes:
  - name: all
    rules:
      - { matches: [{ path: { type: PathPrefix, value: /fresh } }], backendRefs: [{ name: api-fresh }] }${toWitness}
      - { backendRefs: [{ name: api }] }
backends:
  - { name: api, tls: { identities: [${API}] }, endpoints: [{ address: 127.0.0.1, port: ${apiPort} }] }
  - { name: api-fresh, idleTimeoutMs: 100, tls: { identities: [${API}] }, endpoints: [{ address: 127.0.0.1, port: ${apiPort} }] }${witness}
`;
}

/**
 * A stand-in for api's proxy that tells which certificate web showed: an h2 mTLS server
 * with an api SVID, keeping the fingerprint of each client certificate it was shown.
 * (api's proxy cannot tell: it logs the SPIFFE ID, the same in each of web's certificates.)
 */
type Witness = { readonly port: number; readonly seen: string[]; close(): Promise<void> };

async function startWitness(svid: Svid, bundle: string): Promise<Witness> {
  const seen: string[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer({ cert: svid.cert, key: svid.key, ca: bundle, requestCert: true, rejectUnauthorized: true }, (_req, res) => res.end('witness'));
  server.on('secureConnection', (socket: TLSSocket) => seen.push(socket.getPeerX509Certificate()?.fingerprint256 ?? 'none'));
  server.on('session', (s: http2.ServerHttp2Session) => (sessions.add(s), s.once('close', () => sessions.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** app, api's proxy and web's proxy (and the witness, when asked for); `traffic` is what stopMesh stops first. */
type Mesh = { app: Upstream; api: ProxyProcess; web: ProxyProcess; pool: Pool; witness: Witness | null; traffic: Set<Traffic> };

async function startMesh(dir: string, ids: { api: Svid; web: Svid; bundle: string; witness?: Svid }): Promise<Mesh> {
  writeIdentity(join(dir, 'api'), ids.api, ids.bundle);
  writeIdentity(join(dir, 'web'), ids.web, ids.bundle);
  const app = await startUpstream('app');
  const witness = ids.witness === undefined ? null : await startWitness(ids.witness, ids.bundle);
  const api = await startProxy(writeFile(dir, 'api.yaml', apiConfig(app.port)));
  const web = await startProxy(writeFile(dir, 'web.yaml', webConfig(api.ports.inbound, witness?.port ?? null)));
  // As many connections as the load has workers.
  const pool = new Pool(`http://127.0.0.1:${web.ports.outbound}`, { connections: 16 });
  return { app, api, web, pool, witness, traffic: new Set() };
}

async function stopMesh(m: Mesh | undefined): Promise<void> {
  if (m === undefined) return;
  await Promise.all([...m.traffic].map((t) => t.stop()));
  await m.pool.close();
  await Promise.all([m.web.stop(), m.api.stop()]);
  await Promise.all([m.app.close(), m.witness?.close()]);
}

// --- traffic ---

type Traffic = {
  /** Calls started so far: the next call gets this number. */
  started(): number;
  /** Calls that succeeded so far. */
  ok(): number;
  /** Why each failed call failed. */
  readonly failures: string[];
  /** Stops starting calls; resolves when the calls in flight are done. */
  stop(): Promise<void>;
};

/**
 * `workers` loops calling `once(n)` (n numbers the calls from 0), at most `perSecond` calls
 * a second in all, until stop(), `max` calls or `maxMs`, whichever comes first. `once`
 * resolves null on success, else why it failed.
 */
function startTraffic(m: Mesh, o: { workers: number; perSecond: number; max: number; maxMs: number }, once: (n: number) => Promise<string | null>): Traffic {
  let started = 0;
  let ok = 0;
  let stopped = false;
  const failures: string[] = [];
  const start = Date.now();
  const worker = async () => {
    while (!stopped && started < o.max && Date.now() < start + o.maxMs) {
      const n = started++;
      // Call n is due at n / perSecond seconds: a paced load, not as many as the machine can.
      const wait = start + (n * 1000) / o.perSecond - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const failure = await once(n).catch((err: Error) => err.message);
      if (failure === null) ok++;
      else failures.push(`#${n}: ${failure}`);
    }
  };
  const done = Promise.all(Array.from({ length: o.workers }, worker));
  const t: Traffic = {
    started: () => started,
    ok: () => ok,
    failures,
    stop: async () => {
      stopped = true;
      await done;
      m.traffic.delete(t);
    },
  };
  m.traffic.add(t);
  return t;
}

/** GET through web's outbound listener (plaintext, as web's app sends it); null on a 200. */
async function viaWeb(pool: Pool, path: string): Promise<string | null> {
  const res = await pool.request({ method: 'GET', path, headersTimeout: SOON_MS, bodyTimeout: SOON_MS });
  const body = await res.body.text();
  return res.statusCode === 200 ? null : `${path}: ${res.statusCode} ${String(res.headers['x-sluice-details'] ?? '')} ${body.slice(0, 120)}`;
}

type DirectReply = { status: number; fingerprint: string; reused: boolean; session: Buffer | undefined } | { error: string; reused: boolean };

/** One GET over a new TLS connection straight to api's listener, as a peer proxy would make it. */
function direct(port: number, context: tls.SecureContext, path: string, session?: Buffer): Promise<DirectReply> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: context,
      servername: 'api',
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: isApi,
      ...(session === undefined ? {} : { session }),
    });
    let data = '';
    let error = '';
    let reused = false;
    let fingerprint = '';
    let ticket: Buffer | undefined;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${SOON_MS} ms`)), SOON_MS);
    socket.on('session', (s: Buffer) => (ticket = s));
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.write(`GET ${path} HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.once('error', (err) => (error = err.message));
    socket.once('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m === null) resolve({ error: error === '' ? 'closed without an answer' : error, reused });
      else resolve({ status: Number(m[1]), fingerprint, reused, session: ticket ?? socket.getSession() });
    });
  });
}

/** One HTTP/1.1 keep-alive request on an open connection; resolves the status once the body (content-length) is in. */
function keepAliveGet(socket: TLSSocket, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => done(new Error(`no answer to ${path} in ${SOON_MS} ms`)), SOON_MS);
    const onData = (d: Buffer) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, end));
      if (end >= 0 && length !== null && data.length >= end + 4 + Number(length[1])) done(null);
    };
    const onClose = () => done(new Error(`the connection closed before the answer to ${path}: ${JSON.stringify(data.slice(0, 200))}`));
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose);
      if (err === null) resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0));
      else reject(err);
    };
    socket.on('data', onData).on('close', onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: api\r\n\r\n`);
  });
}

/** A reply in a line, for failure messages. */
function shown(r: DirectReply): string {
  return 'status' in r ? `HTTP ${r.status}${r.reused ? ', on a resumed session' : ''}` : `no answer (${r.error})${r.reused ? ', on a resumed session' : ''}`;
}

/** The client's check of the server: api's SPIFFE ID (TLS has checked the chain already). */
function isApi(_host: string, cert: tls.PeerCertificate): Error | undefined {
  return cert.subjectaltname === `URI:${API}` ? undefined : new Error(`the server is ${cert.subjectaltname}, not ${API}`);
}

/** A `once` for startTraffic: a direct request that must answer 200 (and show `fingerprint`, when given). */
function directOnce(port: number, context: () => tls.SecureContext, fingerprint?: () => string): (n: number) => Promise<string | null> {
  return async (n) => {
    const r = await direct(port, context(), `/direct/${n}`);
    if (!('status' in r) || r.status !== 200) return shown(r);
    return fingerprint === undefined || r.fingerprint === fingerprint() ? null : `the server showed ${r.fingerprint}, not ${fingerprint()}`;
  };
}

// --- what the proxies show ---

type Certs = { identity: string; fingerprint: string; roots: number };

async function certsOf(p: ProxyProcess): Promise<Certs> {
  const body = (await (await fetch(`http://127.0.0.1:${p.adminPort}/certs`)).json()) as { certificate: Certs | null };
  assert.ok(body.certificate !== null, 'the proxy has a certificate');
  return body.certificate;
}

/** Waits until the proxy's /certs satisfies `pred`, i.e. its reload is visible. */
function reloaded(p: ProxyProcess, pred: (c: Certs) => boolean, what: string): Promise<Certs> {
  // waitFor polls synchronously: each poll starts a /certs request unless one is in flight,
  // and looks at the last answer.
  let last: Certs | null = null;
  let asking = false;
  return waitFor(
    () => {
      if (!asking) {
        asking = true;
        certsOf(p).then(
          (c) => ((last = c), (asking = false)),
          () => (asking = false),
        );
      }
      const seen = last;
      return seen !== null && pred(seen) ? seen : undefined;
    },
    SOON_MS,
    what,
  );
}

/** The proxy's "kept the current one" warnings so far. */
function refusedSets(p: ProxyProcess): string[] {
  return p.stderr().split('\n').filter((l) => l.includes(REFUSED_SET));
}

/**
 * api's access-log line for a request to `<prefix><n>`, n >= `from`, that came on a
 * connection no earlier request came on: web opened it for that request, with the
 * certificate web had then. (Connections are opened by requests, so an older one shows an
 * older line.)
 */
function newWebConnection(api: ProxyProcess, prefix: string, from: number): Record<string, unknown> | undefined {
  const numberOf = (path: unknown) => (String(path).startsWith(prefix) ? Number(String(path).slice(prefix.length)) : -1);
  const lines = api.accessLog();
  const earlier = new Set(lines.filter((l) => !(numberOf(l.path) >= from)).map((l) => String(l.downstream_remote)));
  return lines.find((l) => numberOf(l.path) >= from && l.status === 200 && !earlier.has(String(l.downstream_remote)));
}

// --- the tests ---

describe('certificate rotation under load', () => {
  const dir = tempDir('sluice-rotation-');
  let ca: Ca;
  let m: Mesh;

  before(async () => {
    ca = newCa();
    m = await startMesh(dir, { api: issue(ca, API), web: issue(ca, WEB), bundle: ca.bundle, witness: issue(ca, API) });
  });

  /** Gives api a new SVID and waits until it serves it, so a test does not depend on the one before. */
  async function newApiSvid(): Promise<Svid> {
    const svid = issue(ca, API);
    writeIdentity(join(dir, 'api'), svid, ca.bundle);
    await reloaded(m.api, (c) => c.fingerprint === fingerprintOf(svid), "api's starting certificate in its /certs");
    return svid;
  }

  after(() => stopMesh(m));

  test('rotating both certificates three times under load fails no request, and new handshakes get the new ones', async (t) => {
    const { api, web, pool } = m;
    // Made before the load starts: RSA key generation blocks this process's event loop.
    const rounds = Array.from({ length: 3 }, () => ({ api: issue(ca, API), web: issue(ca, WEB) }));
    const directContext = clientContext(issue(ca, WEB), ca.bundle);
    const refusedBefore = refusedSets(api).length + refusedSets(web).length;

    // web's plaintext side, 16 at a time. It crosses on one web -> api h2 connection, opened
    // before the first rotation and kept through all three: a live connection keeps working.
    const load = startTraffic(m, { workers: 16, perSecond: 300, max: 3000, maxMs: 30_000 }, (n) => viaWeb(pool, `/load/${n}`));
    // New handshakes with api all along: a new TLS connection per request.
    const handshakes = startTraffic(m, { workers: 2, perSecond: 50, max: 1000, maxMs: 30_000 }, directOnce(api.ports.inbound, () => directContext));
    // New handshakes from web to api all along (see webConfig), and to the witness.
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/fresh/rotation/${n}`));
    const witnessed = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/witness/${n}`));

    for (const next of rounds) {
      const mark = load.ok();
      await waitFor(() => load.ok() >= mark + 100, SOON_MS, 'the load moving between rotations');
      const okBefore = load.ok() + handshakes.ok();
      await writeIdentityInSteps(join(dir, 'api'), next.api, ca.bundle, WRITE_GAP_MS);
      await reloaded(api, (c) => c.fingerprint === fingerprintOf(next.api), "api's new certificate in its /certs");
      await writeIdentityInSteps(join(dir, 'web'), next.web, ca.bundle, WRITE_GAP_MS);
      await reloaded(web, (c) => c.fingerprint === fingerprintOf(next.web), "web's new certificate in its /certs");
      assert.ok(load.ok() + handshakes.ok() > okBefore, 'requests went on while the files were rewritten');
      const from = fresh.started();
      await waitFor(() => newWebConnection(api, '/fresh/rotation/', from), SOON_MS, 'a web -> api connection opened after the rotation');
      await waitFor(() => m.witness!.seen.includes(fingerprintOf(next.web)), SOON_MS, "web's new certificate shown in a new handshake");
    }
    const mark = load.ok();
    await waitFor(() => load.ok() >= mark + 100, SOON_MS, 'the load moving after the last rotation');
    await Promise.all([load.stop(), handshakes.stop(), fresh.stop(), witnessed.stop()]);

    assert.deepEqual([...load.failures, ...handshakes.failures, ...fresh.failures, ...witnessed.failures], []);
    const counts = `through web ${load.ok()}, new handshakes with api ${handshakes.ok()}, new web -> api connections ${fresh.ok()}, to the witness ${witnessed.ok()}`;
    t.diagnostic(counts);
    assert.ok(load.ok() >= 400 && handshakes.ok() > 0 && fresh.ok() > 0, counts);
    // Nothing was hidden by web retrying a failed try either.
    for (const c of await web.clusters()) assert.equal(c.retries, 0, `retries to ${c.name}`);
    // The writer's half-written sets were seen (a new cert with the old key) and refused.
    assert.ok(refusedSets(api).length + refusedSets(web).length > refusedBefore, 'a half-written set was refused at least once');

    const last = rounds[rounds.length - 1];
    assert.equal((await certsOf(api)).fingerprint, fingerprintOf(last.api));
    assert.equal((await certsOf(web)).fingerprint, fingerprintOf(last.web));
    const check = await direct(api.ports.inbound, directContext, '/check');
    assert.ok('status' in check && check.status === 200, shown(check));
    assert.equal(check.fingerprint, fingerprintOf(last.api), 'a new handshake gets the last certificate written');
    // api knew web by its SPIFFE ID on every connection, whichever of web's certificates it showed.
    const fromWeb = await waitFor(() => {
      const lines = api.accessLog().filter((l) => /^\/(load|fresh)\//.test(String(l.path)));
      return lines.length === load.ok() + fresh.ok() && lines;
    }, SOON_MS, "api's access-log line for each request from web");
    assert.deepEqual(new Set(fromWeb.map((l) => l.downstream_peer)), new Set([WEB]));
    const loadConnections = new Set(fromWeb.filter((l) => String(l.path).startsWith('/load/')).map((l) => l.downstream_remote));
    assert.equal(loadConnections.size, 1, 'the load crossed on one connection, made before the first rotation');
  });

  test('a connection opened before a rotation keeps working after it, on the certificate it was made with', async () => {
    const { api, app } = m;
    const original = await newApiSvid();
    const svid = issue(ca, WEB);
    const socket = tls.connect({ host: '127.0.0.1', port: api.ports.inbound, secureContext: clientContext(svid, ca.bundle), servername: 'api', ALPNProtocols: ['http/1.1'], checkServerIdentity: isApi });
    try {
      await once(socket, 'secureConnect');
      // Read now: a TLS 1.3 client socket stops showing it once the session ticket comes in.
      assert.equal(socket.getPeerX509Certificate()?.fingerprint256, fingerprintOf(original));
      assert.equal(await keepAliveGet(socket, '/before'), 200);

      const rotated = issue(ca, API);
      writeIdentity(join(dir, 'api'), rotated, ca.bundle);
      await reloaded(api, (c) => c.fingerprint === fingerprintOf(rotated), "api's new certificate in its /certs");

      assert.equal(await keepAliveGet(socket, '/after'), 200, 'the connection made before the rotation still carries requests');
      assert.equal(app.seen.at(-1)?.url, '/after');
      // One connection, one handshake (TLS 1.3 has no renegotiation): api saw both on it.
      await waitFor(() => api.accessLog().some((l) => l.path === '/after'), SOON_MS, "api's access-log line for /after");
      const remotes = api.accessLog().filter((l) => l.path === '/before' || l.path === '/after').map((l) => l.downstream_remote);
      assert.deepEqual(remotes, [`127.0.0.1:${socket.localPort}`, `127.0.0.1:${socket.localPort}`]);
      const fresh = await direct(api.ports.inbound, clientContext(svid, ca.bundle), '/new');
      assert.ok('status' in fresh && fresh.status === 200, shown(fresh));
      assert.equal(fresh.fingerprint, fingerprintOf(rotated), 'a new connection gets the new certificate');
    } finally {
      socket.destroy();
    }
  });

  test('a file set that does not check out is not loaded: the current certificate stays and traffic goes on', async () => {
    const { api, pool } = m;
    const good = await newApiSvid();
    const current = fingerprintOf(good);
    const broken = [
      { what: "a key that is not the certificate's", svid: { cert: good.cert, key: issue(ca, API).key }, error: "the key is not the certificate's key" },
      { what: 'an expired certificate', svid: issue(ca, API, { now: Date.now() - 7_200_000, ttlMs: 3_600_000 }), error: 'the certificate expired at' },
      { what: "a certificate another CA signed (it does not chain to api's bundle)", svid: issue(newCa(), API), error: 'the certificate does not chain to a root of the bundle' },
    ];
    const directContext = clientContext(issue(ca, WEB), ca.bundle);
    // New handshakes with api must keep showing the current certificate throughout.
    const handshakes = startTraffic(m, { workers: 1, perSecond: 40, max: 800, maxMs: 20_000 }, directOnce(api.ports.inbound, () => directContext, () => current));
    const viaWebTraffic = startTraffic(m, { workers: 2, perSecond: 100, max: 2000, maxMs: 20_000 }, (n) => viaWeb(pool, `/steady/${n}`));
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 80, maxMs: 20_000 }, (n) => viaWeb(pool, `/fresh/broken/${n}`));
    try {
      for (const b of broken) {
        const seen = refusedSets(api).length;
        writeIdentity(join(dir, 'api'), b.svid, ca.bundle);
        const line = await waitFor(() => refusedSets(api).slice(seen).find((l) => l.includes(b.error)), SOON_MS, `the warning for ${b.what}`);
        assert.equal(JSON.parse(line).level, 'warn');
        assert.equal((await certsOf(api)).fingerprint, current, b.what);
        const from = fresh.started();
        await waitFor(() => newWebConnection(api, '/fresh/broken/', from), SOON_MS, `a new web -> api connection after ${b.what}`);
      }
    } finally {
      await Promise.all([handshakes.stop(), viaWebTraffic.stop(), fresh.stop()]);
      writeIdentity(join(dir, 'api'), good, ca.bundle);
    }
    assert.deepEqual([...handshakes.failures, ...viaWebTraffic.failures, ...fresh.failures], []);
    assert.ok(handshakes.ok() > 0 && viaWebTraffic.ok() > 0);
  });
});

describe('root rotation by overlap', () => {
  const dir = tempDir('sluice-root-rotation-');
  let ca1: Ca;
  let ca2: Ca;
  let api1: Svid;
  let web1: Svid;
  let m: Mesh;

  before(async () => {
    ca1 = newCa();
    ca2 = newCa();
    api1 = issue(ca1, API);
    web1 = issue(ca1, WEB);
    m = await startMesh(dir, { api: api1, web: web1, bundle: ca1.bundle });
  });

  after(() => stopMesh(m));

  test('moving both proxies from root1 to root2 by overlap fails no request; at the end root1 certificates are refused', async () => {
    const { api, web, pool } = m;
    const both = mergeBundles(ca1.bundle, ca2.bundle);
    const api2 = issue(ca2, API);
    const web2 = issue(ca2, WEB);

    // A third workload calling api directly, a new connection per request, moving to root2 with web.
    let directContext = clientContext(issue(ca1, WEB), both);
    const directCa2 = clientContext(issue(ca2, WEB), both);
    const steady = startTraffic(m, { workers: 2, perSecond: 50, max: 1500, maxMs: 30_000 }, (n) => viaWeb(pool, `/steady/${n}`));
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/fresh/overlap/${n}`));
    const handshakes = startTraffic(m, { workers: 1, perSecond: 20, max: 600, maxMs: 30_000 }, directOnce(api.ports.inbound, () => directContext));

    const apiDir = join(dir, 'api');
    const webDir = join(dir, 'web');
    const steps = [
      {
        name: 'both bundles hold root1 and root2',
        write: () => Promise.all([writeIdentityInSteps(apiDir, api1, both, WRITE_GAP_MS), writeIdentityInSteps(webDir, web1, both, WRITE_GAP_MS)]),
        visible: () => Promise.all([reloaded(api, (c) => c.roots === 2, 'api trusting both roots'), reloaded(web, (c) => c.roots === 2, 'web trusting both roots')]),
      },
      {
        // web's new handshakes now check a CA2 chain against the bundle it got in step 1.
        name: "api's certificate comes from CA2",
        write: () => writeIdentityInSteps(apiDir, api2, both, WRITE_GAP_MS),
        visible: () => reloaded(api, (c) => c.fingerprint === fingerprintOf(api2), "api's CA2 certificate"),
      },
      {
        // api's new handshakes now check web's CA2 chain.
        name: "web's certificate comes from CA2",
        write: () => writeIdentityInSteps(webDir, web2, both, WRITE_GAP_MS),
        visible: () => reloaded(web, (c) => c.fingerprint === fingerprintOf(web2), "web's CA2 certificate"),
      },
      {
        // From here a new connection from web succeeds only if web shows its CA2 certificate.
        name: 'both bundles hold root2 only',
        write: () => Promise.all([writeIdentityInSteps(apiDir, api2, ca2.bundle, WRITE_GAP_MS), writeIdentityInSteps(webDir, web2, ca2.bundle, WRITE_GAP_MS)]),
        visible: () => Promise.all([reloaded(api, (c) => c.roots === 1, 'api trusting root2 only'), reloaded(web, (c) => c.roots === 1, 'web trusting root2 only')]),
      },
    ];
    for (const step of steps) {
      const okBefore = steady.ok() + handshakes.ok();
      await step.write();
      await step.visible();
      // The direct caller moves to its CA2 certificate along with web, before root1 goes.
      if (step.name === "web's certificate comes from CA2") directContext = directCa2;
      const from = fresh.started();
      await waitFor(() => newWebConnection(api, '/fresh/overlap/', from), SOON_MS, `a new web -> api connection once ${step.name}`);
      assert.ok(steady.ok() + handshakes.ok() > okBefore, `requests went on while ${step.name}`);
    }
    await Promise.all([steady.stop(), fresh.stop(), handshakes.stop()]);
    assert.deepEqual([...steady.failures, ...fresh.failures, ...handshakes.failures], []);
    for (const c of await web.clusters()) assert.equal(c.retries, 0, `retries to ${c.name}`);

    const [apiCerts, webCerts] = [await certsOf(api), await certsOf(web)];
    assert.deepEqual([apiCerts.fingerprint, apiCerts.roots], [fingerprintOf(api2), 1]);
    assert.deepEqual([webCerts.fingerprint, webCerts.roots], [fingerprintOf(web2), 1]);
    // The client trusts both roots, so a refusal can only be api's.
    const before = m.app.seen.length;
    const old = await direct(api.ports.inbound, clientContext(issue(ca1, WEB), both), '/root1');
    assert.ok('error' in old, `a root1 client certificate was accepted: ${shown(old)}`);
    assert.equal(m.app.seen.length, before);
    const now = await direct(api.ports.inbound, directCa2, '/root2');
    assert.ok('status' in now && now.status === 200, shown(now));
    assert.equal(now.fingerprint, fingerprintOf(api2));
  });
});

describe('TLS session resumption across a trust change (CVE-2022-21654)', () => {
  const dir = tempDir('sluice-resumption-');
  let ca1: Ca;
  let ca2: Ca;
  let app: Upstream;
  let api: ProxyProcess;

  before(async () => {
    ca1 = newCa();
    ca2 = newCa();
    writeIdentity(join(dir, 'api'), issue(ca1, API), ca1.bundle);
    app = await startUpstream('app');
    api = await startProxy(writeFile(dir, 'api.yaml', apiConfig(app.port)));
  });

  after(async () => {
    await api?.stop();
    await app?.close();
  });

  test('no session is ever resumed, and one from before the bundle changed does not get an old client certificate past it', async () => {
    const web1 = issue(ca1, WEB);
    // Trusting both roots: after the change the client accepts api, so a refusal is api's.
    const both = mergeBundles(ca1.bundle, ca2.bundle);
    const versions = ['TLSv1.3', 'TLSv1.2'] as const;
    const contexts = new Map(versions.map((v) => [v, tls.createSecureContext({ cert: web1.cert, key: web1.key, ca: both, minVersion: v, maxVersion: v })]));
    const sessions = new Map<string, Buffer>();
    for (const v of versions) {
      const first = await direct(api.ports.inbound, contexts.get(v)!, '/first');
      assert.ok('status' in first && first.status === 200, `${v}: ${shown(first)}`);
      assert.ok(first.session !== undefined, `${v}: the client has a session to offer`);
      sessions.set(v, first.session);
      const again = await direct(api.ports.inbound, contexts.get(v)!, '/again', first.session);
      assert.ok('status' in again && again.status === 200, `${v}: ${shown(again)}`);
      assert.equal(again.reused, false, `${v}: resumption is off, even with nothing changed`);
    }

    const api2 = issue(ca2, API);
    writeIdentity(join(dir, 'api'), api2, ca2.bundle);
    await reloaded(api, (c) => c.fingerprint === fingerprintOf(api2) && c.roots === 1, 'api on CA2, trusting root2 only');

    const seen = app.seen.length;
    for (const v of versions) {
      const late = await direct(api.ports.inbound, contexts.get(v)!, '/late', sessions.get(v));
      assert.ok('error' in late, `${v}: the old session or certificate got in: ${shown(late)}`);
      assert.equal(late.reused, false, `${v}: the session was resumed`);
    }
    assert.equal(app.seen.length, seen, 'no request reached the app');
    const web2 = issue(ca2, WEB);
    const now = await direct(api.ports.inbound, clientContext(web2, both), '/root2');
    assert.ok('status' in now && now.status === 200, `a CA2 client gets in: ${shown(now)}`);
  });
});

function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
