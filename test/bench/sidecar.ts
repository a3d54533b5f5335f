// `npm run bench` (issue 20): what a sidecar costs, measured against nginx as the same
// reverse proxy, in one run, and printed next to issue 20's goals.
//
// Throughput: HTTP/1.1 keep-alive load with 1 KiB responses, straight at an upstream
// (direct), through nginx (proxy_pass, keepalive upstream, one worker, master_process off)
// and through Sluice (sluice-proxy from a static file, one process), alternated round by
// round (direct, nginx, sluice, direct, nginx, sluice, ...). Two upstreams: nginx answering
// from its config, and the Node one (upstream-server.ts). Two loads: wrk -t1 (a C load
// generator) on both, and autocannon on the Node upstream, whose Node load generator
// saturates before nginx does and so flatters every ratio (kept to show by how much). The
// result is the median over rounds of each round's ratio.
//
// Fixed rate: hey paces 16 connections at 1 000 req/s in all, against direct, nginx, Sluice,
// and a pair of Sluice proxies with mTLS (h2) between them (mtls.ts's pair), on the nginx
// upstream, alternated round by round. Percentiles from every request's latency; each
// proxy's CPU from /proc/PID/stat (utime + stime) read before and after each run, as CPU
// seconds per 1 000 requests and as vCPU (CPU seconds per wall second); RSS idle (fresh
// processes, before any request) and the peak during the runs, from /proc/PID/status.
//
// Then the mTLS handshake rate against the pair's server-side proxy (mtls.ts's handshakes)
// and the route match at 10 and 5 000 Services (route-match.ts), and the goals table.
//
// Without wrk, nginx or hey the parts that need them are skipped, each with its reason.
// Environment (whole seconds; defaults give a run of about 11 minutes): BENCH_SECONDS (10,
// each throughput run), BENCH_WARMUP_SECONDS (2, before each run), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (32), BENCH_RATE (1000 req/s), BENCH_RATE_CONNECTIONS (16),
// BENCH_RATE_SECONDS (10, each fixed-rate run), BENCH_HANDSHAKE_SECONDS (4), BENCH_ROUTE_ROUNDS (15).

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { clientContext, issue, newCa, writeIdentity } from '../helpers/mesh-pki.ts';
import { rssMiB } from '../helpers/rss.ts';
import { hasHey, hey, percentile } from './hey.ts';
import { CLIENT_ID, handshakes, SERVER_ID, type HandshakeRun } from './mtls.ts';
import { cpuSeconds, machine, uptime } from './proc.ts';
import { routeMatchBench, type RouteMatchResult } from './route-match.ts';
import { onPath, wrk } from './wrk.ts';

// --- options ---

export type SidecarOptions = {
  /** Each measured throughput run, s. */
  readonly seconds: number;
  /** Load before each measured run (throughput and fixed rate), s; 0 for none. */
  readonly warmupSeconds: number;
  readonly rounds: number;
  /** Throughput load's connections. */
  readonly connections: number;
  /** Fixed-rate load: req/s in all, over this many connections, for this long each run. */
  readonly rate: number;
  readonly rateConnections: number;
  readonly rateSeconds: number;
  /** Each of the two measured mTLS handshake runs, and of the two plaintext ones, s. */
  readonly handshakeSeconds: number;
  readonly routeRounds: number;
};

const OPTIONS: readonly { readonly env: string; readonly key: keyof SidecarOptions; readonly fallback: number; readonly min: number }[] = [
  { env: 'BENCH_SECONDS', key: 'seconds', fallback: 10, min: 1 },
  { env: 'BENCH_WARMUP_SECONDS', key: 'warmupSeconds', fallback: 2, min: 0 },
  { env: 'BENCH_ROUNDS', key: 'rounds', fallback: 3, min: 1 },
  { env: 'BENCH_CONNECTIONS', key: 'connections', fallback: 32, min: 1 },
  { env: 'BENCH_RATE', key: 'rate', fallback: 1000, min: 1 },
  { env: 'BENCH_RATE_CONNECTIONS', key: 'rateConnections', fallback: 16, min: 1 },
  { env: 'BENCH_RATE_SECONDS', key: 'rateSeconds', fallback: 10, min: 1 },
  { env: 'BENCH_HANDSHAKE_SECONDS', key: 'handshakeSeconds', fallback: 4, min: 1 },
  { env: 'BENCH_ROUTE_ROUNDS', key: 'routeRounds', fallback: 15, min: 1 },
];

/** The options from the environment; every malformed variable named in one error. */
export function sidecarOptions(env: NodeJS.ProcessEnv = process.env): SidecarOptions {
  const out: Record<string, number> = {};
  const bad: string[] = [];
  for (const o of OPTIONS) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') {
      out[o.key] = o.fallback;
      continue;
    }
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < o.min) bad.push(`${o.env}=${JSON.stringify(raw)}: expected a whole number >= ${o.min} (default ${o.fallback})`);
    else out[o.key] = n;
  }
  if (out.rateConnections > out.rate) bad.push(`BENCH_RATE_CONNECTIONS=${out.rateConnections} is more than BENCH_RATE=${out.rate}: each connection needs at least 1 req/s`);
  if (bad.length > 0) throw new Error(`bench options:\n  ${bad.join('\n  ')}`);
  return out as SidecarOptions;
}

// --- the bench ---

export type SidecarDeps = {
  /** Scratch folder; this section's files go in a `sidecar` folder under it. */
  readonly dir: string;
  /** The Node upstream (upstream-server.ts), already listening. */
  readonly nodeUpstreamPort: number;
  freePort(): Promise<number>;
  /** sluice-proxy on a config file, stats on `statsPort`; resolves when it is ready. */
  startProxy(configFile: string, statsPort: number): Promise<ChildProcess>;
  /** nginx, one worker, no master, no daemon, in its own prefix folder, with `http` as its http block's body; resolves when `port` accepts. */
  startNginx(name: string, port: number, http: string): Promise<ChildProcess>;
  /** The Node floor (node-proxy.ts) on `port` in front of `upstreamPort`; resolves when it listens. */
  startNodeProxy(port: number, upstreamPort: number): Promise<ChildProcess>;
};

/** `node proxy`: node-proxy.ts, the least a Node reverse proxy does (node:http + undici), for how much of Sluice's cost is Node's. */
export type Target = 'direct' | 'nginx' | 'node proxy' | 'sluice';
export const TARGETS: readonly Target[] = ['direct', 'nginx', 'node proxy', 'sluice'];

export type ThroughputRun = { readonly target: Target; readonly rps: number; readonly p50: number; readonly p99: number; readonly requests: number; readonly errors: number; readonly cpuUsPerRequest: number | null };
export type Series = { readonly loader: 'wrk' | 'autocannon'; readonly upstream: 'nginx' | 'node'; readonly rounds: readonly (readonly ThroughputRun[])[] };

export type RateTarget = 'direct' | 'nginx' | 'node proxy' | 'sluice' | 'mtls pair';
export type RateRun = { readonly target: RateTarget; readonly p50: number; readonly p99: number; readonly p999: number; readonly requests: number; readonly non2xx: number; readonly seconds: number; readonly cpuSeconds: number };
export type RateTargetResult = {
  readonly target: RateTarget;
  readonly runs: readonly RateRun[];
  /** RSS per process of the target (the pair: client-side, server-side), MiB: idle, before any request, and the peak during the runs. */
  readonly rssIdle: readonly number[];
  readonly rssPeak: readonly number[];
};

export type SidecarResult = {
  readonly options: SidecarOptions;
  readonly machine: string;
  readonly uptimeBefore: string;
  readonly uptimeAfter: string;
  readonly skipped: readonly string[];
  readonly series: readonly Series[];
  readonly rateUpstream: 'nginx' | 'node' | null;
  readonly rate: readonly RateTargetResult[];
  readonly handshakes: readonly HandshakeRun[];
  /** Fresh plaintext connections to the one proxy, alternated with the handshake runs. */
  readonly plainConnections: readonly HandshakeRun[];
  readonly routeMatch: RouteMatchResult;
  readonly elapsedSeconds: number;
};

export async function sidecarBench(deps: SidecarDeps, o: SidecarOptions = sidecarOptions()): Promise<SidecarResult> {
  const started = Date.now();
  const m = machine();
  const root = join(deps.dir, 'sidecar');
  mkdirSync(root, { recursive: true });
  const skipped: string[] = [];
  const tools = { wrk: onPath('wrk'), nginx: onPath('nginx'), hey: hasHey() };
  if (!tools.nginx) skipped.push('nginx is not on PATH (apt-get install -y nginx): no nginx upstream and no nginx proxy; no ratio to nginx');
  if (!tools.wrk) skipped.push('wrk is not on PATH (apt-get install -y wrk): throughput by autocannon only, which flatters every ratio');
  if (!tools.hey) skipped.push('hey is not on PATH (apt-get install -y hey): no fixed-rate run, so no p99, CPU or RSS at the fixed rate, and no mTLS pair');

  let nginxUpstreamPort: number | null = null;
  if (tools.nginx) {
    nginxUpstreamPort = await deps.freePort();
    await deps.startNginx('nginx-upstream', nginxUpstreamPort, nginxUpstream(nginxUpstreamPort));
  }
  const upstreams = [...(nginxUpstreamPort === null ? [] : [{ name: 'nginx' as const, port: nginxUpstreamPort }]), { name: 'node' as const, port: deps.nodeUpstreamPort }];

  // --- throughput ---
  const proxies = new Map<'nginx' | 'node', { sluice: Running; nginx: Running | null; node: Running }>();
  for (const u of upstreams) {
    const sluice = await startSluice(deps, join(root, `throughput-${u.name}`), (port) => oneProxy(port, u.port));
    const nginx = tools.nginx ? await startNginxProxy(deps, `nginx-proxy-${u.name}`, u.port) : null;
    proxies.set(u.name, { sluice, nginx, node: await startNodeProxy(deps, u.port) });
  }
  const plan = [
    ...(tools.wrk ? upstreams.map((u) => ({ loader: 'wrk' as const, upstream: u })) : []),
    { loader: 'autocannon' as const, upstream: upstreams.find((u) => u.name === 'node')! },
  ];
  const series = plan.map((p) => ({ loader: p.loader, upstream: p.upstream.name, rounds: [] as ThroughputRun[][] }));
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, p] of plan.entries()) {
      const round: ThroughputRun[] = [];
      const px = proxies.get(p.upstream.name)!;
      for (const target of TARGETS) {
        const at =
          target === 'direct'
            ? { port: p.upstream.port, pid: null }
            : target === 'nginx'
              ? px.nginx && { port: px.nginx.port, pid: px.nginx.child.pid! }
              : target === 'node proxy'
                ? { port: px.node.port, pid: px.node.child.pid! }
                : { port: px.sluice.port, pid: px.sluice.child.pid! };
        if (at !== null) round.push(await throughputRun(p.loader, target, at.port, at.pid, o));
      }
      series[i].rounds.push(round);
    }
  }
  for (const px of proxies.values()) {
    await stop(px.sluice.child);
    if (px.nginx) await stop(px.nginx.child);
    await stop(px.node.child);
  }

  // --- fixed rate, handshakes ---
  const rate: RateTargetResult[] = [];
  const handshakeRuns: HandshakeRun[] = [];
  const plainRuns: HandshakeRun[] = [];
  const rateUpstream = tools.hey ? upstreams[0] : null;
  if (rateUpstream !== null) {
    const ca = newCa('mesh.example');
    const clientIdentity = writeIdentity(join(root, 'pki', 'client'), issue(ca, CLIENT_ID), ca.bundle);
    const serverIdentity = writeIdentity(join(root, 'pki', 'server'), issue(ca, SERVER_ID), ca.bundle);
    const one = await startSluice(deps, join(root, 'rate-sluice'), (port) => oneProxy(port, rateUpstream.port));
    const server = await startSluice(deps, join(root, 'rate-pair-server'), (port) => `identity: { dir: ${serverIdentity} }
listeners: [{ name: inbound, address: 127.0.0.1, port: ${port}, protocol: http, tls: { mode: STRICT } }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${rateUpstream.port} }] }]
`);
    const client = await startSluice(deps, join(root, 'rate-pair-client'), (port) => `identity: { dir: ${clientIdentity} }
listeners: [{ name: outbound, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: peer }] }] }]
backends: [{ name: peer, tls: { identities: [${SERVER_ID}] }, endpoints: [{ address: 127.0.0.1, port: ${server.port} }] }]
`);
    const nginx = tools.nginx ? await startNginxProxy(deps, 'nginx-proxy-rate', rateUpstream.port) : null;
    const nodeProxy = await startNodeProxy(deps, rateUpstream.port);
    const targets = [
      { target: 'direct' as const, port: rateUpstream.port, pids: [] as number[] },
      ...(nginx === null ? [] : [{ target: 'nginx' as const, port: nginx.port, pids: [nginx.child.pid!] }]),
      { target: 'node proxy' as const, port: nodeProxy.port, pids: [nodeProxy.child.pid!] },
      { target: 'sluice' as const, port: one.port, pids: [one.child.pid!] },
      { target: 'mtls pair' as const, port: client.port, pids: [client.child.pid!, server.child.pid!] },
    ];
    // Idle: started, settled, not one request yet.
    await sleep(2000);
    const results = targets.map((t) => ({ target: t.target, runs: [] as RateRun[], rssIdle: t.pids.map(rssMiB), rssPeak: t.pids.map(() => 0) }));
    for (let r = 0; r < o.rounds; r++) {
      for (const [i, t] of targets.entries()) {
        const url = `http://127.0.0.1:${t.port}/`;
        // Once per target: later rounds find the proxy warm (hey's connections are new each run either way).
        if (r === 0 && o.warmupSeconds > 0) await hey(url, { connections: o.rateConnections, rate: o.rate, seconds: o.warmupSeconds });
        const peak = results[i].rssPeak as number[];
        const sample = () => t.pids.forEach((pid, k) => (peak[k] = Math.max(peak[k], rssMiB(pid))));
        const sampler = setInterval(sample, 200);
        const cpuBefore = t.pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
        const h = await hey(url, { connections: o.rateConnections, rate: o.rate, seconds: o.rateSeconds });
        const cpu = t.pids.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpuBefore;
        clearInterval(sampler);
        sample();
        if (h.non2xx > h.latencies.length / 1000) throw new Error(`fixed-rate bench: ${t.target}: ${h.non2xx} answers outside 2xx in ${h.latencies.length}`);
        results[i].runs.push({ target: t.target, p50: percentile(h.latencies, 50), p99: percentile(h.latencies, 99), p999: percentile(h.latencies, 99.9), requests: h.latencies.length, non2xx: h.non2xx, seconds: h.seconds, cpuSeconds: cpu });
      }
    }
    rate.push(...results);

    // mTLS to the pair's STRICT server-side proxy, and plaintext to the one proxy alternated
    // with it: on a loaded machine the plaintext rate says how much of the machine there was.
    const context = clientContext(issue(ca, CLIENT_ID), ca.bundle);
    const strict = { child: server.child, port: server.port, statsPort: server.statsPort };
    await handshakes(strict, context, 1);
    await handshakes(one, null, 1);
    for (let i = 0; i < 2; i++) {
      handshakeRuns.push(await handshakes(strict, context, o.handshakeSeconds));
      plainRuns.push(await handshakes(one, null, o.handshakeSeconds));
    }
    for (const p of [one, server, client, nginx, nodeProxy]) if (p) await stop(p.child);
  }

  // --- route match, in this process ---
  const routeMatch = await routeMatchBench({ services: [10, 5000], rounds: o.routeRounds });

  return {
    options: o,
    machine: m.line,
    uptimeBefore: m.uptime,
    uptimeAfter: uptime(),
    skipped,
    series,
    rateUpstream: rateUpstream?.name ?? null,
    rate,
    handshakes: handshakeRuns,
    plainConnections: plainRuns,
    routeMatch,
    elapsedSeconds: (Date.now() - started) / 1000,
  };
}

type Running = { readonly child: ChildProcess; readonly port: number; readonly statsPort: number };

async function startSluice(deps: SidecarDeps, dir: string, config: (port: number) => string): Promise<Running> {
  mkdirSync(dir, { recursive: true });
  const port = await deps.freePort();
  const statsPort = await deps.freePort();
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, config(port));
  return { child: await deps.startProxy(file, statsPort), port, statsPort };
}

async function startNodeProxy(deps: SidecarDeps, upstreamPort: number): Promise<Running> {
  const port = await deps.freePort();
  return { child: await deps.startNodeProxy(port, upstreamPort), port, statsPort: 0 };
}

async function startNginxProxy(deps: SidecarDeps, name: string, upstreamPort: number): Promise<Running> {
  const port = await deps.freePort();
  return { child: await deps.startNginx(name, port, nginxProxy(port, upstreamPort)), port, statsPort: 0 };
}

/** Sluice as a plain reverse proxy, its defaults as shipped (retries, outlier detection), no access log. */
function oneProxy(port: number, upstreamPort: number): string {
  return `listeners: [{ name: bench, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${upstreamPort} }] }]
`;
}

/** nginx.conf for one worker, no master and no daemon, everything it writes under `prefix`; `http` is the http block's body. */
export function nginxConf(prefix: string, http: string): string {
  return `worker_processes 1;
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  ${http}
}
`;
}

// nginx closes a keep-alive connection after 1 000 requests by default, downstream and to a
// keepalive upstream; neither wrk nor Sluice nor the Node upstream does, so that is lifted.
const KEEPALIVE = 'keepalive_requests 100000000; keepalive_timeout 300s;';

/** 1 KiB answers, as the Node upstream's. */
export function nginxUpstream(port: number): string {
  return `server {
    listen 127.0.0.1:${port};
    ${KEEPALIVE}
    location / { default_type text/plain; return 200 '${'x'.repeat(1024)}'; }
  }`;
}

/** The same reverse proxy as Sluice's: HTTP/1.1 with a pool of kept-alive upstream connections. */
export function nginxProxy(port: number, upstreamPort: number): string {
  return `upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; ${KEEPALIVE} }
  server {
    listen 127.0.0.1:${port};
    ${KEEPALIVE}
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`;
}

async function throughputRun(loader: 'wrk' | 'autocannon', target: Target, port: number, pid: number | null, o: SidecarOptions): Promise<ThroughputRun> {
  const url = `http://127.0.0.1:${port}/`;
  const run = async (seconds: number) => {
    if (loader === 'wrk') return wrk(url, { connections: o.connections, seconds, threads: 1 });
    const r = await autocannon({ url, connections: o.connections, duration: seconds });
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.non2xx + r.errors + r.timeouts };
  };
  if (o.warmupSeconds > 0) await run(o.warmupSeconds);
  const before = pid === null ? 0 : cpuSeconds(pid);
  const r = await run(o.seconds);
  const cpu = pid === null ? null : cpuSeconds(pid) - before;
  // A stray socket error at the end of a run is noise; more than 0.1 % is a broken target.
  if (r.errors > r.requests / 1000) throw new Error(`throughput bench: ${loader} at ${target} (${url}): ${r.errors} errors in ${r.requests} requests`);
  return { target, rps: r.rps, p50: r.p50, p99: r.p99, requests: r.requests, errors: r.errors, cpuUsPerRequest: cpu === null ? null : (cpu * 1e6) / r.requests };
}

/** SIGTERM, then SIGKILL past 10 s; resolves once the process has exited. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// The report (median ratios, the goals table, the printed summary) is in sidecar-report.ts.
export { goalsTable, measured, median, sidecarSummary, type Measured } from './sidecar-report.ts';
