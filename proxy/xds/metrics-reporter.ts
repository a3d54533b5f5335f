// The proxy's golden metrics, sent to its control plane every few seconds over Envoy's
// metrics service (xds/metrics-service.ts) on the connection it already dials: what
// `sluicectl stat`/`top` and the dashboard aggregate. Only the families the control plane
// aggregates travel, and an empty heartbeat when nothing changed since the last send. A control plane
// that is down or does not serve the stream costs a failed call per interval, never traffic.

import * as grpc from '@grpc/grpc-js';
import type { FamilySnapshot } from '../../kinds/metrics-snapshot.ts';
import { METRICS_SERVICE, type Metric, type MetricFamily, type MetricType, type StreamMetricsMessage } from '../../xds/metrics-service.ts';

/** The families sent: the standard request and TCP metrics (telemetry/metrics.ts). */
export const REPORTED_FAMILIES: ReadonlySet<string> = new Set([
  'sluice_requests_total',
  'sluice_request_duration_milliseconds',
  'sluice_tcp_sent_bytes_total',
  'sluice_tcp_received_bytes_total',
  'sluice_tcp_connections_opened_total',
  'sluice_tcp_connections_closed_total',
]);

export const DEFAULT_REPORT_INTERVAL_MS = 5_000;

export type MetricsReporterDeps = {
  readonly target: string;
  /** Read at each new stream: the SVID may have been renewed since the last one. */
  readonly credentials: () => grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  readonly nodeId: string;
  /** The proxy's registry as numbers (with worker threads, everyone's added up: asked of them). */
  readonly snapshot: () => FamilySnapshot[] | Promise<FamilySnapshot[]>;
  readonly intervalMs?: number;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
};

type Call = grpc.ClientWritableStream<StreamMetricsMessage>;

export class MetricsReporter {
  readonly #deps: MetricsReporterDeps;
  #timer: NodeJS.Timeout | null = null;
  #client: grpc.Client | null = null;
  #call: Call | null = null;
  #identified = false;
  #blocked = false;
  #last = '';
  #failures = 0;
  #closed = false;

  constructor(deps: MetricsReporterDeps) {
    this.#deps = deps;
  }

  /** Reports at once (the counts before any request: what the first requests are counted from), then every interval. */
  start(): void {
    this.report();
    this.#timer = setInterval(() => this.report(), this.#deps.intervalMs ?? DEFAULT_REPORT_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Sends the reported families now; when they are what this stream sent last, an empty
   * message instead, which the control plane takes as "unchanged" (a heartbeat that costs a
   * few bytes). Nothing while the stream is still full.
   */
  report(): void {
    const snapshot = this.#deps.snapshot();
    if (Array.isArray(snapshot)) this.#send(snapshot);
    else snapshot.then((s) => this.#send(s), (err: unknown) => this.#deps.log('warn', 'could not gather the metrics to report', { error: String(err) }));
  }

  #send(snapshot: readonly FamilySnapshot[]): void {
    // An answer from the workers that comes after close() must not open a stream again.
    if (this.#closed) return;
    const families = metricFamilies(snapshot, (name) => REPORTED_FAMILIES.has(name));
    const text = JSON.stringify(families);
    const call = this.#call ?? this.#open();
    if (this.#blocked) return;
    const message: StreamMetricsMessage = { envoy_metrics: text === this.#last ? [] : families };
    if (!this.#identified) message.identifier = { node: { id: this.#deps.nodeId } };
    this.#identified = true;
    this.#last = text;
    if (!call.write(message)) {
      this.#blocked = true;
      call.once('drain', () => (this.#blocked = false));
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#call?.end();
    this.#call = null;
    this.#client?.close();
    this.#client = null;
  }

  #open(): Call {
    this.#client?.close();
    const Ctor = grpc.makeGenericClientConstructor({}, 'MetricsService');
    const client = new Ctor(this.#deps.target, this.#deps.credentials(), this.#deps.channelOptions ?? {});
    const d = METRICS_SERVICE.StreamMetrics;
    const openedAt = Date.now();
    const call = client.makeClientStreamRequest(d.path, d.requestSerialize, d.responseDeserialize, (err) => {
      if (this.#call !== call) return;
      // A stream that lived a while was a success: the next failure is news again.
      if (Date.now() - openedAt > 2 * (this.#deps.intervalMs ?? DEFAULT_REPORT_INTERVAL_MS)) this.#failures = 0;
      this.#call = null;
      this.#identified = false;
      this.#blocked = false;
      this.#last = '';
      // Said once per run of failures: a control plane that is away is the ADS client's news to tell.
      if (err !== null && err.code !== grpc.status.CANCELLED && this.#failures++ === 0) this.#deps.log('warn', 'metrics stream to the control plane ended; sending again at the next interval', { reason: err.details });
    });
    call.on('error', () => {});
    this.#client = client;
    this.#call = call;
    return call;
  }
}

const TYPES: Readonly<Record<FamilySnapshot['type'], MetricType>> = { counter: 'COUNTER', gauge: 'GAUGE', histogram: 'HISTOGRAM' };

/**
 * A registry's families as Prometheus MetricFamily messages, those `keep` accepts and that
 * have a series: label values as they are, a histogram's buckets cumulative with their upper
 * bounds (the +Inf bucket is the count, as in the text format).
 */
export function metricFamilies(snapshot: readonly FamilySnapshot[], keep: (name: string) => boolean = () => true): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const f of snapshot) {
    if (!keep(f.name) || f.series.length === 0) continue;
    const metric = f.series.map((s): Metric => {
      const label = f.labelNames.map((name, i) => ({ name, value: s.labels[i] ?? '' }));
      if (f.type === 'counter') return { label, counter: { value: s.value } };
      if (f.type === 'gauge') return { label, gauge: { value: s.value } };
      const bounds = f.bounds ?? [];
      let cumulative = 0;
      const bucket = bounds.map((upper_bound, i) => ({ cumulative_count: (cumulative += s.buckets?.[i] ?? 0), upper_bound }));
      return { label, histogram: { sample_count: s.value, sample_sum: s.sum ?? 0, bucket } };
    });
    out.push({ name: f.name, help: f.help, type: TYPES[f.type], metric });
  }
  return out;
}
