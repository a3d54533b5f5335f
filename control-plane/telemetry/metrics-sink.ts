// The control plane's side of the metrics service (xds/metrics-service.ts): every proxy
// sends its golden metrics over the stream it opens to :15012, proven by its SVID as ADS
// is; the sink keeps each proxy's snapshots over a window and aggregates them into golden
// metrics per Service (the callee's side, reporter="destination") and per edge (the
// caller's side, reporter="source"): requests/s, success rate, p50 and p99. That is what
// `sluicectl stat`/`top` and the dashboard read, with no Prometheus needed; Prometheus
// scrapes the same series from each proxy for history and alerts.

import * as grpc from '@grpc/grpc-js';
import { METRICS_SERVICE, type Metric, type StreamMetricsMessage } from '../../xds/metrics-service.ts';
import type { NodeContext } from '../xds/generate/resources.ts';
import { admitOnTls, peerSpiffeId } from '../xds/admission.ts';
import type { MeshView } from '../xds/mesh-view.ts';
import type { Logger } from '../log.ts';

export const DEFAULT_STATS_WINDOW_MS = 60_000;
/** Snapshots kept per proxy: at the default 5 s interval, a little over the longest window asked for. */
const MAX_SNAPSHOTS = 64;
const MAX_WINDOW_MS = 5 * 60_000;

type Snapshot = { readonly at: number; readonly families: ReadonlyMap<string, readonly Metric[]> };

export type GoldenStats = {
  /** Requests in the window; rps is over the window the snapshots span. */
  readonly requests: number;
  readonly rps: number;
  /** Share of responses that are not 5xx (Istio's and Linkerd's success rate); null with no request. */
  readonly successRate: number | null;
  /** Milliseconds, from the duration histograms' buckets in the window (as PromQL's histogram_quantile); null with no request. */
  readonly p50: number | null;
  readonly p99: number | null;
};

export type ServiceStats = GoldenStats & { readonly service: string; readonly namespace: string; readonly name: string; readonly reporters: number };
export type EdgeStats = GoldenStats & { readonly source: string; readonly sourceNamespace: string; readonly destination: string; readonly reporters: number };

export type StatsReport = {
  readonly windowSeconds: number;
  /** Proxies that sent metrics within the window. */
  readonly proxies: number;
  readonly services: readonly ServiceStats[];
  readonly edges: readonly EdgeStats[];
};

export type MetricsSinkDeps = {
  readonly now: () => number;
  readonly view: () => MeshView | null;
  readonly log: Logger;
};

export class MetricsSink {
  readonly #deps: MetricsSinkDeps;
  readonly #proxies = new Map<string, Snapshot[]>();

  constructor(deps: MetricsSinkDeps) {
    this.#deps = deps;
  }

  /** Adds the metrics service to a TLS server (a proxy proves itself by its SVID, as on ADS). */
  register(server: grpc.Server): void {
    server.addService(METRICS_SERVICE, {
      StreamMetrics: (call: grpc.ServerReadableStream<StreamMetricsMessage, Record<string, never>>, done: grpc.sendUnaryData<Record<string, never>>) => this.#stream(call, done),
    });
  }

  #stream(call: grpc.ServerReadableStream<StreamMetricsMessage, Record<string, never>>, done: grpc.sendUnaryData<Record<string, never>>): void {
    let node: string | null = null;
    let ended = false;
    const refuse = (code: grpc.status, details: string) => {
      if (ended) return;
      ended = true;
      this.#deps.log('warn', 'metrics stream refused', { node: node ?? '', reason: details });
      done({ code, details });
      call.destroy();
    };
    call.on('data', (m: StreamMetricsMessage) => {
      if (ended) return;
      if (node === null) {
        const id = m.identifier?.node?.id ?? '';
        const dot = id.lastIndexOf('.');
        if (dot <= 0) return refuse(grpc.status.INVALID_ARGUMENT, `the first message must name the node (identifier.node.id WORKLOAD.NAMESPACE); got '${id}'`);
        // The same check as ADS: the SVID must be the one of that Workload (or pod).
        const ctx = { kind: 'proxy', id, workload: id.slice(0, dot), namespace: id.slice(dot + 1), outboundPort: 0, appPorts: {} } satisfies NodeContext;
        const why = admitOnTls(ctx, peerSpiffeId(call as unknown as grpc.ServerDuplexStream<unknown, unknown>), this.#deps.view());
        if (why !== null) return refuse(grpc.status.PERMISSION_DENIED, why);
        node = id;
        // A new stream is a new process, or a new connection of the same: its counters may have restarted.
        this.#proxies.set(node, []);
      }
      const list = this.#proxies.get(node) ?? [];
      // An empty message after the first: nothing changed since the last (the reporter's heartbeat).
      let families: ReadonlyMap<string, readonly Metric[]> = list.at(-1)?.families ?? new Map();
      if ((m.envoy_metrics ?? []).length > 0 || list.length === 0) {
        const fresh = new Map<string, readonly Metric[]>();
        for (const f of m.envoy_metrics ?? []) fresh.set(f.name, f.metric ?? []);
        families = fresh;
      }
      list.push({ at: this.#deps.now(), families });
      const oldest = this.#deps.now() - MAX_WINDOW_MS - 10_000;
      while (list.length > MAX_SNAPSHOTS || (list.length > 1 && list[0].at < oldest)) list.shift();
      this.#proxies.set(node, list);
    });
    call.on('end', () => {
      if (ended) return;
      ended = true;
      done(null, {});
    });
    call.on('error', () => {
      ended = true;
    });
  }

  /** Golden metrics over the last `windowMs` (default a minute, at most five). */
  report(windowMs = DEFAULT_STATS_WINDOW_MS): StatsReport {
    const window = Math.min(Math.max(windowMs, 1000), MAX_WINDOW_MS);
    const now = this.#deps.now();
    const services = new Map<string, Acc & { namespace: string; name: string; service: string }>();
    const edges = new Map<string, Acc & { source: string; sourceNamespace: string; destination: string }>();
    let proxies = 0;
    for (const [node, snaps] of this.#proxies) {
      const latest = snaps.at(-1);
      if (latest === undefined || latest.at < now - window) continue;
      proxies++;
      // The base: the newest snapshot at least a window old, else the oldest there is. Never
      // zero: a stream's first snapshot may carry a long-running proxy's lifetime counts.
      let base = snaps[0];
      for (const s of snaps) if (s.at <= now - window) base = s;
      if (base === latest) continue;
      const span = latest.at - base.at;
      const requests = delta(latest, base, 'sluice_requests_total');
      const durations = delta(latest, base, 'sluice_request_duration_milliseconds');
      for (const d of requests) {
        const l = labels(d.metric);
        const code = l.response_code ?? '';
        const add = (acc: Acc) => addRequests(acc, d.count, code.startsWith('5'), node, span);
        if (l.reporter === 'destination') {
          const key = `${l.destination_service_namespace}/${l.destination_service_name}`;
          add(getOr(services, key, () => ({ ...emptyAcc(), namespace: l.destination_service_namespace ?? 'unknown', name: l.destination_service_name ?? 'unknown', service: l.destination_service ?? 'unknown' })));
        } else if (l.reporter === 'source') {
          const key = `${l.source_workload_namespace}/${l.source_workload}>${l.destination_service}`;
          add(getOr(edges, key, () => ({ ...emptyAcc(), source: l.source_workload ?? 'unknown', sourceNamespace: l.source_workload_namespace ?? 'unknown', destination: l.destination_service ?? 'unknown' })));
        }
      }
      for (const d of durations) {
        const l = labels(d.metric);
        const acc = l.reporter === 'destination' ? services.get(`${l.destination_service_namespace}/${l.destination_service_name}`) : l.reporter === 'source' ? edges.get(`${l.source_workload_namespace}/${l.source_workload}>${l.destination_service}`) : undefined;
        if (acc !== undefined && d.buckets !== null) addBuckets(acc, d.buckets);
      }
    }
    const golden = (a: Acc): GoldenStats => ({
      requests: a.requests,
      rps: a.requests === 0 ? 0 : round(a.requests / (Math.max(a.spanMs, 1000) / 1000)),
      successRate: a.requests === 0 ? null : round((a.requests - a.errors) / a.requests, 4),
      p50: quantile(0.5, a.buckets),
      p99: quantile(0.99, a.buckets),
    });
    return {
      windowSeconds: window / 1000,
      proxies,
      services: [...services.values()].map((a) => ({ service: a.service, namespace: a.namespace, name: a.name, reporters: a.nodes.size, ...golden(a) })).sort((x, y) => (x.namespace + x.name).localeCompare(y.namespace + y.name)),
      edges: [...edges.values()].map((a) => ({ source: a.source, sourceNamespace: a.sourceNamespace, destination: a.destination, reporters: a.nodes.size, ...golden(a) })).sort((x, y) => (x.sourceNamespace + x.source + x.destination).localeCompare(y.sourceNamespace + y.source + y.destination)),
    };
  }
}

type Acc = { requests: number; errors: number; spanMs: number; nodes: Set<string>; buckets: Map<number, number> };
const emptyAcc = (): Acc => ({ requests: 0, errors: 0, spanMs: 0, nodes: new Set(), buckets: new Map() });

function addRequests(acc: Acc, count: number, error: boolean, node: string, span: number): void {
  acc.requests += count;
  if (error) acc.errors += count;
  acc.nodes.add(node);
  // Rates over the span the snapshots cover: the longest any reporter of this row had.
  acc.spanMs = Math.max(acc.spanMs, span);
}

function addBuckets(acc: Acc, buckets: ReadonlyMap<number, number>): void {
  for (const [le, n] of buckets) acc.buckets.set(le, (acc.buckets.get(le) ?? 0) + n);
}

function getOr<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) m.set(k, (v = make()));
  return v;
}

function labels(m: Metric): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of m.label ?? []) out[l.name] = l.value;
  return out;
}

const seriesKey = (m: Metric) => (m.label ?? []).map((l) => `${l.name}=${l.value}`).join(',');

/** Each series of `family` in `latest` less what it was in `base` (0 when it had not appeared yet, or went down: a restart). */
function delta(latest: Snapshot, base: Snapshot, family: string): { metric: Metric; count: number; buckets: Map<number, number> | null }[] {
  const before = new Map<string, Metric>();
  for (const m of base.families.get(family) ?? []) before.set(seriesKey(m), m);
  const out: { metric: Metric; count: number; buckets: Map<number, number> | null }[] = [];
  for (const m of latest.families.get(family) ?? []) {
    const b = before.get(seriesKey(m));
    if (m.histogram !== undefined) {
      const prev = new Map((b?.histogram?.bucket ?? []).map((x) => [x.upper_bound, x.cumulative_count]));
      const reset = (b?.histogram?.sample_count ?? 0) > m.histogram.sample_count;
      const buckets = new Map<number, number>();
      for (const x of m.histogram.bucket ?? []) buckets.set(x.upper_bound, x.cumulative_count - (reset ? 0 : (prev.get(x.upper_bound) ?? 0)));
      buckets.set(Infinity, m.histogram.sample_count - (reset ? 0 : (b?.histogram?.sample_count ?? 0)));
      out.push({ metric: m, count: buckets.get(Infinity)!, buckets });
    } else {
      const v = m.counter?.value ?? 0;
      const p = b?.counter?.value ?? 0;
      out.push({ metric: m, count: v >= p ? v - p : v, buckets: null });
    }
  }
  return out;
}

/** PromQL's histogram_quantile over cumulative buckets (upper bound -> count, +Inf included): linear within the bucket. */
export function quantile(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      // Above the highest finite bound: that bound, as Prometheus answers.
      if (bound === Infinity) return round(prevBound);
      if (count === prevCount) return round(bound);
      return round(prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount));
    }
    prevBound = bound;
    prevCount = count;
  }
  return round(prevBound);
}

function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
