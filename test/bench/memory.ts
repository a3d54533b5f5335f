// `npm run bench -- memory` (issue 20 point 3): a proxy's memory against its V8 flags. The
// same static-file proxy (one HTTP listener, one backend: the bench's Node upstream) runs
// under each variant, by default `--max-semi-space-size` at 1, 2, 4 and 8 MiB and 1 MiB with
// `--optimize-for-size`; rounds alternate the order (A B C ..., ... C B A). Per variant and
// round, a fresh proxy: its idle RSS (started, settled, no request yet), then `hey` at a
// fixed 1 000 rps over 16 connections (the peak RSS during it: issue 20's "RSS at 1 000
// rps"), then `wrk -t1 -c32` (throughput, CPU per request, and the peak RSS at saturation).
// Every variant is started once before the rounds, so each finds the compile cache warm (a
// flag V8 hashes, --optimize-for-size, keys a cache of its own).
// BENCH_MEMORY_VARIANTS: variants separated by `|`, each a space-separated flag list;
// BENCH_MEMORY_ROUNDS (default 2); BENCH_SECONDS and BENCH_RATE_SECONDS (default 10) size
// the wrk and hey runs.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rssMiB } from '../helpers/rss.ts';
import { hey, percentile } from './hey.ts';
import { cpuSeconds, machine, uptime } from './proc.ts';
import { requireWrk, wrk } from './wrk.ts';

export const DEFAULT_VARIANTS = '--max-semi-space-size=1|--max-semi-space-size=2|--max-semi-space-size=4|--max-semi-space-size=8|--max-semi-space-size=1 --optimize-for-size';

export type MemoryOptions = { readonly variants: readonly (readonly string[])[]; readonly rounds: number; readonly seconds: number; readonly rateSeconds: number; readonly connections: number };

export type MemoryDeps = {
  readonly dir: string;
  readonly upstreamPort: number;
  freePort(): Promise<number>;
  /** sluice-proxy on `configFile` under these Node flags; resolves once it is ready. */
  startProxy(configFile: string, nodeFlags: readonly string[]): Promise<ChildProcess>;
};

export type MemoryRun = {
  readonly flags: string;
  readonly idleMiB: number;
  readonly ratePeakMiB: number;
  readonly rateP99: number;
  readonly rateRequests: number;
  readonly wrkPeakMiB: number;
  readonly rps: number;
  readonly cpuUsPerRequest: number;
  readonly errors: number;
};

export type MemoryResult = { readonly options: MemoryOptions; readonly machine: string; readonly uptimeBefore: string; readonly uptimeAfter: string; readonly rounds: readonly (readonly MemoryRun[])[] };

export function memoryOptions(env: NodeJS.ProcessEnv = process.env): MemoryOptions {
  const number = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: '${raw}' is not a whole number of at least 1`);
    return n;
  };
  const variants = (env.BENCH_MEMORY_VARIANTS || DEFAULT_VARIANTS).split('|').map((v) => v.trim().split(/\s+/).filter((f) => f !== ''));
  variants.forEach((v, i) => {
    const bad = v.find((f) => !f.startsWith('--'));
    if (bad !== undefined) throw new Error(`BENCH_MEMORY_VARIANTS: variant ${i + 1} ('${v.join(' ')}'): '${bad}' is not a Node flag (--name or --name=value)`);
  });
  return { variants, rounds: number('BENCH_MEMORY_ROUNDS', 2), seconds: number('BENCH_SECONDS', 10), rateSeconds: number('BENCH_RATE_SECONDS', 10), connections: number('BENCH_CONNECTIONS', 32) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function memoryBench(d: MemoryDeps, o: MemoryOptions = memoryOptions()): Promise<MemoryResult> {
  requireWrk('the memory bench');
  const m = machine();
  const root = join(d.dir, 'memory');
  mkdirSync(root, { recursive: true });
  const start = async (flags: readonly string[]) => {
    const file = join(root, `sluice-${await d.freePort()}.yaml`);
    const port = await d.freePort();
    writeFileSync(file, `listeners: [{ name: bench, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${d.upstreamPort} }] }]
`);
    return { child: await d.startProxy(file, flags), port };
  };
  const stop = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM'))));

  // Warm the compile cache for each variant's flags.
  for (const flags of o.variants) await stop((await start(flags)).child);

  const rounds: MemoryRun[][] = [];
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 === 0 ? o.variants : [...o.variants].reverse();
    const runs: MemoryRun[] = [];
    for (const flags of order) {
      const { child, port } = await start(flags);
      const pid = child.pid!;
      await sleep(2000);
      const idleMiB = rssMiB(pid);
      const url = `http://127.0.0.1:${port}/`;
      const sampled = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
        let peak = rssMiB(pid);
        const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
        try {
          const value = await run();
          return [value, Math.max(peak, rssMiB(pid))];
        } finally {
          clearInterval(timer);
        }
      };
      const [rate, ratePeakMiB] = await sampled(() => hey(url, { connections: 16, rate: 1000, seconds: o.rateSeconds }));
      const cpuBefore = cpuSeconds(pid);
      const [load, wrkPeakMiB] = await sampled(() => wrk(url, { connections: o.connections, seconds: o.seconds }));
      const cpu = cpuSeconds(pid) - cpuBefore;
      await stop(child);
      runs.push({
        flags: flags.join(' '),
        idleMiB,
        ratePeakMiB,
        rateP99: percentile(rate.latencies, 99),
        rateRequests: rate.latencies.length,
        wrkPeakMiB,
        rps: load.rps,
        cpuUsPerRequest: load.requests > 0 ? (cpu * 1e6) / load.requests : 0,
        errors: load.errors + rate.non2xx,
      });
    }
    rounds.push(runs);
  }
  return { options: o, machine: m.line, uptimeBefore: m.uptime, uptimeAfter: uptime(), rounds };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function memorySummary(r: MemoryResult): string[] {
  const o = r.options;
  const out = [
    `memory: one static-file proxy per V8 variant, ${o.rounds} round(s), order alternated; ${r.machine}`,
    `load before: ${r.uptimeBefore}`,
    `load after:  ${r.uptimeAfter}`,
    `idle: fresh, 2 s after ready, no request; at 1 000 rps: hey -c 16 -q 62.5 -z ${o.rateSeconds}s, peak RSS; then wrk -t1 -c${o.connections} ${o.seconds} s, peak RSS; medians over rounds`,
    '',
    '| flags | idle RSS MiB | peak RSS at 1 000 rps MiB | p99 at 1 000 rps ms | wrk req/s | req/s / first | CPU µs/req | peak RSS under wrk MiB | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const flags = r.rounds[0].map((x) => x.flags);
  const baseline = median(r.rounds.map((round) => round.find((x) => x.flags === flags[0])!.rps));
  for (const f of flags) {
    const runs = r.rounds.map((round) => round.find((x) => x.flags === f)!);
    const med = (k: keyof MemoryRun) => median(runs.map((x) => x[k] as number));
    out.push(`| ${f} | ${med('idleMiB').toFixed(1)} | ${med('ratePeakMiB').toFixed(1)} | ${med('rateP99').toFixed(1)} | ${Math.round(med('rps'))} | ${(med('rps') / baseline).toFixed(2)} | ${Math.round(med('cpuUsPerRequest'))} | ${med('wrkPeakMiB').toFixed(1)} | ${runs.reduce((s, x) => s + x.errors, 0)} |`);
  }
  out.push('', 'per round (idle / peak at 1 000 rps / req/s / peak under wrk):');
  r.rounds.forEach((round, i) => out.push(`  round ${i + 1}: ${round.map((x) => `[${x.flags}] ${x.idleMiB.toFixed(1)} / ${x.ratePeakMiB.toFixed(1)} / ${Math.round(x.rps)} / ${x.wrkPeakMiB.toFixed(1)}`).join('; ')}`));
  return out;
}
