// Mesh metrics (issues 19 and 20): the per-request cost of the request observer's metrics,
// without Istio's standard set (the proxy before it), with it (bound edges: status and
// flags per request), and, for scale, a lookup that walks all sixteen labels through nested
// Maps per request (what binding avoids). Access log off. Median ns per request over rounds,
// alternated in each round so the machine's load hits all three alike.
//
//   node test/bench/mesh-metrics.ts        (BENCH_MESH_ROUNDS, default 15)

import { performance } from 'node:perf_hooks';
import type { ProxyConfig } from '../../proxy/config/model.ts';
import { RequestContext } from '../../proxy/http/context.ts';
import { createAccessLog } from '../../proxy/telemetry/access-log.ts';
import { createMeshRecorder, EDGE_LABELS } from '../../proxy/telemetry/mesh-metrics.ts';
import { createProxyMetrics, type Counter, type Histogram } from '../../proxy/telemetry/metrics.ts';
import { createRequestObserver } from '../../proxy/telemetry/request-observer.ts';

const ROUNDS = Number(process.env.BENCH_MESH_ROUNDS ?? 15);
const PER_ROUND = 200_000;
const SERVICES = 20;
const ENDPOINTS = 3;

const host = (i: number) => `svc-${i}.bench.svc.cluster.local`;
const backend = (i: number) => `outbound|80||${host(i)}`;
const config = {
  node: { zone: 'z1' },
  identity: null,
  listeners: [{ name: 'outbound', address: '127.0.0.1', port: 15001, tls: { mode: 'DISABLE' }, protocol: 'http' }],
  routes: [],
  backends: Array.from({ length: SERVICES }, (_, i) => ({
    name: backend(i),
    tls: { identities: [], serverName: host(i) },
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({ address: `10.0.${i}.${j}`, port: 8080, weight: 1, priority: 0, zone: 'z1', workload: { name: `svc-${i}-${j}`, namespace: 'bench' } })),
  })),
} as unknown as ProxyConfig;

/** Requests over every Service and endpoint; one in ten a 503 with a flag. */
const contexts = Array.from({ length: 1024 }, (_, n) => {
  const i = n % SERVICES;
  const ctx = new RequestContext('outbound', 'HTTP/1.1', '127.0.0.1:40000', performance.now(), 'GET', host(i), '/', '', {}, null, `r${n}`);
  ctx.backend = backend(i);
  ctx.upstreamHost = `10.0.${i}.${n % ENDPOINTS}:8080`;
  ctx.status = n % 10 === 0 ? 503 : 200;
  if (n % 10 === 0) ctx.addFlag('URX');
  ctx.bytesReceived = 100;
  ctx.bytesSent = 2000;
  return ctx;
});

const self = { workload: 'caller', namespace: 'bench', zone: 'z1', principal: () => 'spiffe://bench/ns/bench/sa/caller' };
const off = createAccessLog(null);
const before = createRequestObserver(createProxyMetrics(), off, null);
const withMesh = (() => {
  const metrics = createProxyMetrics();
  return createRequestObserver(metrics, off, createMeshRecorder(metrics.mesh, self, () => config));
})();
// Sixteen nested Map levels per request to the same four series, the values read from the context each time.
const naive = (() => {
  const metrics = createProxyMetrics();
  const inner = createRequestObserver(metrics, off, null);
  const f = metrics.mesh;
  type Leaf = { requests: Counter; duration: Histogram; requestBytes: Histogram; responseBytes: Histogram };
  const root = new Map<string, unknown>();
  const values = new Array<string>(EDGE_LABELS.length + 2);
  return {
    observe(ctx: RequestContext) {
      inner.observe(ctx);
      const ms = performance.now() - ctx.startMs;
      values.fill('unknown');
      values[0] = 'source';
      values[8] = ctx.backend ?? '-';
      values[12] = 'http';
      values[14] = String(ctx.status);
      values[15] = ctx.flags.length === 0 ? '-' : ctx.flags.join(',');
      let node = root;
      for (let i = 0; i < values.length - 1; i++) {
        let next = node.get(values[i]) as Map<string, unknown> | undefined;
        if (next === undefined) node.set(values[i], (next = new Map()));
        node = next;
      }
      let leaf = node.get(values[values.length - 1]) as Leaf | undefined;
      if (leaf === undefined) {
        const fixed = values.slice(0, EDGE_LABELS.length);
        const [code, flags] = [values[14], values[15]];
        leaf = { requests: f.requests.bind(fixed).labels(code, flags), duration: f.duration.bind(fixed).labels(code, flags), requestBytes: f.requestBytes.bind(fixed).labels(code, flags), responseBytes: f.responseBytes.bind(fixed).labels(code, flags) };
        node.set(values[values.length - 1], leaf);
      }
      leaf.requests.inc();
      leaf.duration.observe(ms);
      leaf.requestBytes.observe(ctx.bytesReceived);
      leaf.responseBytes.observe(ctx.bytesSent);
    },
  };
})();

const variants = { 'before (no mesh metrics)': before, 'after (bound edges)': withMesh, '16-level walk per request': naive } as const;

function round(observe: (ctx: RequestContext) => void): number {
  const start = performance.now();
  for (let i = 0; i < PER_ROUND; i++) observe(contexts[i & 1023]);
  return ((performance.now() - start) * 1e6) / PER_ROUND;
}

const results = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
for (const v of Object.values(variants)) round(v.observe); // warm up: series created, code optimized
for (let r = 0; r < ROUNDS; r++) for (const [name, v] of Object.entries(variants)) results.get(name)!.push(round(v.observe));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = median(results.get('before (no mesh metrics)')!);
console.log(`mesh metrics, ns per request (median of ${ROUNDS} rounds of ${PER_ROUND}), ${SERVICES} services x ${ENDPOINTS} endpoints`);
for (const [name, xs] of results) console.log(`  ${name.padEnd(28)} ${median(xs).toFixed(0).padStart(6)} ns  x${(median(xs) / base).toFixed(2)}`);
