// `npm run bench -- tracing` (issue 19): what OpenTelemetry tracing costs a proxy. Four
// static-file proxies in front of the bench's upstream, loaded one at a time with wrk:
//   no tracing        no `tracing:` section: the SDK is never loaded (the baseline; a proxy
//                     with tracing off is exactly this proxy)
//   off after on      started at 100 %, then reloaded (SIGHUP) without `tracing:`: the SDK
//                     stays loaded, each request pays the one branch
//   on, 1 %           the proxy starts every trace (wrk sends no traceparent), samples 1 %
//   on, 100 %         every request a span, exported over OTLP/HTTP to a local receiver
// The receiver is a sink that reads each export and answers an empty
// ExportTraceServiceResponse, so decoding does not take CPU from the proxies. Rounds
// alternate the order (A B C D, D C B A). Throughput, CPU per request (from /proc) and RSS
// after the load, each as a ratio to the baseline of the same round.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { requireWrk, wrk, type WrkResult } from './wrk.ts';

const READY_MS = 60_000;

const VARIANTS = [
  { key: 'none', label: 'no tracing (SDK not loaded)' },
  { key: 'off', label: 'off after on (SDK loaded)' },
  { key: 'on-1', label: 'on, 1 %' },
  { key: 'on-100', label: 'on, 100 %, exporting' },
] as const;
type Key = (typeof VARIANTS)[number]['key'];

export type TracingRun = { readonly key: Key; readonly load: WrkResult; readonly usPerReq: number; readonly rssMiB: number };
export type TracingResult = { readonly rounds: readonly (readonly TracingRun[])[]; readonly connections: number; readonly seconds: number; readonly idleRssMiB: Record<Key, number>; readonly exports: number; readonly load: string };
export type TracingDeps = { readonly dir: string; readonly upstreamPort: number; readonly rounds: number; readonly seconds: number; readonly connections: number };

export async function tracingBench(d: TracingDeps): Promise<TracingResult> {
  requireWrk('the tracing bench');
  let exports = 0;
  const sink = http.createServer((req, res) => {
    req.resume().on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;
  const config = (tracing: string) => `
listeners:
  - { name: main, address: 127.0.0.1, port: 0, protocol: http }
routes:
  - { name: all, parentRefs: [{ name: main }], rules: [{ backendRefs: [{ name: up }] }] }
backends:
  - { name: up, endpoints: [{ address: 127.0.0.1, port: ${d.upstreamPort} }] }
${tracing}`;
  const tracing = (percent: number) => `tracing: { samplingPercent: ${percent}, otlp: { protocol: http/protobuf, endpoint: '${endpoint}' } }`;
  const files: Record<Key, string> = { none: config(''), off: config(tracing(100)), 'on-1': config(tracing(1)), 'on-100': config(tracing(100)) };
  const proxies = new Map<Key, ProxyProcess>();
  try {
    for (const v of VARIANTS) {
      const file = join(d.dir, `tracing-${v.key}.yaml`);
      writeFileSync(file, files[v.key]);
      proxies.set(v.key, await startProxy(file, ['--access-log', 'off'], { readyTimeoutMs: READY_MS }));
    }
    const off = proxies.get('off')!;
    writeFileSync(off.configFile, config(''));
    off.child.kill('SIGHUP');
    await off.waitForLog(/"msg":"tracing off"/, READY_MS);
    const idleRssMiB = Object.fromEntries(VARIANTS.map((v) => [v.key, rssMiB(proxies.get(v.key)!.child.pid!)])) as Record<Key, number>;
    const rounds: TracingRun[][] = [];
    for (let round = 0; round < d.rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      const runs: TracingRun[] = [];
      for (const v of order) {
        const p = proxies.get(v.key)!;
        const url = `http://127.0.0.1:${p.ports.main}/`;
        await wrk(url, { connections: d.connections, seconds: 2 });
        const cpu0 = cpuMs(p.child.pid!);
        const load = await wrk(url, { connections: d.connections, seconds: d.seconds });
        const usPerReq = ((cpuMs(p.child.pid!) - cpu0) * 1000) / Math.max(1, load.requests);
        runs.push({ key: v.key, load, usPerReq, rssMiB: rssMiB(p.child.pid!) });
      }
      rounds.push(runs);
    }
    const load = spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
    return { rounds, connections: d.connections, seconds: d.seconds, idleRssMiB, exports, load };
  } finally {
    await Promise.all([...proxies.values()].map((p) => p.stop()));
    await new Promise<void>((r) => sink.close(() => r()));
  }
}

export function tracingSummary(r: TracingResult): string[] {
  const f = (n: number, digits = 2) => n.toFixed(digits);
  const by = (round: readonly TracingRun[], k: Key) => round.find((x) => x.key === k)!;
  const mean = (g: (round: readonly TracingRun[]) => number) => r.rounds.reduce((s, round) => s + g(round), 0) / r.rounds.length;
  const out = [`Tracing (issue 19): wrk -t1 -c${r.connections}, ${r.seconds} s per run (after 2 s of warm-up) -> proxy (static file, access log off) -> upstream; ${r.rounds.length} rounds, alternated; ${r.load}`];
  out.push('  | proxy | req/s (mean) | throughput / baseline | CPU µs/req | CPU / baseline | idle RSS MiB | RSS after load MiB | RSS / baseline | errors |');
  out.push('  | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const v of VARIANTS) {
    const rps = mean((round) => by(round, v.key).load.rps);
    const ratio = mean((round) => by(round, v.key).load.rps / by(round, 'none').load.rps);
    const us = mean((round) => by(round, v.key).usPerReq);
    const cpuRatio = mean((round) => by(round, v.key).usPerReq / by(round, 'none').usPerReq);
    const rss = mean((round) => by(round, v.key).rssMiB);
    const rssRatio = mean((round) => by(round, v.key).rssMiB / by(round, 'none').rssMiB);
    const errors = r.rounds.reduce((s, round) => s + by(round, v.key).load.errors, 0);
    out.push(`  | ${v.label} | ${Math.round(rps)} | ${f(ratio)} | ${Math.round(us)} | ${f(cpuRatio)} | ${f(r.idleRssMiB[v.key], 1)} | ${f(rss, 1)} | ${f(rssRatio)} | ${errors} |`);
  }
  out.push(`  OTLP export requests received: ${r.exports}`);
  return out;
}

function cpuMs(pid: number): number {
  // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
