// What the xDS push bench (xds-push.ts) measured, and the lines run.ts prints for it.

import { TYPE_URLS } from '../../xds/index.ts';

/** One push, over every simulated proxy; ms from the trigger (for sluice-cp: just before `sluicectl apply` is spawned). */
export type XdsPush = {
  /** The first proxy's ACK. */
  readonly first: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Proxies whose ACK did not come within the bound. */
  readonly missing: number;
  /** Responses per type URL in the window (over every proxy). */
  readonly responses: Record<string, number>;
  readonly clientCpuMs: number;
  readonly failures: number;
  /** CPU seconds of the server process from the trigger to the last ACK + a short settle. */
  readonly serverCpuSeconds: number;
  /** sluicectl's exit, and the store write in sluice-cp's log (ms precision), from the trigger. */
  readonly ctlMs: number | null;
  readonly writeMs: number | null;
};

export type Side = {
  /** From the first connect to each proxy's last ACK of its initial sync. */
  readonly sync: { readonly p50: number; readonly p99: number; readonly max: number; readonly missing: number; readonly channels: number; readonly clientCpuMs: number; readonly failures: readonly string[] };
  readonly syncCpuSeconds: number;
  readonly rssBeforeMiB: number;
  readonly rssIdleMiB: number;
  readonly pushes: readonly XdsPush[];
  /** sluice-cp's warn and error log lines. */
  readonly logProblems: readonly string[];
};

export type XdsBenchResult = {
  readonly pushTimeoutMs: number;
  readonly runs: readonly {
    readonly proxies: number;
    readonly clientProcesses: number;
    readonly streamsPerChannel: number;
    readonly sluice: Side;
    readonly baseline: Side;
    /** Bytes of one proxy's DiscoveryResponse per type URL, as sluice-cp last sent them. */
    readonly responseBytes: Record<string, number>;
  }[];
};

const SHORT: Record<string, string> = {
  [TYPE_URLS.Listener]: 'LDS',
  [TYPE_URLS.RouteConfiguration]: 'RDS',
  [TYPE_URLS.Cluster]: 'CDS',
  [TYPE_URLS.ClusterLoadAssignment]: 'EDS',
  [TYPE_URLS.Secret]: 'SDS',
};

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const ms = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const types = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([t, n]) => `${SHORT[t] ?? t} ${int(n)}`)
    .join(', ') || 'none';

/** The lines run.ts prints: per size, the sync, each push beside the baseline's, the medians, and the table row. */
export function xdsSummary(r: XdsBenchResult): string[] {
  const out = [
    `xDS push latency (issue 7): \`sluicectl apply\` (spawned; the clock starts just before) of an HTTPRoute every proxy's 'outbound' RouteConfiguration carries -> each simulated proxy's ACK of it. Baseline: a grpc-js ADS server writing one pre-encoded response of the same bytes to every stream on a trigger (no CLI, no store); same clients. Bound ${r.pushTimeoutMs / 1000} s per push.`,
  ];
  const rows: string[] = [];
  for (const run of r.runs) {
    const { sluice: s, baseline: b } = run;
    const sizes = Object.entries(run.responseBytes)
      .map(([t, n]) => `${SHORT[t] ?? t} ${int(n)} B`)
      .join(', ');
    out.push(`  ${int(run.proxies)} proxies: ${run.clientProcesses} load-client process(es), ${run.streamsPerChannel} streams per gRPC channel: ${s.sync.channels} TCP connections; one proxy's responses: ${sizes}`);
    for (const [name, side] of [['sluice-cp', s], ['baseline', b]] as const) {
      const sy = side.sync;
      out.push(
        `    ${name} initial sync: p50 ${ms(sy.p50)}, p99 ${ms(sy.p99)}, all ${ms(sy.max)}${sy.missing > 0 ? `, ${sy.missing} NOT SYNCED (${sy.failures.join('; ')})` : ''}; server CPU ${side.syncCpuSeconds.toFixed(2)} s, clients ${(sy.clientCpuMs / 1000).toFixed(2)} s; server RSS ${side.rssBeforeMiB.toFixed(1)} MiB before the streams, ${side.rssIdleMiB.toFixed(1)} MiB idle with them`,
      );
    }
    s.pushes.forEach((p, i) => {
      const q = b.pushes[i];
      out.push(
        `    push ${i + 1}: sluice-cp first ${ms(p.first)}, p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, max ${ms(p.max)}${p.missing > 0 ? `, ${p.missing} MISSED` : ''} (store write at +${ms(p.writeMs)}, sluicectl exit +${ms(p.ctlMs)}; CPU ${p.serverCpuSeconds.toFixed(2)} s; clients ${(p.clientCpuMs / 1000).toFixed(2)} s; responses ${types(p.responses)}) | baseline first ${ms(q.first)}, p50 ${ms(q.p50)}, p99 ${ms(q.p99)}, max ${ms(q.max)}${q.missing > 0 ? `, ${q.missing} MISSED` : ''} (CPU ${q.serverCpuSeconds.toFixed(2)} s; clients ${(q.clientCpuMs / 1000).toFixed(2)} s) | p99 ratio ${(p.p99 / q.p99).toFixed(1)}x`,
      );
    });
    const med = (side: Side, f: (p: XdsPush) => number | null) => median(side.pushes.map(f).filter((x): x is number => x !== null));
    const p99 = med(s, (p) => p.p99);
    const bp99 = med(b, (p) => p.p99);
    const fromWrite = med(s, (p) => (p.writeMs === null ? null : p.p99 - p.writeMs));
    out.push(
      `    median of ${s.pushes.length}: sluice-cp p50 ${ms(med(s, (p) => p.p50))}, p99 ${ms(p99)}, max ${ms(med(s, (p) => p.max))}, CPU ${med(s, (p) => p.serverCpuSeconds).toFixed(2)} s per push; baseline p99 ${ms(bp99)}: ${(p99 / bp99).toFixed(1)}x${run.proxies === 1000 ? `; target p99 <= 1 s at 1 000 proxies: ${p99 <= 1000 ? 'met' : 'MISSED'}` : ''}`,
      `    without sluicectl's own start: store write -> p99 ACK ${ms(fromWrite)} (median), ${(fromWrite / bp99).toFixed(1)}x the baseline's p99`,
    );
    const missed = s.pushes.reduce((n, p) => n + p.missing, 0);
    if (missed > 0) out.push(`    ${missed} proxy-pushes missed the ${r.pushTimeoutMs / 1000} s bound`);
    out.push(`    sluice-cp log: ${s.logProblems.length} warn/error lines${s.logProblems.length > 0 ? `, first: ${s.logProblems[0].slice(0, 300)}` : ''}`);
    rows.push(
      `| ${int(run.proxies)} | ${ms(s.sync.max)} | ${ms(med(s, (p) => p.p50))} | ${ms(p99)} | ${ms(med(s, (p) => p.max))} | ${ms(bp99)} | ${(p99 / bp99).toFixed(1)}x | ${s.rssIdleMiB.toFixed(0)} MiB | ${med(s, (p) => p.serverCpuSeconds).toFixed(2)} s |`,
    );
  }
  out.push('  | proxies | initial sync | push p50 | p99 | max | baseline p99 | ratio | CP RSS | CP CPU per push |', '  | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |', ...rows.map((x) => `  ${x}`));
  return out;
}

/** Issue 15: the same push at N proxies without policies and with one of every kind, in one run. */
export type XdsPolicyResult = {
  readonly proxies: number;
  readonly pushTimeoutMs: number;
  /** One Side per round: a fresh sluice-cp each. */
  readonly plain: readonly Side[];
  readonly policies: readonly Side[];
  /** Policies and filtered routes seeded beside the mesh. */
  readonly policyResources: number;
  readonly responseBytes: Record<'plain' | 'policies', Record<string, number>>;
};

/** Issue 15's target: no worse than issue 7's p99 at 1 000 proxies (BENCHMARKS.md, 2026-11-23). */
export const PUSH_P99_TARGET_MS = 677;

export function xdsPolicySummary(r: XdsPolicyResult): string[] {
  const all = (sides: readonly Side[], f: (p: XdsPush) => number | null) => median(sides.flatMap((s) => s.pushes.map(f)).filter((x): x is number => x !== null));
  const sizes = (b: Record<string, number>) =>
    Object.entries(b)
      .map(([t, n]) => `${SHORT[t] ?? t} ${int(n)} B`)
      .join(', ');
  const out = [
    `xDS push with policies (issue 15): ${int(r.proxies)} proxies, the issue 7 push (\`sluicectl apply\` of the split HTTPRoute -> every ACK) on a fresh sluice-cp without policies, then on one where every Service has a policy of every kind and a filtered HTTPRoute (${r.policyResources} resources; the pushed route has the filters too); bound ${r.pushTimeoutMs / 1000} s per push`,
    `  one proxy's responses without policies: ${sizes(r.responseBytes.plain)}; with: ${sizes(r.responseBytes.policies)}`,
  ];
  for (const [name, sides] of [['no policy', r.plain], ['policies', r.policies]] as const) {
    sides.forEach((s, i) => {
      out.push(
        `  ${name}, run ${i + 1}: initial sync ${ms(s.sync.max)}${s.sync.missing > 0 ? ` (${s.sync.missing} NOT SYNCED)` : ''}, CP RSS idle ${s.rssIdleMiB.toFixed(0)} MiB; pushes p99 ${s.pushes.map((p) => ms(p.p99)).join(', ')} (p50 ${s.pushes.map((p) => ms(p.p50)).join(', ')}; store write at ${s.pushes.map((p) => ms(p.writeMs)).join(', ')}; CPU ${s.pushes.map((p) => p.serverCpuSeconds.toFixed(2)).join(', ')} s)${s.pushes.some((p) => p.missing > 0) ? `; ${s.pushes.reduce((n, p) => n + p.missing, 0)} proxy-pushes MISSED` : ''}; log: ${s.logProblems.length} warn/error lines${s.logProblems.length > 0 ? `, first: ${s.logProblems[0].slice(0, 300)}` : ''}`,
      );
    });
  }
  const p50 = [all(r.plain, (p) => p.p50), all(r.policies, (p) => p.p50)];
  const p99 = [all(r.plain, (p) => p.p99), all(r.policies, (p) => p.p99)];
  const fromWrite = [all(r.plain, (p) => (p.writeMs === null ? null : p.p99 - p.writeMs)), all(r.policies, (p) => (p.writeMs === null ? null : p.p99 - p.writeMs))];
  const cpu = [all(r.plain, (p) => p.serverCpuSeconds), all(r.policies, (p) => p.serverCpuSeconds)];
  out.push(
    '  | | push p50 | p99 | store write -> p99 ACK | CP CPU per push |',
    '  | --- | ---: | ---: | ---: | ---: |',
    `  | no policy | ${ms(p50[0])} | ${ms(p99[0])} | ${ms(fromWrite[0])} | ${cpu[0].toFixed(2)} s |`,
    `  | every kind | ${ms(p50[1])} | ${ms(p99[1])} | ${ms(fromWrite[1])} | ${cpu[1].toFixed(2)} s |`,
    `  | ratio | ${(p50[1] / p50[0]).toFixed(2)}x | ${(p99[1] / p99[0]).toFixed(2)}x | ${(fromWrite[1] / fromWrite[0]).toFixed(2)}x | ${(cpu[1] / cpu[0]).toFixed(2)}x |`,
    `  (medians over every push of every run) target p99 <= ${PUSH_P99_TARGET_MS} ms with policies${r.proxies === 1000 ? `: ${p99[1] <= PUSH_P99_TARGET_MS ? 'met' : `MISSED by ${ms(p99[1] - PUSH_P99_TARGET_MS)}`}` : ' (judged at 1 000 proxies only)'}`,
  );
  return out;
}
