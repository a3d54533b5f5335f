// `npm run bench -- workers` (issue 20, point 5): one proxy thread against two
// (--workers 2: the main thread and a worker thread on the same port, SO_REUSEPORT), both in
// front of an nginx upstream (1 KiB answers), alternated in each round (1 2, 2 1):
//   throughput  wrk -t1 -c32, then wrk -t2 -c32 (one wrk thread may saturate before two
//               proxy threads do), after 2 s of warm-up; CPU per request from /proc
//   fixed rate  hey, 16 connections at 1 000 req/s in all: p50/p99/p99.9, direct to the
//               upstream as the baseline of the same round
//   memory      RSS idle (after start) and after the loads
// BENCH_SECONDS (default 10) per throughput run, BENCH_RATE_SECONDS (default 10) per fixed-rate
// run, BENCH_WORKERS_ROUNDS (default 2). Needs wrk, nginx and hey.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { rssMiB } from '../helpers/rss.ts';
import { hasHey, hey, percentile } from './hey.ts';
import { cpuSeconds, machine, uptime } from './proc.ts';
import { nginxUpstream } from './sidecar.ts';
import { onPath, requireWrk, wrk, type WrkResult } from './wrk.ts';

const READY_MS = 60_000;
const VARIANTS = [1, 2] as const;
type Workers = (typeof VARIANTS)[number];

export type WorkersDeps = {
  readonly dir: string;
  readonly freePort: () => Promise<number>;
  /** nginx with `http` as its http block's body; resolves when `port` accepts. */
  readonly startNginx: (name: string, port: number, http: string) => Promise<unknown>;
  readonly rounds: number;
  readonly seconds: number;
  readonly rateSeconds: number;
  readonly connections: number;
};

type LoadRun = { readonly workers: Workers; readonly wrkThreads: 1 | 2; readonly load: WrkResult; readonly cpuUsPerReq: number; readonly rssMiB: number };
type RateRun = { readonly target: Workers | 'direct'; readonly p50: number; readonly p99: number; readonly p999: number; readonly requests: number; readonly non2xx: number };
export type WorkersResult = {
  readonly machine: string;
  readonly loadBefore: string;
  readonly loadAfter: string;
  readonly idleRssMiB: Record<Workers, number>;
  readonly loads: readonly LoadRun[];
  readonly rates: readonly RateRun[];
  readonly o: WorkersDeps;
};

const RATE = 1000;
const RATE_CONNECTIONS = 16;

export async function workersBench(d: WorkersDeps): Promise<WorkersResult> {
  requireWrk('the workers bench');
  if (!onPath('nginx')) throw new Error('the workers bench needs nginx as its upstream (apt-get install -y nginx)');
  if (!hasHey()) throw new Error('the workers bench needs hey for its fixed-rate runs (apt-get install -y hey)');
  const m = machine();
  const upstreamPort = await d.freePort();
  await d.startNginx('workers-upstream', upstreamPort, nginxUpstream(upstreamPort));
  const config = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${upstreamPort} }] }]
`;
  const proxies = new Map<Workers, ProxyProcess>();
  try {
    for (const n of VARIANTS) {
      const file = join(d.dir, `workers-${n}.yaml`);
      writeFileSync(file, config);
      proxies.set(n, await startProxy(file, ['--access-log', 'off', '--workers', String(n)], { readyTimeoutMs: READY_MS }));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const idleRssMiB = Object.fromEntries(VARIANTS.map((n) => [n, rssMiB(proxies.get(n)!.child.pid!)])) as Record<Workers, number>;
    const loads: LoadRun[] = [];
    const rates: RateRun[] = [];
    for (let round = 0; round < d.rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const wrkThreads of [1, 2] as const) {
        for (const n of order) {
          const p = proxies.get(n)!;
          const url = `http://127.0.0.1:${p.ports.main}/`;
          await wrk(url, { connections: d.connections, seconds: 2, threads: wrkThreads });
          const cpu0 = cpuSeconds(p.child.pid!);
          const load = await wrk(url, { connections: d.connections, seconds: d.seconds, threads: wrkThreads });
          const cpuUsPerReq = ((cpuSeconds(p.child.pid!) - cpu0) * 1e6) / Math.max(1, load.requests);
          loads.push({ workers: n, wrkThreads, load, cpuUsPerReq, rssMiB: rssMiB(p.child.pid!) });
        }
      }
      for (const target of ['direct', ...order] as const) {
        const port = target === 'direct' ? upstreamPort : proxies.get(target)!.ports.main;
        const h = await hey(`http://127.0.0.1:${port}/`, { connections: RATE_CONNECTIONS, rate: RATE, seconds: d.rateSeconds });
        rates.push({ target, p50: percentile(h.latencies, 50), p99: percentile(h.latencies, 99), p999: percentile(h.latencies, 99.9), requests: h.latencies.length, non2xx: h.non2xx });
      }
    }
    return { machine: m.line, loadBefore: m.uptime, loadAfter: uptime(), idleRssMiB, loads, rates, o: d };
  } finally {
    await Promise.all([...proxies.values()].map((p) => p.stop()));
  }
}

export function workersSummary(r: WorkersResult): string[] {
  const f = (n: number, digits = 2) => n.toFixed(digits);
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const out = [
    `Workers (issue 20, point 5): ${r.machine}; ${new Date().toISOString().slice(0, 16)}Z`,
    `  load before: ${r.loadBefore}`,
    `  load after:  ${r.loadAfter}`,
    `  proxy (static file, access log off) -> nginx upstream (1 KiB); ${r.o.rounds} rounds, 1 and 2 workers alternated; wrk -c${r.o.connections}, ${r.o.seconds} s per run after 2 s warm-up`,
    '  | workers | wrk threads | req/s (mean) | vs 1 worker | p99 ms (wrk) | CPU µs/req | RSS after load MiB | errors |',
    '  | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const t of [1, 2] as const) {
    const base = mean(r.loads.filter((l) => l.workers === 1 && l.wrkThreads === t).map((l) => l.load.rps));
    for (const n of VARIANTS) {
      const runs = r.loads.filter((l) => l.workers === n && l.wrkThreads === t);
      const rps = mean(runs.map((l) => l.load.rps));
      out.push(`  | ${n} | ${t} | ${Math.round(rps)} | ${f(rps / base)} | ${f(mean(runs.map((l) => l.load.p99)))} | ${Math.round(mean(runs.map((l) => l.cpuUsPerReq)))} | ${f(Math.max(...runs.map((l) => l.rssMiB)), 1)} | ${runs.reduce((s, l) => s + l.load.errors, 0)} |`);
    }
  }
  out.push(`  fixed rate: hey, ${RATE_CONNECTIONS} connections, ${RATE} req/s, ${r.o.rateSeconds} s per run; the median of the rounds`);
  out.push('  | target | p50 ms | p99 ms | p99.9 ms | added p99 ms | requests | non-2xx |');
  out.push('  | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const direct = med(r.rates.filter((x) => x.target === 'direct').map((x) => x.p99));
  for (const t of ['direct', ...VARIANTS] as const) {
    const runs = r.rates.filter((x) => x.target === t);
    const p99 = med(runs.map((x) => x.p99));
    out.push(`  | ${t === 'direct' ? 'direct' : `${t} worker${t === 1 ? '' : 's'}`} | ${f(med(runs.map((x) => x.p50)))} | ${f(p99)} | ${f(med(runs.map((x) => x.p999)))} | ${t === 'direct' ? '-' : f(p99 - direct)} | ${runs.reduce((s, x) => s + x.requests, 0)} | ${runs.reduce((s, x) => s + x.non2xx, 0)} |`);
  }
  out.push(`  idle RSS: 1 worker ${f(r.idleRssMiB[1], 1)} MiB, 2 workers ${f(r.idleRssMiB[2], 1)} MiB (+${f(r.idleRssMiB[2] - r.idleRssMiB[1], 1)} MiB for the worker thread)`);
  return out;
}
