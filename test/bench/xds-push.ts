// `npm run bench`, the xDS push section (issue 7): the time from `sluicectl apply` to every
// simulated proxy's ACK of the change, at N proxies (BENCH_XDS_PROXIES, default
// "1000,5000"), with sluice-cp's RSS and CPU, beside a baseline measured in the same run.
//
//   sluice-cp   a fresh sluice-cp (child process, file store), seeded through its API with
//               a Mesh, 50 Services and N Workloads (xds-mesh.ts). N simulated proxies, in
//               separate load-client processes (xds-fleet.ts, ads-load-client.ts), each a
//               Workload on its own ADS stream, sync everything and ACK every response.
//               Then PUSHES times: the clock starts, `sluicectl apply -f` (a spawned CLI)
//               changes an HTTPRoute that every proxy's `outbound` RouteConfiguration
//               carries, and each proxy stamps the ACK of the first RouteConfiguration
//               response with a new version. p50 / p99 / max over the proxies, and how many
//               missed the bound (PUSH_TIMEOUT_MS).
//   baseline    ads-baseline-server.ts: the same gRPC library and ADS service, serving the
//               bytes sluice-cp sent, and on a trigger writing one pre-encoded response of
//               the same size to all N streams; the same clients, the same stamps.
//
// CPU is user + system time from /proc/PID/stat of the server process, over the initial
// sync and over each push (trigger -> last ACK + SETTLE_MS); RSS is VmRSS at idle with N
// streams. Every process started here is stopped by its own handle before this returns.
// Also: BENCH_XDS_STREAMS_PER_CHANNEL (default 25), BENCH_XDS_CLIENT_PROCESSES (default one per 2 500).
//
// xdsPolicyBench (issue 15, BENCH_ONLY=xds-policies): the same push at 1 000 proxies
// (BENCH_XDS_POLICY_PROXIES), twice in one run, each on a fresh sluice-cp: as above (the
// baseline: no policy), and with every Service carrying a policy of every kind and a filtered
// HTTPRoute (xds-mesh.ts seedPolicies; the pushed route has the filters too).
// BENCH_XDS_POLICY_ROUNDS (default 1) repeats the pair, every other one in reverse order.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TYPE_URLS } from '../../xds/index.ts';
import { proxyEnv } from '../../proxy/node-flags.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { rssMiB } from '../helpers/rss.ts';
import { startAdsBaseline, type BaselinePlan, type BaselineServer } from './ads-baseline-server.ts';
import { decodeResponseObject, encodeResponse } from './ads-wire.ts';
import { Fleet, type PushResult, type SyncResult } from './xds-fleet.ts';
import { ROUTE_NAME, seedMesh, seedPolicies, simNodes, writeRoute } from './xds-mesh.ts';
import { newSigner } from './policy-set.ts';
import { xdsPolicySummary, xdsSummary, type Side, type XdsBenchResult, type XdsPolicyResult, type XdsPush } from './xds-report.ts';

export { xdsPolicySummary, xdsSummary } from './xds-report.ts';

const CLI_MAIN = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));
const RDS = TYPE_URLS.RouteConfiguration;
const PUSHES = 5;
/** Weights of svc-000 in the split, one per push: each differs from the one before. */
const WEIGHTS = [90, 10, 80, 20, 70];
const PUSH_TIMEOUT_MS = 30_000;
const SYNC_TIMEOUT_MS = 180_000;
const SEED_LIMIT_MS = 180_000;
/** After the last ACK, before the server's CPU is read: its handling of the ACKs counts too. */
const SETTLE_MS = 300;
/** Between pushes, and before the idle RSS is read. */
const PAUSE_MS = 1_000;
const STREAMS_PER_CHANNEL = Number(process.env.BENCH_XDS_STREAMS_PER_CHANNEL ?? 25);
/**
 * Load-client processes: one per 2 500 proxies unless BENCH_XDS_CLIENT_PROCESSES says. At 5 000
 * one process was the baseline's bottleneck (its clients spent twice the server's CPU).
 */
const clientProcesses = (n: number) => Number(process.env.BENCH_XDS_CLIENT_PROCESSES ?? Math.ceil(n / 2_500));

export async function xdsBench(opts: { dir: string; sizes?: readonly number[] }): Promise<XdsBenchResult> {
  const sizes = opts.sizes ?? (process.env.BENCH_XDS_PROXIES ?? '1000,5000').split(',').map(Number);
  for (const n of sizes) if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_XDS_PROXIES must list integers >= 1, not ${process.env.BENCH_XDS_PROXIES}`);
  const root = mkdtempSync(join(opts.dir, 'xds-'));
  try {
    const runs: XdsBenchResult['runs'][number][] = [];
    for (const n of sizes) {
      const sluice = await sluiceRun(root, n);
      const baseline = await baselineRun(root, n, sluice.sample);
      runs.push({ proxies: n, clientProcesses: clientProcesses(n), streamsPerChannel: STREAMS_PER_CHANNEL, sluice: sluice.side, baseline, responseBytes: Object.fromEntries(Object.entries(sluice.sample).map(([t, b]) => [t, b.length])) });
    }
    return { runs, pushTimeoutMs: PUSH_TIMEOUT_MS };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Push latency at `proxies` without policies and with one of every kind, in one run (issue 15). */
export async function xdsPolicyBench(opts: { dir: string; proxies?: number; rounds?: number }): Promise<XdsPolicyResult> {
  const n = opts.proxies ?? Number(process.env.BENCH_XDS_POLICY_PROXIES ?? 1000);
  const rounds = opts.rounds ?? Number(process.env.BENCH_XDS_POLICY_ROUNDS ?? 1);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_XDS_POLICY_PROXIES must be an integer >= 1, not ${process.env.BENCH_XDS_POLICY_PROXIES}`);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`BENCH_XDS_POLICY_ROUNDS must be an integer >= 1, not ${process.env.BENCH_XDS_POLICY_ROUNDS}`);
  const root = mkdtempSync(join(opts.dir, 'xds-policies-'));
  const jwks = (await newSigner()).jwks;
  try {
    const plain: Side[] = [];
    const policed: Side[] = [];
    let policyResources = 0;
    const responseBytes: Record<'plain' | 'policies', Record<string, number>> = { plain: {}, policies: {} };
    for (let i = 0; i < rounds; i++) {
      for (const withPolicies of i % 2 === 0 ? [false, true] : [true, false]) {
        const run = await sluiceRun(root, n, withPolicies ? jwks : null, `${i}-${withPolicies ? 'policies' : 'plain'}`);
        (withPolicies ? policed : plain).push(run.side);
        if (withPolicies) policyResources = run.policyResources;
        responseBytes[withPolicies ? 'policies' : 'plain'] = Object.fromEntries(Object.entries(run.sample).map(([t, b]) => [t, b.length]));
      }
    }
    return { proxies: n, pushTimeoutMs: PUSH_TIMEOUT_MS, plain, policies: policed, policyResources, responseBytes };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One fresh sluice-cp, N proxies, PUSHES pushes; `jwks` set: every Service gets the policies (seedPolicies) and the pushed route the filters. */
async function sluiceRun(root: string, n: number, jwks: string | null = null, tag = ''): Promise<{ side: Side; sample: Record<string, Buffer>; policyResources: number }> {
  const cp = await startControlPlane({ dataDir: join(root, `cp-${n}${tag === '' ? '' : `-${tag}`}`, 'data'), timeoutMs: 60_000 });
  let fleet: Fleet | undefined;
  let policyResources = 0;
  try {
    await seedMesh(cp.url, cp.token, n, SEED_LIMIT_MS);
    if (jwks !== null) policyResources = await seedPolicies(cp.url, cp.token, jwks, SEED_LIMIT_MS);
    await sleep(PAUSE_MS);
    const rssBeforeMiB = rssMiB(cp.pid);
    fleet = await Fleet.start(clientProcesses(n));
    const cpu0 = cpuSeconds(cp.pid);
    const sync = await fleet.connect(cp.xdsPlaintext!, simNodes(n), STREAMS_PER_CHANNEL, SYNC_TIMEOUT_MS);
    const syncCpu = cpuSeconds(cp.pid) - cpu0;
    await sleep(2 * PAUSE_MS);
    const rssIdleMiB = rssMiB(cp.pid);
    const routeFile = join(root, `route-${n}${tag === '' ? '' : `-${tag}`}.yaml`);
    const pushes: XdsPush[] = [];
    for (let k = 0; k < PUSHES; k++) {
      writeRoute(routeFile, WEIGHTS[k % WEIGHTS.length], jwks !== null);
      const writesBefore = routeWrites(cp).length;
      let ctl: Promise<number> = Promise.resolve(0);
      const c0 = cpuSeconds(cp.pid);
      const r = await fleet.push(RDS, PUSH_TIMEOUT_MS, () => (ctl = sluicectl(cp, routeFile)));
      const ctlExit = await ctl;
      await sleep(SETTLE_MS);
      const cpu = cpuSeconds(cp.pid) - c0;
      const write = routeWrites(cp)[writesBefore];
      pushes.push({ ...stats(r), serverCpuSeconds: cpu, ctlMs: ctlExit - r.start, writeMs: write === undefined ? null : write - r.start });
      await sleep(PAUSE_MS);
    }
    const sample = await fleet.sample();
    await fleet.stop();
    fleet = undefined;
    const problems = cp
      .stderr()
      .split('\n')
      .filter((l) => /"level":"(warn|error)"/.test(l));
    return { side: { sync: syncStats(sync), syncCpuSeconds: syncCpu, rssBeforeMiB, rssIdleMiB, pushes, logProblems: problems }, sample, policyResources };
  } finally {
    fleet?.kill();
    await stopCp(cp);
  }
}

async function baselineRun(root: string, n: number, sample: Record<string, Buffer>): Promise<Side> {
  const rds = sample[RDS];
  if (rds === undefined) throw new Error('no RouteConfiguration response was captured from sluice-cp for the baseline');
  const decoded = decodeResponseObject(rds);
  const version = String(decoded.version_info ?? '');
  // The same resources, a new version of the same length per push: the same bytes on the wire.
  const pushes = Array.from({ length: PUSHES }, (_, k) =>
    encodeResponse({ ...decoded, version_info: `b${k}`.padEnd(version.length, 'x'), nonce: `${decoded.nonce ?? ''}`.replace(/./g, 'n') }).toString('base64'),
  );
  const plan: BaselinePlan = { initial: Object.fromEntries(Object.entries(sample).map(([t, b]) => [t, b.toString('base64')])), pushTypeUrl: RDS, pushes };
  const planFile = join(root, `baseline-${n}.json`);
  writeFileSync(planFile, JSON.stringify(plan));
  let server: BaselineServer | undefined;
  let fleet: Fleet | undefined;
  try {
    server = await startAdsBaseline(planFile);
    const pid = server.child.pid!;
    await sleep(PAUSE_MS);
    const rssBeforeMiB = rssMiB(pid);
    fleet = await Fleet.start(clientProcesses(n));
    const cpu0 = cpuSeconds(pid);
    const sync = await fleet.connect(server.address, simNodes(n), STREAMS_PER_CHANNEL, SYNC_TIMEOUT_MS);
    const syncCpu = cpuSeconds(pid) - cpu0;
    await sleep(2 * PAUSE_MS);
    const rssIdleMiB = rssMiB(pid);
    const pushes: XdsPush[] = [];
    for (let k = 0; k < PUSHES; k++) {
      const c0 = cpuSeconds(pid);
      const s = server;
      const r = await fleet.push(RDS, PUSH_TIMEOUT_MS, () => s.push(k));
      await sleep(SETTLE_MS);
      pushes.push({ ...stats(r), serverCpuSeconds: cpuSeconds(pid) - c0, ctlMs: null, writeMs: null });
      await sleep(PAUSE_MS);
    }
    await fleet.stop();
    fleet = undefined;
    return { sync: syncStats(sync), syncCpuSeconds: syncCpu, rssBeforeMiB, rssIdleMiB, pushes, logProblems: [] };
  } finally {
    fleet?.kill();
    await server?.stop();
  }
}

/** Spawns `sluicectl apply -f FILE`; resolves with the epoch ms it exited at, and fails on a non-zero exit. */
function sluicectl(cp: ControlPlaneProcess, file: string): Promise<number> {
  const child = spawn(process.execPath, [CLI_MAIN, 'apply', '-f', file, '--server', cp.url, '--token-file', cp.tokenFile], { stdio: ['ignore', 'pipe', 'pipe'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), PUSH_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(performance.timeOrigin + performance.now());
      else reject(new Error(`sluicectl apply exited with ${code}: ${out}`));
    });
  });
}

/** Epoch ms of each store write of the bench's route, from sluice-cp's log ("created" / "updated"). */
function routeWrites(cp: ControlPlaneProcess): number[] {
  const out: number[] = [];
  for (const m of cp.stderr().matchAll(/\{"time":"([^"]+)","level":"info","msg":"(?:created|updated)","kind":"HTTPRoute"[^\n]*"name":"([^"]+)"/g)) {
    if (m[2] === ROUTE_NAME) out.push(Date.parse(m[1]));
  }
  return out;
}

function stats(r: PushResult): Omit<XdsPush, 'serverCpuSeconds' | 'ctlMs' | 'writeMs'> {
  const got = r.ms.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return { first: got[0] ?? NaN, p50: pct(got, 50), p99: pct(got, 99), max: got.at(-1) ?? NaN, missing: r.ms.length - got.length, responses: r.responses, clientCpuMs: r.clientCpuMs, failures: r.failures.length };
}

function syncStats(s: SyncResult): Side['sync'] {
  const got = s.ms.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return { p50: pct(got, 50), p99: pct(got, 99), max: got.at(-1) ?? NaN, missing: s.ms.length - got.length, channels: s.channels, clientCpuMs: s.clientCpuMs, failures: s.failures.slice(0, 5) };
}

function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** user + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function stopCp(cp: ControlPlaneProcess): Promise<void> {
  const stopped = await Promise.race([cp.stop().then(() => true), sleep(15_000).then(() => false)]);
  if (!stopped) {
    cp.child.kill('SIGKILL');
    await cp.exited;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// `node test/bench/xds-push.ts [policies]`: this section alone (run.ts's BENCH_ONLY=xds or xds-policies does the same).
if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  try {
    console.log((process.argv[2] === 'policies' ? xdsPolicySummary(await xdsPolicyBench({ dir })) : xdsSummary(await xdsBench({ dir }))).join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
