// `npm run bench`, the control-plane section: apply and list throughput on the file store
// with N resources (BENCH_CP_RESOURCES, default 10 000), and the memory of sluice-cp
// holding them, each beside a baseline measured in the same run, as ratios.
//
//   API writes  N Workload creates (POST), then N updates (PUT, the spec changed), from 16
//               keep-alive clients, against a fresh sluice-cp; the baseline is a minimal
//               node:http server (cp-baseline-server.ts, a child process) that reads the body,
//               JSON.parse's it, appends it to a file with fdatasync and answers with it:
//               the floor of "HTTP + JSON + one durable append per write", without
//               validation, the store or the log line sluice-cp writes per write.
//   store       the same N creates through openStore in this process, awaited one at a time
//               and 64 in flight (group commit), against writeSync + fdatasyncSync of the
//               same JSON lines, one fdatasync per write.
//   list        the whole collection of N, 20 times, one at a time; the baseline serves the
//               very bytes sluice-cp answered, pre-serialized.
//   memory      RSS of sluice-cp empty, after the writes, and freshly restarted on the N;
//               the data directory's size; the time from spawn to "api listening" on the N
//               against an empty store.
//
// Everything runs on 127.0.0.1, in a scratch folder under the caller's, and every process
// started here is stopped by its own handle before this returns, whatever happens.

import type { ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { openStore } from '../../control-plane/store/index.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { startBaseline } from './cp-baseline-server.ts';
import { rssMiB } from '../helpers/rss.ts';

const TYPE = 'workloads.mesh.sluice.dev';
const NAMESPACE = 'bench';
const COLLECTION = `/apis/mesh.sluice.dev/v1alpha1/namespaces/${NAMESPACE}/workloads`;
/** Concurrent HTTP clients in the write phases, one keep-alive connection each. */
const CLIENTS = 16;
/** Store writes in flight at once in the group-commit run. */
const IN_FLIGHT = 64;
/** Whole-collection GETs per target. */
const LISTS = 20;
/** Dry-run creates before the measured writes, so neither server is timed while its JIT warms up. */
const WARMUP = 500;
/** Restarts of each kind (empty, full), alternated; the median is reported. */
const RESTARTS = 3;
/** Time for a freshly written heap to settle (V8's idle GC) before its RSS is read. */
const SETTLE_MS = 1_000;
/** A bound on each measured phase: past it the bench fails rather than report part of one. */
const PHASE_LIMIT_MS = Number(process.env.BENCH_CP_PHASE_SECONDS ?? 300) * 1000;

export type CpBenchOptions = {
  /** Scratch folder: a `cp-*` folder under it holds every data dir and file, and is removed at the end. */
  readonly dir: string;
  /** Default BENCH_CP_RESOURCES, else 10 000. */
  readonly resources?: number;
};

/** One measured run of `count` operations; latencies in ms (0 where not taken one by one). */
export type Rate = { readonly count: number; readonly seconds: number; readonly perSecond: number; readonly p50Ms: number; readonly p99Ms: number };

export type CpBenchResult = {
  readonly resources: number;
  readonly api: { readonly creates: Pair<Rate>; readonly updates: Pair<Rate> };
  readonly store: { readonly serial: Rate; readonly inFlight: Rate; readonly raw: Rate; readonly rawRuns: readonly [Rate, Rate]; readonly journalLineBytes: number };
  /** `bytes`: one list response, the same for both. */
  readonly list: { readonly bytes: number } & Pair<Rate>;
  readonly memory: {
    /** Right after the first start on an empty data dir, after SETTLE_MS. */
    readonly emptyMiB: number;
    /** The process that took the writes, holding N, after SETTLE_MS. */
    readonly afterWritesMiB: number;
    /** Medians over the restarts, each read SETTLE_MS after "api listening". */
    readonly restartedEmptyMiB: number;
    readonly restartedFullMiB: number;
  };
  readonly disk: { readonly totalBytes: number; readonly snapshotBytes: number; readonly journalBytes: number };
  readonly restart: { readonly emptyMs: readonly number[]; readonly fullMs: readonly number[] };
};

type Pair<T> = { readonly sluice: T; readonly baseline: T };

// --- the bench ---

export async function cpBench(opts: CpBenchOptions): Promise<CpBenchResult> {
  const n = opts.resources ?? Number(process.env.BENCH_CP_RESOURCES ?? 10_000);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_CP_RESOURCES must be an integer >= 1, not ${process.env.BENCH_CP_RESOURCES}`);
  const root = mkdtempSync(join(opts.dir, 'cp-'));
  const running = new Set<ControlPlaneProcess>();
  let baselineChild: ChildProcess | undefined;
  const pools: Pool[] = [];
  const start = async (dataDir: string) => {
    // Loading N resources is part of what is measured; the helper's 15 s default would cut a large N short.
    const cp = await startControlPlane({ dataDir, timeoutMs: 120_000 });
    running.add(cp);
    return cp;
  };
  const stop = async (cp: ControlPlaneProcess) => {
    running.delete(cp);
    await stopProcess(cp);
  };
  try {
    // The store alone first, while no server competes with this process for the cores.
    const store = await storeBench(join(root, 'store'), n);

    const emptyDir = join(root, 'empty');
    const fullDir = join(root, 'full');
    const first = await start(emptyDir);
    await sleep(SETTLE_MS);
    const emptyMiB = rssMiB(first.pid);
    await stop(first);

    const baseline = await startBaseline(join(root, 'baseline.log'));
    baselineChild = baseline.child;
    const cp = await start(fullDir);
    const headers = { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' };
    const sluicePool = new Pool(cp.url, { connections: CLIENTS, headersTimeout: 60_000, bodyTimeout: 60_000 });
    const basePool = new Pool(baseline.url, { connections: CLIENTS, headersTimeout: 60_000, bodyTimeout: 60_000 });
    pools.push(sluicePool, basePool);

    // Dry runs go through the whole request path (body, JSON, validation; the baseline skips
    // only its append), so both are warm and neither store holds anything yet.
    const dryRun = (i: number) => ({ path: `${COLLECTION}?dryRun=All`, method: 'POST' as const, headers, body: JSON.stringify(workload(i, 0)) });
    await drive('sluice-cp warm-up', sluicePool, WARMUP, dryRun, 201);
    await drive('baseline warm-up', basePool, WARMUP, dryRun, 201);

    const create = (i: number) => ({ path: COLLECTION, method: 'POST' as const, headers, body: JSON.stringify(workload(i, 0)) });
    const update = (i: number) => ({ path: `${COLLECTION}/${nameOf(i)}`, method: 'PUT' as const, headers, body: JSON.stringify(workload(i, 1)) });
    // A B B A: the baseline's runs sit either side of sluice-cp's, so drift over the minute hits both.
    const baseCreates = await drive('baseline creates', basePool, n, create, 201);
    const sluiceCreates = await drive('sluice-cp creates', sluicePool, n, create, 201);
    const sluiceUpdates = await drive('sluice-cp updates', sluicePool, n, update, 200);
    const baseUpdates = await drive('baseline updates', basePool, n, update, 200);

    await sleep(SETTLE_MS);
    const afterWritesMiB = rssMiB(cp.pid);

    // The bytes sluice-cp answers, handed to the baseline to serve as they are.
    const listed = await fetchBytes(sluicePool, { path: COLLECTION, method: 'GET', headers });
    const items = (JSON.parse(listed.toString('utf8')) as { items: unknown[] }).items.length;
    if (items !== n) throw new Error(`sluice-cp lists ${items} Workloads, expected ${n}`);
    const cached = await basePool.request({ path: '/__cache', method: 'PUT', body: listed });
    await cached.body.dump();
    if (cached.statusCode !== 204) throw new Error(`the baseline refused the list bytes: ${cached.statusCode}`);
    await fetchBytes(basePool, { path: COLLECTION, method: 'GET', headers });
    // One at a time and alternated request by request: a list is a latency a controller waits on.
    const listTimes: Pair<number[]> = { sluice: [], baseline: [] };
    const listDeadline = performance.now() + PHASE_LIMIT_MS;
    for (let i = 0; i < LISTS; i++) {
      for (const [key, pool] of [['sluice', sluicePool], ['baseline', basePool]] as const) {
        const t0 = performance.now();
        const body = await fetchBytes(pool, { path: COLLECTION, method: 'GET', headers });
        listTimes[key].push(performance.now() - t0);
        if (body.length !== listed.length) throw new Error(`${key} list answered ${body.length} bytes, expected ${listed.length}`);
      }
      if (performance.now() > listDeadline) throw new Error(`the list phase ran past ${PHASE_LIMIT_MS / 1000} s`);
    }
    await Promise.all(pools.splice(0).map((p) => p.close()));
    await stop(cp);
    baseline.child.kill();
    baselineChild = undefined;

    const disk = diskUse(fullDir);
    const restart = { emptyMs: [] as number[], fullMs: [] as number[] };
    const restartRss = { empty: [] as number[], full: [] as number[] };
    for (let i = 0; i < RESTARTS; i++) {
      const order = i % 2 === 0 ? (['empty', 'full'] as const) : (['full', 'empty'] as const);
      for (const kind of order) {
        const t0 = performance.now();
        const again = await start(kind === 'empty' ? emptyDir : fullDir);
        restart[kind === 'empty' ? 'emptyMs' : 'fullMs'].push(performance.now() - t0);
        await sleep(SETTLE_MS);
        restartRss[kind].push(rssMiB(again.pid));
        await stop(again);
      }
    }

    return {
      resources: n,
      api: { creates: { sluice: sluiceCreates, baseline: baseCreates }, updates: { sluice: sluiceUpdates, baseline: baseUpdates } },
      store,
      list: { bytes: listed.length, sluice: rateOf(listTimes.sluice), baseline: rateOf(listTimes.baseline) },
      memory: { emptyMiB, afterWritesMiB, restartedEmptyMiB: median(restartRss.empty), restartedFullMiB: median(restartRss.full) },
      disk,
      restart,
    };
  } finally {
    await Promise.all(pools.map((p) => p.destroy()));
    for (const cp of running) await stopProcess(cp);
    baselineChild?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

/** N creates through the store in this process, between two runs of the raw appends it is compared with. */
async function storeBench(dir: string, n: number): Promise<CpBenchResult['store']> {
  mkdirSync(dir, { recursive: true });
  // Timed through close(): it waits for the snapshot the 10 000th write starts, which the
  // store pays once per 10 000 writes, so N writes carry their share of it.
  const timed = async (name: string, inFlight: number): Promise<Rate> => {
    const store = await openStore(`file:${join(dir, name)}`, { clock: Date.now });
    let next = 0;
    const t0 = performance.now();
    const deadline = t0 + PHASE_LIMIT_MS;
    const worker = async () => {
      while (next < n) {
        if (performance.now() > deadline) throw new Error(`store ${name}: ran past ${PHASE_LIMIT_MS / 1000} s`);
        await store.create(TYPE, workload(next++, 0));
      }
    };
    try {
      await Promise.all(Array.from({ length: inFlight }, () => worker().catch((err: unknown) => ((next = n), Promise.reject(err)))));
    } finally {
      await store.close();
    }
    return rateOf(null, n, performance.now() - t0);
  };

  // The floor: the same JSON, one line and one fdatasync per write, nothing else.
  const rawRun = (name: string): Rate => {
    const fd = openSync(join(dir, name), 'a', 0o600);
    const t0 = performance.now();
    try {
      for (let i = 0; i < n; i++) {
        writeSync(fd, `${JSON.stringify(workload(i, 0))}\n`);
        fdatasyncSync(fd);
        if (i % 1000 === 999 && performance.now() - t0 > PHASE_LIMIT_MS) throw new Error(`raw appends ran past ${PHASE_LIMIT_MS / 1000} s`);
      }
    } finally {
      closeSync(fd);
    }
    return rateOf(null, n, performance.now() - t0);
  };
  // Before and after the store's runs, averaged: a shared disk's fdatasync time drifts.
  const rawBefore = rawRun('raw-1.log');
  const serial = await timed('serial', 1);
  const inFlight = await timed('in-flight', IN_FLIGHT);
  const rawAfter = rawRun('raw-2.log');
  const raw = rateOf(null, 2 * n, rawBefore.seconds * 1000 + rawAfter.seconds * 1000);
  return { serial, inFlight, raw, rawRuns: [rawBefore, rawAfter], journalLineBytes: Buffer.byteLength(JSON.stringify(workload(0, 0))) + 1 };
}

type RequestSpec = { path: string; method: 'GET' | 'POST' | 'PUT'; headers?: Record<string, string>; body?: string | Buffer };

/** `count` requests from CLIENTS concurrent clients, each waiting for its answer before the next. */
async function drive(name: string, pool: Pool, count: number, request: (i: number) => RequestSpec, expect: number): Promise<Rate> {
  const latencies = new Float64Array(count);
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + PHASE_LIMIT_MS;
  const client = async () => {
    while (next < count) {
      if (performance.now() > deadline) throw new Error(`${name}: ran past ${PHASE_LIMIT_MS / 1000} s after ${next} of ${count}`);
      const i = next++;
      const spec = request(i);
      const start = performance.now();
      const res = await pool.request(spec);
      const text = await res.body.text();
      latencies[i] = performance.now() - start;
      // One wrong answer means a broken bench, not a slow server.
      if (res.statusCode !== expect) throw new Error(`${name}: ${spec.method} ${spec.path} answered ${res.statusCode}, expected ${expect}: ${text.slice(0, 500)}`);
    }
  };
  // The first failure stops the other clients too (no more requests are taken).
  await Promise.all(Array.from({ length: CLIENTS }, () => client().catch((err: unknown) => ((next = count), Promise.reject(err)))));
  return rateOf(Array.from(latencies), count, performance.now() - t0);
}

async function fetchBytes(pool: Pool, spec: RequestSpec): Promise<Buffer> {
  const res = await pool.request(spec);
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200) throw new Error(`${spec.method} ${spec.path} answered ${res.statusCode}: ${body.toString('utf8', 0, 500)}`);
  return body;
}

function workload(i: number, version: number) {
  return {
    apiVersion: 'mesh.sluice.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: nameOf(i), namespace: NAMESPACE, labels: { app: `app-${i % 100}`, version: `v${version + 1}` } },
    // The update moves the address and the port: a spec change, so a new revision and generation.
    spec: { address: `10.${version}.${(i >> 8) & 255}.${i & 255}`, ports: { http: 8080 + version }, zone: `dc-${(i % 3) + 1}`, serviceAccount: `app-${i % 100}` },
  };
}

function nameOf(i: number): string {
  return `workload-${String(i).padStart(6, '0')}`;
}

// --- processes ---

/** SIGTERM, so the store closes as an operator's stop would; SIGKILL if it hangs. */
async function stopProcess(cp: ControlPlaneProcess): Promise<void> {
  const stopped = await Promise.race([cp.stop().then(() => true), sleep(15_000).then(() => false)]);
  if (!stopped) {
    cp.child.kill('SIGKILL');
    await cp.exited;
  }
}

// --- readings ---

function rateOf(latencies: number[] | null, count?: number, ms?: number): Rate {
  const total = ms ?? (latencies ?? []).reduce((s, x) => s + x, 0);
  const n = count ?? latencies?.length ?? 0;
  const sorted = [...(latencies ?? [])].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return { count: n, seconds: total / 1000, perSecond: (n * 1000) / total, p50Ms: pct(50), p99Ms: pct(99) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Apparent size of every file under `dir`. */
function diskUse(dir: string): CpBenchResult['disk'] {
  let totalBytes = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) totalBytes += statSync(join(e.parentPath, e.name)).size;
  const size = (name: string) => {
    try {
      return statSync(join(dir, name)).size;
    } catch {
      return 0;
    }
  };
  return { totalBytes, snapshotBytes: size('snapshot.json'), journalBytes: size('journal.log') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- report ---

/** The lines run.ts prints. Ratios are sluice-cp / baseline (throughput: higher is better; restart time: lower). */
export function cpSummary(r: CpBenchResult): string[] {
  const f = (x: number, d = 2) => x.toFixed(d);
  const int = (x: number) => Math.round(x).toLocaleString('en-US');
  const mb = (bytes: number) => f(bytes / 1e6, 2);
  const rate = (x: Rate, unit: string) => `${int(x.perSecond)} ${unit}/s${x.p99Ms > 0 ? ` (p50 ${f(x.p50Ms)} ms, p99 ${f(x.p99Ms)} ms)` : ''}`;
  const ratio = (p: Pair<Rate>) => `${f(p.sluice.perSecond / p.baseline.perSecond, 3)}x`;
  const { api, store, list, memory, disk, restart } = r;
  const listMs = (x: Rate) => (x.seconds * 1000) / x.count;
  const restartEmpty = median(restart.emptyMs);
  const restartFull = median(restart.fullMs);
  return [
    `control plane, file store, ${int(r.resources)} Workloads (baseline: node:http + JSON.parse + one append with fdatasync per write, no validation/store/log):`,
    `  API creates (POST, ${CLIENTS} keep-alive clients): sluice-cp ${rate(api.creates.sluice, 'creates')}, baseline ${rate(api.creates.baseline, 'creates')}: ${ratio(api.creates)}`,
    `  API updates (PUT, spec changed): sluice-cp ${rate(api.updates.sluice, 'updates')}, baseline ${rate(api.updates.baseline, 'updates')}: ${ratio(api.updates)}`,
    `  store in-process, awaited one at a time: ${int(store.serial.perSecond)} writes/s; raw write + fdatasync per ${store.journalLineBytes}-byte line: ${int(store.raw.perSecond)}/s (runs before/after: ${int(store.rawRuns[0].perSecond)}/${int(store.rawRuns[1].perSecond)}): ${f(store.serial.perSecond / store.raw.perSecond, 3)}x`,
    `  store in-process, ${IN_FLIGHT} in flight (group commit): ${int(store.inFlight.perSecond)} writes/s: ${f(store.inFlight.perSecond / store.raw.perSecond, 3)}x raw, ${f(store.inFlight.perSecond / store.serial.perSecond, 2)}x one at a time`,
    `  list all ${int(r.resources)} (${mb(list.bytes)} MB of JSON, ${list.sluice.count} times, one at a time): sluice-cp ${f(list.sluice.perSecond, 1)} lists/s (${f(listMs(list.sluice), 1)} ms each, p99 ${f(list.sluice.p99Ms, 1)}; ${f((list.bytes * list.sluice.perSecond) / 1e6, 0)} MB/s), pre-serialized ${f(list.baseline.perSecond, 1)} lists/s (${f(listMs(list.baseline), 1)} ms; ${f((list.bytes * list.baseline.perSecond) / 1e6, 0)} MB/s): ${ratio(list)}`,
    `  sluice-cp RSS: empty ${f(memory.emptyMiB, 1)} MiB; holding ${int(r.resources)} after the writes ${f(memory.afterWritesMiB, 1)} MiB (+${int(((memory.afterWritesMiB - memory.emptyMiB) * 1048576) / r.resources)} B per Workload); restarted on them ${f(memory.restartedFullMiB, 1)} MiB vs restarted empty ${f(memory.restartedEmptyMiB, 1)} MiB: ${int(((memory.restartedFullMiB - memory.restartedEmptyMiB) * 1048576) / r.resources)} B per Workload`,
    `  data dir: ${mb(disk.totalBytes)} MB (snapshot ${mb(disk.snapshotBytes)} MB, journal ${mb(disk.journalBytes)} MB), ${int(disk.totalBytes / r.resources)} B per Workload`,
    `  restart, spawn -> "api listening" (median of ${restart.fullMs.length}, warm page cache): on ${int(r.resources)} Workloads ${int(restartFull)} ms, empty ${int(restartEmpty)} ms: ${f(restartFull / restartEmpty, 2)}x the time (+${int(restartFull - restartEmpty)} ms)`,
  ];
}
