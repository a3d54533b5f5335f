// The mesh the rotation tests run: an app, api's and web's proxies with certificates our
// CA made (and a witness that records which client certificate it saw), steady traffic
// through them and straight at api, and readers for what the proxies show.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import { writeIdentity, type Svid } from './mesh-pki.ts';
import { startProxy, type ProxyProcess } from './proxy-process.ts';
import { startUpstream, type Upstream } from './upstream.ts';
import { waitFor } from './wait.ts';

export const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
export const API = 'spiffe://mesh.example/ns/shop/sa/api';
/** Longer than the store's 100 ms debounce, so the watcher also sees the half-written sets. */
export const WRITE_GAP_MS = 250;
/** Bound on "until the reload is visible" and "until traffic shows it"; a reload takes ~0.1 s. */
export const SOON_MS = 10_000;
export const REFUSED_SET = 'certificate not loaded; keeping the current one';

// --- the mesh: app, api, web (and a witness) ---

export function apiConfig(appPort: number): string {
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
export function webConfig(apiPort: number, witnessPort: number | null): string {
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
export type Witness = { readonly port: number; readonly seen: string[]; close(): Promise<void> };

export async function startWitness(svid: Svid, bundle: string): Promise<Witness> {
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
export type Mesh = { app: Upstream; api: ProxyProcess; web: ProxyProcess; pool: Pool; witness: Witness | null; traffic: Set<Traffic> };

export async function startMesh(dir: string, ids: { api: Svid; web: Svid; bundle: string; witness?: Svid }): Promise<Mesh> {
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

export async function stopMesh(m: Mesh | undefined): Promise<void> {
  if (m === undefined) return;
  await Promise.all([...m.traffic].map((t) => t.stop()));
  await m.pool.close();
  await Promise.all([m.web.stop(), m.api.stop()]);
  await Promise.all([m.app.close(), m.witness?.close()]);
}

// --- traffic ---

export type Traffic = {
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
export function startTraffic(m: Mesh, o: { workers: number; perSecond: number; max: number; maxMs: number }, once: (n: number) => Promise<string | null>): Traffic {
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
export async function viaWeb(pool: Pool, path: string): Promise<string | null> {
  const res = await pool.request({ method: 'GET', path, headersTimeout: SOON_MS, bodyTimeout: SOON_MS });
  const body = await res.body.text();
  return res.statusCode === 200 ? null : `${path}: ${res.statusCode} ${String(res.headers['x-sluice-details'] ?? '')} ${body.slice(0, 120)}`;
}

export type DirectReply = { status: number; fingerprint: string; reused: boolean; session: Buffer | undefined } | { error: string; reused: boolean };

/** One GET over a new TLS connection straight to api's listener, as a peer proxy would make it. */
export function direct(port: number, context: tls.SecureContext, path: string, session?: Buffer): Promise<DirectReply> {
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
export function keepAliveGet(socket: TLSSocket, path: string): Promise<number> {
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
export function shown(r: DirectReply): string {
  return 'status' in r ? `HTTP ${r.status}${r.reused ? ', on a resumed session' : ''}` : `no answer (${r.error})${r.reused ? ', on a resumed session' : ''}`;
}

/** The client's check of the server: api's SPIFFE ID (TLS has checked the chain already). */
export function isApi(_host: string, cert: tls.PeerCertificate): Error | undefined {
  return cert.subjectaltname === `URI:${API}` ? undefined : new Error(`the server is ${cert.subjectaltname}, not ${API}`);
}

/** A `once` for startTraffic: a direct request that must answer 200 (and show `fingerprint`, when given). */
export function directOnce(port: number, context: () => tls.SecureContext, fingerprint?: () => string): (n: number) => Promise<string | null> {
  return async (n) => {
    const r = await direct(port, context(), `/direct/${n}`);
    if (!('status' in r) || r.status !== 200) return shown(r);
    return fingerprint === undefined || r.fingerprint === fingerprint() ? null : `the server showed ${r.fingerprint}, not ${fingerprint()}`;
  };
}

// --- what the proxies show ---

export type Certs = { identity: string; fingerprint: string; roots: number };

export async function certsOf(p: ProxyProcess): Promise<Certs> {
  const body = (await (await fetch(`http://127.0.0.1:${p.adminPort}/certs`)).json()) as { certificate: Certs | null };
  assert.ok(body.certificate !== null, 'the proxy has a certificate');
  return body.certificate;
}

/** Waits until the proxy's /certs satisfies `pred`, i.e. its reload is visible. */
export function reloaded(p: ProxyProcess, pred: (c: Certs) => boolean, what: string): Promise<Certs> {
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
export function refusedSets(p: ProxyProcess): string[] {
  return p.stderr().split('\n').filter((l) => l.includes(REFUSED_SET));
}

/**
 * api's access-log line for a request to `<prefix><n>`, n >= `from`, that came on a
 * connection no earlier request came on: web opened it for that request, with the
 * certificate web had then. (Connections are opened by requests, so an older one shows an
 * older line.)
 */
export function newWebConnection(api: ProxyProcess, prefix: string, from: number): Record<string, unknown> | undefined {
  const numberOf = (path: unknown) => (String(path).startsWith(prefix) ? Number(String(path).slice(prefix.length)) : -1);
  const lines = api.accessLog();
  const earlier = new Set(lines.filter((l) => !(numberOf(l.path) >= from)).map((l) => String(l.downstream_remote)));
  return lines.find((l) => numberOf(l.path) >= from && l.status === 200 && !earlier.has(String(l.downstream_remote)));
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
