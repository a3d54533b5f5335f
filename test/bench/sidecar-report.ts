// Issue 20's harness, its report: from the runs sidecar.ts measured, the median ratios, the
// goals table (each goal beside what was measured and nginx's figure), and the summary
// `npm run bench` prints as Markdown.

import type { HandshakeRun } from './mtls.ts';
import { TARGETS, type RateTarget, type RateTargetResult, type Series, type SidecarResult, type Target } from './sidecar.ts';

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Per round, a / b of two targets' req/s; empty when either is missing. */
function ratios(s: Series, a: Target, b: Target): number[] {
  return s.rounds.flatMap((round) => {
    const x = round.find((r) => r.target === a);
    const y = round.find((r) => r.target === b);
    return x && y ? [x.rps / y.rps] : [];
  });
}

export type Measured = {
  readonly throughputVsNginx: number | null;
  readonly vcpuOne: number | null;
  readonly vcpuPair: number | null;
  readonly addedP99One: number | null;
  readonly addedP99Pair: number | null;
  readonly rssIdle: number | null;
  readonly rssAtRate: number | null;
  readonly routeMatchRatio: number | null;
  readonly handshakesPerSecond: number | null;
  /** nginx's own, where the same run measured it: for the reader, not judged. */
  readonly nginx: { readonly vcpu: number | null; readonly addedP99: number | null };
};

/** Today's mTLS handshake rate (BENCHMARKS.md, issue 14), which issue 20 asks to triple. */
export const HANDSHAKES_BEFORE = 582;

export function measured(r: SidecarResult): Measured {
  const wrkNginx = r.series.find((s) => s.loader === 'wrk' && s.upstream === 'nginx');
  const ratio = wrkNginx ? ratios(wrkNginx, 'sluice', 'nginx') : [];
  const t = (name: RateTarget) => r.rate.find((x) => x.target === name);
  // CPU per request times the rate asked: the vCPU at that rate even where a loaded machine fell short of it.
  const vcpu = (x: RateTargetResult | undefined) => (x === undefined ? null : (x.runs.reduce((s, run) => s + run.cpuSeconds, 0) / x.runs.reduce((s, run) => s + run.requests, 0)) * r.options.rate);
  const added = (x: RateTargetResult | undefined) => {
    const direct = t('direct');
    if (x === undefined || direct === undefined) return null;
    return median(x.runs.map((run, i) => run.p99 - direct.runs[i].p99));
  };
  const least = r.routeMatch.rows.reduce((a, b) => (b.services < a.services ? b : a));
  const most = r.routeMatch.rows.reduce((a, b) => (b.services > a.services ? b : a));
  const hs = r.handshakes;
  return {
    throughputVsNginx: ratio.length === 0 ? null : median(ratio),
    vcpuOne: vcpu(t('sluice')),
    vcpuPair: vcpu(t('mtls pair')),
    addedP99One: added(t('sluice')),
    addedP99Pair: added(t('mtls pair')),
    rssIdle: t('sluice')?.rssIdle[0] ?? null,
    rssAtRate: t('sluice')?.rssPeak[0] ?? null,
    routeMatchRatio: least === most ? null : most.nsPerOp / least.nsPerOp,
    handshakesPerSecond: hs.length === 0 ? null : hs.reduce((s, x) => s + x.completed / x.seconds, 0) / hs.length,
    nginx: { vcpu: vcpu(t('nginx')), addedP99: added(t('nginx')) },
  };
}

/** Issue 20's goals with the measured value and a verdict beside each. */
export function goalsTable(m: Measured, rate = 1000): string[] {
  const rateLabel = rate.toLocaleString('en-US').replace(/,/g, ' ');
  const f = (n: number, d: number) => n.toFixed(d);
  const row = (measure: string, goal: string, value: number | null, show: (n: number) => string, limit: number, kind: 'max' | 'min', nginx = '') => {
    if (value === null) return `| ${measure} | ${goal} | not measured | | ${nginx} |`;
    const met = kind === 'max' ? value <= limit : value >= limit;
    const by = kind === 'max' ? `${f(value / limit, 1)}× the goal` : `${Math.round((value / limit) * 100)} % of the goal`;
    return `| ${measure} | ${goal} | ${show(value)} | ${met ? 'met' : `**missed** (${by})`} | ${nginx} |`;
  };
  const ms = (n: number) => `${n >= 0 ? '+' : ''}${f(n, 2)} ms`;
  return [
    '| measure | goal | measured | verdict | nginx, same run |',
    '| --- | --- | ---: | --- | ---: |',
    row('throughput, one proxy, HTTP/1.1 keep-alive, 1 KiB, wrk (Sluice / nginx)', '≥ 0.6× nginx', m.throughputVsNginx, (n) => `${f(n, 2)}×`, 0.6, 'min'),
    row(`CPU at a fixed ${rateLabel} rps (CPU s per ${rateLabel} requests), one proxy`, '≤ 0.10 vCPU', m.vcpuOne, (n) => `${f(n, 3)} vCPU`, 0.1, 'max', m.nginx.vcpu === null ? '' : `${f(m.nginx.vcpu, 3)} vCPU`),
    row(`CPU at a fixed ${rateLabel} rps (CPU s per ${rateLabel} requests), mTLS pair (both proxies)`, '≤ 0.25 vCPU', m.vcpuPair, (n) => `${f(n, 3)} vCPU`, 0.25, 'max'),
    row(`added p99 at a fixed ${rateLabel} rps, 16 connections, one proxy`, '≤ 1 ms', m.addedP99One, ms, 1, 'max', m.nginx.addedP99 === null ? '' : ms(m.nginx.addedP99)),
    row(`added p99 at a fixed ${rateLabel} rps, 16 connections, mTLS pair`, '≤ 2 ms', m.addedP99Pair, ms, 2, 'max'),
    row('RSS idle, one proxy', '≤ 40 MiB', m.rssIdle, (n) => `${f(n, 1)} MiB`, 40, 'max'),
    row(`RSS at ${rateLabel} rps, one proxy (peak)`, '≤ 60 MiB', m.rssAtRate, (n) => `${f(n, 1)} MiB`, 60, 'max'),
    row('route match, 5 000 Services / 10', '≤ 2×', m.routeMatchRatio, (n) => `${f(n, 2)}×`, 2, 'max'),
    row('mTLS handshakes/s (server-side proxy, 4 clients in parallel)', `≥ 3× ${HANDSHAKES_BEFORE}/s = ${3 * HANDSHAKES_BEFORE}/s`, m.handshakesPerSecond, (n) => `${Math.round(n)}/s`, 3 * HANDSHAKES_BEFORE, 'min'),
  ];
}

export function sidecarSummary(r: SidecarResult): string[] {
  const o = r.options;
  const f = (n: number, d = 2) => n.toFixed(d);
  const out: string[] = [];
  out.push(`issue 20 bench: ${r.machine}; ${new Date().toISOString()}; ${f(r.elapsedSeconds / 60, 1)} min`);
  out.push(`uptime before: ${r.uptimeBefore}`);
  out.push(`uptime after:  ${r.uptimeAfter}`);
  for (const s of r.skipped) out.push(`skipped: ${s}`);
  out.push('');
  for (const s of r.series) {
    const load = s.loader === 'wrk' ? `wrk -t1 -c${o.connections}` : `autocannon -c${o.connections}`;
    out.push(`throughput, ${load}, ${s.upstream} upstream (1 KiB), ${o.seconds} s per run after ${o.warmupSeconds} s warm-up, targets alternated:`, '');
    const has = (t: Target) => s.rounds[0]?.some((r) => r.target === t) ?? false;
    const cols = TARGETS.filter(has);
    out.push(`| round | ${cols.map((t) => `${t} req/s`).join(' | ')} | sluice / nginx | sluice / node proxy | node proxy / nginx | ${cols.filter((t) => t !== 'direct').map((t) => `${t} CPU µs/req`).join(' | ')} | p99 ms (${cols.join(' / ')}) |`);
    out.push(`| ---: | ${cols.map(() => '---:').join(' | ')} | ---: | ---: | ---: | ${cols.filter((t) => t !== 'direct').map(() => '---:').join(' | ')} | ---: |`);
    const vsNginx = ratios(s, 'sluice', 'nginx');
    const vsNode = ratios(s, 'sluice', 'node proxy');
    const nodeVsNginx = ratios(s, 'node proxy', 'nginx');
    const vsDirect = ratios(s, 'sluice', 'direct');
    const cell = (xs: number[], i: number) => (xs.length ? f(xs[i]) : '-');
    s.rounds.forEach((round, i) => {
      const by = (t: Target) => round.find((x) => x.target === t)!;
      out.push(`| ${i + 1} | ${cols.map((t) => Math.round(by(t).rps)).join(' | ')} | ${cell(vsNginx, i)} | ${cell(vsNode, i)} | ${cell(nodeVsNginx, i)} | ${cols.filter((t) => t !== 'direct').map((t) => Math.round(by(t).cpuUsPerRequest!)).join(' | ')} | ${cols.map((t) => f(by(t).p99, 2)).join(' / ')} |`);
    });
    const range = (xs: number[]) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
    const med = (xs: number[], none: string) => (xs.length ? `**${f(median(xs))}×** (rounds ${range(xs)})` : none);
    out.push('', `median sluice / nginx: ${med(vsNginx, 'no nginx')}; sluice / node proxy (the Node floor): ${med(vsNode, '-')}; node proxy / nginx: ${med(nodeVsNginx, 'no nginx')}; sluice / direct: ${f(median(vsDirect))}× (rounds ${range(vsDirect)})`);
    out.push('');
  }
  if (r.rate.length > 0) {
    const expected = o.rate * o.rateSeconds;
    out.push(`fixed rate: hey -c ${o.rateConnections} -q ${f(o.rate / o.rateConnections, 2)} (${o.rate} req/s in all), ${o.rateSeconds} s per run after ${o.warmupSeconds} s warm-up, ${r.rateUpstream} upstream (1 KiB), targets alternated; medians over ${o.rounds} rounds; latencies at hey's 0.1 ms resolution:`, '');
    out.push('| target | p50 ms | p99 ms | p99.9 ms | added p99 ms | CPU s / 1 000 req | vCPU at the rate | RSS idle MiB | RSS peak MiB | req/s done | requests (of asked) |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const direct = r.rate.find((x) => x.target === 'direct')!;
    for (const t of r.rate) {
      const med = (k: 'p50' | 'p99' | 'p999') => f(median(t.runs.map((x) => x[k])), 2);
      const added = t.target === 'direct' ? '-' : f(median(t.runs.map((x, i) => x.p99 - direct.runs[i].p99)), 2);
      const requests = t.runs.reduce((s, x) => s + x.requests, 0);
      const seconds = t.runs.reduce((s, x) => s + x.seconds, 0);
      const cpu = t.runs.reduce((s, x) => s + x.cpuSeconds, 0);
      const proc = t.target !== 'direct';
      const mib = (xs: readonly number[]) => (xs.length ? xs.map((x) => f(x, 1)).join(' + ') : '-');
      out.push(`| ${t.target} | ${med('p50')} | ${med('p99')} | ${med('p999')} | ${added} | ${proc ? f((cpu * 1000) / requests, 3) : '-'} | ${proc ? f(cpu / seconds, 3) : '-'} | ${mib(t.rssIdle)} | ${mib(t.rssPeak)} | ${Math.round(requests / seconds)} | ${requests} (${expected * t.runs.length}) |`);
    }
    out.push('', '(mtls pair: CPU is both proxies\'; RSS client-side + server-side. vCPU is CPU over wall time; the goals use CPU per request. Per round p99, ms: ' + r.rate.map((t) => `${t.target} ${t.runs.map((x) => f(x.p99, 1)).join('/')}`).join('; ') + ')');
    for (const t of r.rate) {
      const done = t.runs.reduce((s, x) => s + x.requests, 0) / t.runs.reduce((s, x) => s + x.seconds, 0);
      if (done < o.rate * 0.95) out.push(`note: ${t.target} did ${Math.round(done)} req/s of the ${o.rate} asked: hey or the target fell behind (a loaded machine), so its latencies are those of a saturated path`);
    }
    out.push('');
  }
  if (r.handshakes.length > 0) {
    const hs = r.handshakes;
    const rate = (runs: readonly HandshakeRun[]) => runs.reduce((s, x) => s + x.completed / x.seconds, 0) / runs.length;
    const pc = r.plainConnections;
    out.push(`mTLS handshakes against the pair's server-side proxy (STRICT; fresh connection, one GET, close; 4 in parallel; ${o.handshakeSeconds} s runs alternated with plaintext): ${hs.map((x) => `${Math.round(x.completed / x.seconds)}/s`).join(', ')} (${hs.reduce((s, x) => s + x.failed, 0)} failed, ${hs.reduce((s, x) => s + x.resumed, 0)} resumed); server CPU ${f(hs.reduce((s, x) => s + x.serverMsPerConn, 0) / hs.length)} ms per connection`);
    out.push(`plaintext connections to the one proxy, the same way: ${pc.map((x) => `${Math.round(x.completed / x.seconds)}/s`).join(', ')} (${pc.reduce((s, x) => s + x.failed, 0)} failed); server CPU ${f(pc.reduce((s, x) => s + x.serverMsPerConn, 0) / pc.length)} ms per connection; mTLS / plaintext: ${f(rate(hs) / rate(pc), 3)} (0.097 when 582/s was measured)`);
  }
  const rm = r.routeMatch.rows;
  out.push(`route match (route-match.ts, median ns per request over ${r.routeMatch.rounds} rounds): ${rm.map((x) => `${x.services} Services ${Math.round(x.nsPerOp)} ns`).join(', ')}`);
  out.push('');
  out.push("issue 20's goals:", '');
  out.push(...goalsTable(measured(r), o.rate));
  return out;
}
