// Route match (issue 20): the per-request cost of a mesh proxy's outbound route table, with
// 10, 1 000 and 5 000 Services. The table is what a proxy in namespace `bench` builds from
// the control plane's outbound RouteConfiguration (one virtual host per Service, its domains
// the Service's names with and without port 80; test/helpers/outbound-routes.ts). Requests
// go to Services spread over the whole mesh, their Host in four spellings (full name with
// and without the port, short name, name.namespace:80), so a walk in precedence order pays
// for its length. Median ns per request over rounds.
//
// BENCH_ROUTE_BASELINE=path/to/route-table.ts measures another tree's compileRouteTable in
// the same rounds, alternated with this tree's (e.g. main's, before the hostname index:
// `git show main:proxy/http/route-table.ts > /tmp/base/route-table.ts`).
// BENCH_ROUTE_SERVICES (default "10,1000,5000"), BENCH_ROUTE_ROUNDS (default 15).

import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { HttpRoute } from '../../proxy/config/model.ts';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../proxy/http/route-table.ts';
import { outboundRoutes } from '../helpers/outbound-routes.ts';

type Compile = (routes: readonly HttpRoute[], listenerName: string) => RouteTable;

export type RouteMatchRow = {
  readonly services: number;
  readonly candidates: number;
  /** This tree's table: compile time once, then the median ns per request. */
  readonly compileMs: number;
  readonly nsPerOp: number;
  /** The baseline's, when BENCH_ROUTE_BASELINE names one. */
  readonly baseline: { readonly candidates: number; readonly compileMs: number; readonly nsPerOp: number } | null;
};

export type RouteMatchResult = { readonly rounds: number; readonly baselinePath: string | null; readonly rows: readonly RouteMatchRow[] };

const NAMESPACE = 'bench';
/** Distinct Hosts cycled through: at 1 000 and 5 000 Services, as many Services. */
const REQUESTS = 1024;
/** Each round runs about this long per table. */
const ROUND_MS = 30;
/** At most this many lookups per round. */
const MAX_ITERATIONS = 1 << 18;
/** Fresh requests made at a time, between timed runs. */
const POOL = 4096;

export async function routeMatchBench(opts: { services?: readonly number[]; rounds?: number; baselinePath?: string | null } = {}): Promise<RouteMatchResult> {
  const services = opts.services ?? (process.env.BENCH_ROUTE_SERVICES ?? '10,1000,5000').split(',').map(Number);
  const rounds = opts.rounds ?? Number(process.env.BENCH_ROUTE_ROUNDS ?? 15);
  const baselinePath = opts.baselinePath ?? process.env.BENCH_ROUTE_BASELINE ?? null;
  const baseline: Compile | null = baselinePath === null ? null : ((await import(pathToFileURL(baselinePath).href)) as { compileRouteTable: Compile }).compileRouteTable;
  const rows: RouteMatchRow[] = [];
  for (const n of services) {
    const routes = outboundRoutes(Array.from({ length: n }, (_, i) => ({ name: svc(i), namespace: NAMESPACE, ports: [80] })), NAMESPACE);
    const requests = requestsFor(n);
    const ours = built(compileRouteTable, routes, requests);
    const theirs = baseline === null ? null : built(baseline, routes, requests);
    const iterations = iterationsFor(ours.table, requests);
    const baseIterations = theirs === null ? 0 : iterationsFor(theirs.table, requests);
    const samples: number[] = [];
    const baseSamples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternated, first one then the other, so drift and the neighbours' load hit both alike.
      if (theirs !== null && r % 2 === 1) baseSamples.push(round(theirs.table, requests, baseIterations));
      samples.push(round(ours.table, requests, iterations));
      if (theirs !== null && r % 2 === 0) baseSamples.push(round(theirs.table, requests, baseIterations));
    }
    rows.push({
      services: n,
      candidates: ours.table.size,
      compileMs: ours.compileMs,
      nsPerOp: median(samples),
      baseline: theirs === null ? null : { candidates: theirs.table.size, compileMs: theirs.compileMs, nsPerOp: median(baseSamples) },
    });
  }
  return { rounds, baselinePath, rows };
}

export function routeMatchSummary(r: RouteMatchResult): string[] {
  const out = [`route match, a mesh proxy's outbound listener (one virtual host per Service; median ns per request over ${r.rounds} rounds${r.baselinePath === null ? '' : `; baseline ${r.baselinePath}`}):`];
  const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : n.toFixed(1));
  if (r.baselinePath === null) {
    out.push('| Services | candidates | compile ms | ns/request |', '| ---: | ---: | ---: | ---: |');
    for (const row of r.rows) out.push(`| ${row.services} | ${row.candidates} | ${fmt(row.compileMs)} | ${fmt(row.nsPerOp)} |`);
  } else {
    out.push('| Services | candidates | compile ms | ns/request | baseline compile ms | baseline ns/request | baseline / this |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of r.rows) {
      const b = row.baseline!;
      out.push(`| ${row.services} | ${row.candidates} | ${fmt(row.compileMs)} | ${fmt(row.nsPerOp)} | ${fmt(b.compileMs)} | ${fmt(b.nsPerOp)} | ${(b.nsPerOp / row.nsPerOp).toFixed(1)}× |`);
    }
  }
  const least = r.rows.reduce((a, b) => (b.services < a.services ? b : a));
  const most = r.rows.reduce((a, b) => (b.services > a.services ? b : a));
  if (least !== most) {
    out.push(`route match ${most.services} Services / ${least.services}: ${(most.nsPerOp / least.nsPerOp).toFixed(2)} (goal <= 2)`);
    if (most.baseline !== null && least.baseline !== null) out.push(`baseline ${most.services} Services / ${least.services}: ${(most.baseline.nsPerOp / least.baseline.nsPerOp).toFixed(2)}`);
  }
  return out;
}

const svc = (i: number) => `svc-${String(i).padStart(5, '0')}`;

/** Services spread over the mesh (a prime stride), each Host in one of four spellings. */
function requestsFor(n: number): RouteRequest[] {
  const spellings = [(s: string) => `${s}.${NAMESPACE}.svc.cluster.local:80`, (s: string) => s, (s: string) => `${s}.${NAMESPACE}:80`, (s: string) => `${s}.${NAMESPACE}.svc.cluster.local`];
  return Array.from({ length: REQUESTS }, (_, k) => ({ host: spellings[k % spellings.length](svc((k * 7919) % n)), path: '/api/items', query: '', method: 'GET', headers: {} }));
}

/** The table, and a check that every request finds its own Service's cluster before any timing. */
function built(compile: Compile, routes: readonly HttpRoute[], requests: readonly RouteRequest[]): { table: RouteTable; compileMs: number } {
  const start = performance.now();
  const table = compile(routes, 'outbound');
  const compileMs = performance.now() - start;
  settle();
  for (const req of requests) {
    const want = `outbound|80||${req.host.split(/[.:]/)[0]}.${NAMESPACE}.svc.cluster.local`;
    const got = table.match(req)?.rule.backendRefs[0]?.name;
    if (got !== want) throw new Error(`route match bench: Host ${req.host} went to ${got}, not ${want}`);
  }
  return { table, compileMs };
}

/**
 * A proxy's table lives for minutes: after its first scavenges it sits in the old
 * generation. Short-lived garbage until then, so no scavenge in a timed round copies a
 * table of 10 000 candidates (which made a table measured first in its process 2-3x slower).
 */
function settle(): void {
  let junk: unknown[] = [];
  for (let i = 0; i < 2_000_000; i++) junk = [i, junk.length];
  if (junk.length !== 2) throw new Error('unreachable');
}

/**
 * Lookups per round: about ROUND_MS worth, from a short first run (which also warms the
 * JIT), at most MAX_ITERATIONS.
 */
function iterationsFor(table: RouteTable, requests: readonly RouteRequest[]): number {
  let iterations = 64;
  for (;;) {
    const ns = round(table, requests, iterations) * iterations;
    if (ns >= 5e6 || iterations >= MAX_ITERATIONS) return Math.max(64, Math.min(MAX_ITERATIONS, Math.round((iterations * ROUND_MS * 1e6) / ns)));
    iterations *= 4;
  }
}

/**
 * One round, ns per lookup. Each request gets a Host string of its own, made before the
 * clock starts, as the HTTP parser makes one per request: its hash is not cached yet, as
 * it is not in the proxy. Made POOL at a time, so a scavenge in the timed loop copies a
 * small pool, not the whole round's requests.
 */
function round(table: RouteTable, requests: readonly RouteRequest[], iterations: number): number {
  let ns = 0;
  for (let done = 0; done < iterations; done += POOL) {
    const fresh = Array.from({ length: Math.min(POOL, iterations - done) }, (_, i) => {
      const r = requests[(done + i) % requests.length];
      return { host: Buffer.from(r.host, 'latin1').toString('latin1'), path: r.path, query: r.query, method: r.method, headers: r.headers };
    });
    let found = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < fresh.length; i++) if (table.match(fresh[i]) !== undefined) found++;
    ns += Number(process.hrtime.bigint() - start);
    // Read, so the lookups' results are used and cannot be dropped.
    if (found !== fresh.length) throw new Error(`route match bench: ${fresh.length - found} of ${fresh.length} requests matched nothing`);
  }
  return ns / iterations;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
