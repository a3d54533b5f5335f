// `npm run bench`, the mTLS section: the cost of mTLS between two proxies.
//
// Each pair is load -> client-side proxy (plain HTTP/1.1 listener) -> server-side proxy ->
// upstream, and only the hop between the two proxies differs: plain HTTP/1.1, h2c, or mTLS
// (always h2, ALPN h2). mTLS vs h2c is the ratio that isolates TLS (the same multiplexing on
// both); mTLS vs HTTP/1.1 is what a mesh costs against a plaintext one as shipped. The runs
// are alternated, reversed every other round (A B C, C B A, ...), so linear drift hits all.
// Then the handshake rate: fresh connections (one GET each, then close) to a STRICT mTLS
// listener against fresh plaintext connections to a plain one, once per key type (RSA 2048
// as every certificate was before issue 20; ECDSA P-256 workload keys under the RSA CA a
// mesh keeps from then; ECDSA P-256 throughout, the default now), alternated in one run.
//
// Each pair also reports both proxies' CPU per request, read from /proc around each run:
// on a shared machine it moves less than req/s does when a neighbour takes a core.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { expectIdentity } from '../../proxy/tls/peer.ts';
import { rssMiB } from '../helpers/rss.ts';
import type { KeyType } from '../../certs/keys.ts';
import { clientContext, issue, newCa, writeIdentity } from '../helpers/mesh-pki.ts';
import { cpuSeconds } from './proc.ts';

export const CLIENT_ID = 'spiffe://mesh.example/ns/bench/sa/client';
/** The identity `handshakes` expects the server to present. */
export const SERVER_ID = 'spiffe://mesh.example/ns/bench/sa/server';
/** Fresh connections in flight at once in the handshake runs. */
const HANDSHAKE_PARALLEL = 4;
/** A bound on connections per handshake run, whatever the clock says. */
const HANDSHAKE_MAX = 100_000;
/** One connection that takes longer than this counts as failed. */
const EXCHANGE_TIMEOUT_MS = 5_000;
/** The 15 % target, as a ratio. */
const TARGET = 0.85;

/** The few fields of run.ts's table row this file reads. */
export type LoadRow = { readonly name: string; readonly rps: number };

export type MtlsBenchDeps<R extends LoadRow> = {
  /** Scratch folder; configs and certificates go in a `mtls` folder under it. */
  readonly dir: string;
  readonly upstreamPort: number;
  /** Alternated rounds of the three pairs. */
  readonly rounds: number;
  /** Length of each measured handshake run, in seconds. */
  readonly handshakeSeconds: number;
  freePort(): Promise<number>;
  /** Starts sluice-proxy on a config file, stats on `statsPort`; resolves when it is ready. The caller kills it at exit. */
  startProxy(configFile: string, statsPort: number): Promise<ChildProcess>;
  /** A warmed-up keep-alive load on `port`; the row's RSS column is `pid`'s peak. */
  load(name: string, port: number, pid: number): Promise<R>;
};

const HOPS = [
  { key: 'http1', label: 'plain HTTP/1.1', backend: 'protocol: http1' },
  { key: 'h2c', label: 'h2c', backend: 'protocol: http2' },
  { key: 'mtls', label: 'mTLS (h2)', backend: `tls: { identities: [${SERVER_ID}] }` },
] as const;
type HopKey = (typeof HOPS)[number]['key'];

/** The handshake runs' key types: the CA's and the two workloads'. */
const KEY_MIXES = [
  { key: 'rsa', label: 'RSA 2048 CA and workloads (before issue 20)', ca: 'rsa-2048', workload: 'rsa-2048' },
  { key: 'mixed', label: 'ECDSA P-256 workloads, RSA 2048 CA (a CA kept from before)', ca: 'rsa-2048', workload: 'ecdsa-p256' },
  { key: 'ecdsa', label: 'ECDSA P-256 CA and workloads (the default)', ca: 'ecdsa-p256', workload: 'ecdsa-p256' },
] as const satisfies readonly { key: string; label: string; ca: KeyType; workload: KeyType }[];
type MixKey = (typeof KEY_MIXES)[number]['key'];

/** A proxy under test: its process, the listener's port, and its stats port (for its request counter). */
export type Proxy = { readonly child: ChildProcess; readonly port: number; readonly statsPort: number };
type Pair = { readonly hop: (typeof HOPS)[number]; readonly client: Proxy; readonly server: Proxy };

/** One measured load through one pair: the table row, and each proxy's CPU per request. */
export type PairRun<R> = { readonly hop: HopKey; readonly row: R; readonly clientUsPerReq: number; readonly serverUsPerReq: number };

export type HandshakeRun = { readonly completed: number; readonly failed: number; readonly resumed: number; readonly serverCounted: number; readonly seconds: number; readonly serverMsPerConn: number };

export type MtlsResult<R> = {
  readonly rounds: readonly (readonly PairRun<R>[])[];
  /** Mean over rounds of mTLS req/s / h2c req/s: the ratio the 15 % target is judged on. */
  readonly vsH2c: number;
  readonly vsHttp1: number;
  /** Downstream connections the server-side proxy accepted during the loads, per hop. */
  readonly hopConnections: Record<HopKey, number>;
  /** After the loads, MiB. */
  readonly rss: Record<HopKey, { client: number; server: number }>;
  readonly handshakes: { readonly mtls: Readonly<Record<MixKey, readonly HandshakeRun[]>>; readonly plain: readonly HandshakeRun[] };
};

// --- the bench ---

export async function mtlsBench<R extends LoadRow>(deps: MtlsBenchDeps<R>): Promise<MtlsResult<R>> {
  const root = join(deps.dir, 'mtls');
  const ca = newCa('mesh.example');
  const clientIdentity = writeIdentity(join(root, 'pki', 'client'), issue(ca, CLIENT_ID), ca.bundle);
  const serverIdentity = writeIdentity(join(root, 'pki', 'server'), issue(ca, SERVER_ID), ca.bundle);

  const pairs = new Map<HopKey, Pair>();
  /** The handshake runs' server-side proxies. */
  const extra: Proxy[] = [];
  for (const hop of HOPS) {
    const mtls = hop.key === 'mtls';
    const server = await startProxy(deps, join(root, `${hop.key}-server`), (port) => `${mtls ? `identity: { dir: ${serverIdentity} }\n` : ''}listeners: [{ name: inbound, address: 127.0.0.1, port: ${port}, protocol: http${mtls ? ', tls: { mode: STRICT }' : ''} }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${deps.upstreamPort} }] }]
`);
    const client = await startProxy(deps, join(root, `${hop.key}-client`), (port) => `${mtls ? `identity: { dir: ${clientIdentity} }\n` : ''}listeners: [{ name: outbound, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: peer }] }] }]
backends: [{ name: peer, ${hop.backend}, endpoints: [{ address: 127.0.0.1, port: ${server.port} }] }]
`);
    pairs.set(hop.key, { hop, client, server });
  }

  try {
    const rounds: PairRun<R>[][] = [];
    for (let i = 0; i < deps.rounds; i++) {
      const order = i % 2 === 0 ? HOPS : [...HOPS].reverse();
      const round: PairRun<R>[] = [];
      for (const hop of order) round.push(await measurePair(deps, pairs.get(hop.key)!));
      rounds.push(round);
    }
    const rps = (round: readonly PairRun<R>[], key: HopKey) => round.find((r) => r.hop === key)!.row.rps;
    const mean = (f: (round: readonly PairRun<R>[]) => number) => rounds.reduce((s, r) => s + f(r), 0) / rounds.length;

    const hopConnections = {} as Record<HopKey, number>;
    const rss = {} as Record<HopKey, { client: number; server: number }>;
    for (const [key, p] of pairs) {
      hopConnections[key] = await counter(p.server.statsPort, 'sluice_downstream_connections_total');
      rss[key] = { client: rssMiB(p.client.child.pid!), server: rssMiB(p.server.child.pid!) };
    }

    // Straight at server-side proxies: a STRICT listener per key mix, the plain HTTP/1.1 one's listener.
    const plainServer = pairs.get('http1')!.server;
    const targets: { key: MixKey | 'plain'; server: Proxy; context: tls.SecureContext | null }[] = [];
    for (const mix of KEY_MIXES) {
      const mixCa = newCa('mesh.example', Date.now(), mix.ca);
      const identity = writeIdentity(join(root, 'pki', `server-${mix.key}`), issue(mixCa, SERVER_ID, { keyType: mix.workload }), mixCa.bundle);
      const server = await startProxy(deps, join(root, `handshake-${mix.key}`), (port) => `identity: { dir: ${identity} }
listeners: [{ name: inbound, address: 127.0.0.1, port: ${port}, protocol: http, tls: { mode: STRICT } }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${deps.upstreamPort} }] }]
`);
      extra.push(server);
      targets.push({ key: mix.key, server, context: clientContext(issue(mixCa, CLIENT_ID, { keyType: mix.workload }), mixCa.bundle) });
    }
    targets.push({ key: 'plain', server: plainServer, context: null });
    for (const t of targets) await handshakes(t.server, t.context, 1);
    const handshakeRuns = { mtls: { rsa: [], mixed: [], ecdsa: [] } as Record<MixKey, HandshakeRun[]>, plain: [] as HandshakeRun[] };
    for (let i = 0; i < 2; i++) {
      for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
        const run = await handshakes(t.server, t.context, deps.handshakeSeconds);
        (t.key === 'plain' ? handshakeRuns.plain : handshakeRuns.mtls[t.key]).push(run);
      }
    }

    return {
      rounds,
      vsH2c: mean((r) => rps(r, 'mtls') / rps(r, 'h2c')),
      vsHttp1: mean((r) => rps(r, 'mtls') / rps(r, 'http1')),
      hopConnections,
      rss,
      handshakes: handshakeRuns,
    };
  } finally {
    for (const p of pairs.values()) p.client.child.kill(), p.server.child.kill();
    for (const p of extra) p.child.kill();
  }
}

async function startProxy<R extends LoadRow>(deps: MtlsBenchDeps<R>, dir: string, config: (port: number) => string): Promise<Proxy> {
  mkdirSync(dir, { recursive: true });
  const port = await deps.freePort();
  const statsPort = await deps.freePort();
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, config(port));
  return { child: await deps.startProxy(file, statsPort), port, statsPort };
}

async function measurePair<R extends LoadRow>(deps: MtlsBenchDeps<R>, p: Pair): Promise<PairRun<R>> {
  const before = { client: cpuMs(p.client.child.pid!), server: cpuMs(p.server.child.pid!), clientReqs: await counter(p.client.statsPort, 'sluice_requests_total'), serverReqs: await counter(p.server.statsPort, 'sluice_requests_total') };
  const row = await deps.load(`proxy pair, ${p.hop.label} between`, p.client.port, p.server.child.pid!);
  // The warm-up is inside the CPU window too; the requests counted are the same window's.
  const clientReqs = (await counter(p.client.statsPort, 'sluice_requests_total')) - before.clientReqs;
  const serverReqs = (await counter(p.server.statsPort, 'sluice_requests_total')) - before.serverReqs;
  return {
    hop: p.hop.key,
    row,
    clientUsPerReq: ((cpuMs(p.client.child.pid!) - before.client) * 1000) / clientReqs,
    serverUsPerReq: ((cpuMs(p.server.child.pid!) - before.server) * 1000) / serverReqs,
  };
}

// --- handshakes ---

const REQUEST = 'GET / HTTP/1.1\r\nhost: server\r\nconnection: close\r\n\r\n';

/**
 * Fresh connections for `seconds`, HANDSHAKE_PARALLEL at a time, each one GET then close:
 * with `context`, mTLS to a STRICT listener presenting SERVER_ID; with null, plaintext.
 */
export async function handshakes(server: Proxy, context: tls.SecureContext | null, seconds: number): Promise<HandshakeRun> {
  const counts = { ok: 0, failed: 0, resumed: 0 };
  const servedBefore = await counter(server.statsPort, 'sluice_requests_total');
  const cpuBefore = cpuMs(server.child.pid!);
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && counts.ok + counts.failed < HANDSHAKE_MAX) counts[await exchange(server.port, context)]++;
  };
  await Promise.all(Array.from({ length: HANDSHAKE_PARALLEL }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuMs(server.child.pid!) - cpuBefore;
  const served = (await counter(server.statsPort, 'sluice_requests_total')) - servedBefore;
  // `ok` and `resumed` both completed; a resumed one would not be a full handshake.
  const completed = counts.ok + counts.resumed;
  return { completed, failed: counts.failed, resumed: counts.resumed, serverCounted: served, seconds: elapsed, serverMsPerConn: cpu / Math.max(1, completed) };
}

/** One fresh connection: (mTLS handshake,) GET, read the answer to the server's close. */
function exchange(port: number, context: tls.SecureContext | null): Promise<'ok' | 'resumed' | 'failed'> {
  return new Promise((resolve) => {
    let data = '';
    let resumed = false;
    const socket =
      context === null
        ? net.connect(port, '127.0.0.1', () => socket.write(REQUEST))
        : tls.connect({ host: '127.0.0.1', port, servername: 'server', secureContext: context, ALPNProtocols: ['http/1.1'], checkServerIdentity: expectIdentity([SERVER_ID]) }, () => {
            resumed = (socket as tls.TLSSocket).isSessionReused();
            socket.write(REQUEST);
          });
    socket.setTimeout(EXCHANGE_TIMEOUT_MS, () => socket.destroy());
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.once('close', () => resolve(!data.startsWith('HTTP/1.1 200 ') ? 'failed' : resumed ? 'resumed' : 'ok'));
  });
}

// --- readings ---

/** User + system CPU time a process has used, in ms. */
function cpuMs(pid: number): number {
  return cpuSeconds(pid) * 1000;
}

/** A counter from the proxy's /stats/prometheus, summed over its label sets. */
async function counter(statsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

// --- report ---

/** The lines run.ts prints under its table. */
export function mtlsSummary<R extends LoadRow & { readonly p99: number }>(r: MtlsResult<R>): string[] {
  const out: string[] = [];
  const f = (n: number, d = 2) => n.toFixed(d);
  const by = (round: readonly PairRun<R>[], key: HopKey) => round.find((x) => x.hop === key)!;
  out.push(`mTLS between proxies (load -> proxy -> proxy -> upstream; ${r.rounds.length} rounds, alternated, every other one reversed):`);
  r.rounds.forEach((round, i) => {
    const [a, b, c] = [by(round, 'http1'), by(round, 'h2c'), by(round, 'mtls')];
    out.push(`  round ${i + 1}: HTTP/1.1 ${Math.round(a.row.rps)}, h2c ${Math.round(b.row.rps)}, mTLS ${Math.round(c.row.rps)} req/s (p99 ${a.row.p99}/${b.row.p99}/${c.row.p99} ms); mTLS/h2c ${f(c.row.rps / b.row.rps, 3)}, mTLS/HTTP/1.1 ${f(c.row.rps / a.row.rps, 3)}`);
  });
  const range = (other: HopKey) => {
    const ratios = r.rounds.map((round) => by(round, 'mtls').row.rps / by(round, other).row.rps);
    return `per round ${f(Math.min(...ratios))}–${f(Math.max(...ratios))}`;
  };
  out.push(`  mTLS / h2c throughput: ${f(r.vsH2c, 3)} (${f((1 - r.vsH2c) * 100, 1)} % cost; mean of ${r.rounds.length}, ${range('h2c')}; the target is judged here, since only TLS differs: target >= ${TARGET}, ${r.vsH2c >= TARGET ? 'met' : 'missed'})`);
  out.push(`  mTLS / plain HTTP/1.1 throughput: ${f(r.vsHttp1, 3)} (${f((1 - r.vsHttp1) * 100, 1)} % cost; ${range('http1')}; h2 multiplexing and TLS together)`);
  const cpu = (key: HopKey, side: 'clientUsPerReq' | 'serverUsPerReq') => r.rounds.reduce((s, round) => s + by(round, key)[side], 0) / r.rounds.length;
  const both = (key: HopKey) => cpu(key, 'clientUsPerReq') + cpu(key, 'serverUsPerReq');
  out.push(`  proxy CPU per request, µs (client-side / server-side): ${HOPS.map((h) => `${h.label} ${Math.round(cpu(h.key, 'clientUsPerReq'))} / ${Math.round(cpu(h.key, 'serverUsPerReq'))}`).join(', ')}; both proxies, mTLS / h2c: ${f(both('mtls') / both('h2c'), 3)}`);
  out.push(`  connections between the proxies during the loads: ${HOPS.map((h) => `${h.label} ${r.hopConnections[h.key]}`).join(', ')}`);
  out.push(`  RSS after the loads, MiB (client-side / server-side): ${HOPS.map((h) => `${h.label} ${f(r.rss[h.key].client, 1)} / ${f(r.rss[h.key].server, 1)}`).join(', ')}`);
  const rate = (runs: readonly HandshakeRun[]) => runs.reduce((s, x) => s + x.completed / x.seconds, 0) / runs.length;
  const sum = (runs: readonly HandshakeRun[], k: 'completed' | 'failed' | 'resumed' | 'serverCounted') => runs.reduce((s, x) => s + x[k], 0);
  const ms = (runs: readonly HandshakeRun[]) => runs.reduce((s, x) => s + x.serverMsPerConn, 0) / runs.length;
  const { mtls, plain } = r.handshakes;
  out.push(`  fresh connections (one GET, then close; ${HANDSHAKE_PARALLEL} in parallel; ${KEY_MIXES.length + 1} targets alternated, every other pass reversed, ${plain.length} runs of ${f(plain[0]?.seconds ?? 0, 1)} s each):`);
  for (const mix of KEY_MIXES) {
    const runs = mtls[mix.key];
    out.push(`    mTLS, ${mix.label}: ${Math.round(rate(runs))} handshakes/s (${sum(runs, 'completed')} full, ${sum(runs, 'resumed')} resumed, ${sum(runs, 'failed')} failed; the proxy served ${sum(runs, 'serverCounted')}), server-side proxy CPU ${f(ms(runs))} ms per connection`);
  }
  out.push(`    plaintext: ${Math.round(rate(plain))}/s (${sum(plain, 'completed')} connections, ${sum(plain, 'failed')} failed; the proxy served ${sum(plain, 'serverCounted')}), server-side proxy CPU ${f(ms(plain))} ms per connection`);
  out.push(`    ECDSA / RSA handshake rate: ${f(rate(mtls.ecdsa) / rate(mtls.rsa), 2)}× (RSA CA kept: ${f(rate(mtls.mixed) / rate(mtls.rsa), 2)}×; issue 20's goal is 3× the 582/s measured before it); ECDSA mTLS / plaintext connection rate: ${f(rate(mtls.ecdsa) / rate(plain), 3)}`);
  return out;
}
