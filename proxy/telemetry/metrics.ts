// A small Prometheus registry: counters, gauges and histograms with fixed label names, and
// the text exposition format 0.0.4. The hot path holds (or re-finds) a series object; a
// lookup with values seen before walks nested Maps, one level per label, and allocates
// nothing. Metric keys are never built as strings per request.

import assert from 'node:assert/strict';

// --- public types ---

export type Counter = {
  /** Adds `n` (default 1). Non-positive and NaN increments are ignored: counters only go up. */
  inc(n?: number): void;
  get(): number;
};

export type Gauge = {
  /** Adds `n` (default 1); negative `n` is allowed. */
  inc(n?: number): void;
  dec(n?: number): void;
  set(v: number): void;
  get(): number;
};

export type Histogram = {
  /** Records one value; NaN is dropped. */
  observe(v: number): void;
  readonly count: number;
  readonly sum: number;
};

/**
 * One metric family. `labels(...)` takes the values in the order the names were declared and
 * returns the same series object every time for the same values, so callers may also keep it.
 * Values must be strings; the first call for a new combination creates the series (and
 * throws on a non-string value, a programming error). At most MAX_LABELS labels.
 */
export type Family<S, L extends readonly string[]> = {
  readonly name: string;
  labels(...values: L): S;
};

export type LabelValues<N extends readonly string[]> = { -readonly [K in keyof N]: string };

export type Metrics = {
  counter<const N extends readonly string[]>(name: string, help: string, labelNames: N): Family<Counter, LabelValues<N>>;
  gauge<const N extends readonly string[]>(name: string, help: string, labelNames: N): Family<Gauge, LabelValues<N>>;
  histogram<const N extends readonly string[]>(name: string, help: string, labelNames: N, buckets?: readonly number[]): Family<Histogram, LabelValues<N>>;
  /** Every family in registration order, its series in creation order. Scrape path only. */
  render(): string;
};

export const MAX_LABELS = 6;

/** Request-duration buckets in milliseconds. */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

// --- series ---

type Series = { readonly pairs: string; render(name: string, out: string[]): void };

class ScalarSeries implements Series {
  readonly pairs: string;
  value = 0;
  constructor(pairs: string) {
    this.pairs = pairs;
  }
  get(): number {
    return this.value;
  }
  render(name: string, out: string[]): void {
    out.push(`${name}${braced(this.pairs)} ${formatNumber(this.value)}`);
  }
}

class CounterSeries extends ScalarSeries implements Counter {
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

class GaugeSeries extends ScalarSeries implements Gauge {
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  set(v: number): void {
    this.value = v;
  }
}

class HistogramSeries implements Histogram, Series {
  readonly pairs: string;
  readonly #bounds: readonly number[];
  readonly #les: readonly string[];
  /** Per-bucket (not cumulative) counts; the last slot is the overflow above the top bound. */
  readonly #counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(pairs: string, bounds: readonly number[], les: readonly string[]) {
    this.pairs = pairs;
    this.#bounds = bounds;
    this.#les = les;
    this.#counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    if (v !== v) return;
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.#counts[i]++;
    this.count++;
    this.sum += v;
  }
  render(name: string, out: string[]): void {
    const prefix = this.pairs === '' ? '' : `${this.pairs},`;
    let cumulative = 0;
    for (let i = 0; i < this.#les.length; i++) {
      cumulative += this.#counts[i];
      out.push(`${name}_bucket{${prefix}le="${this.#les[i]}"} ${cumulative}`);
    }
    out.push(`${name}_bucket{${prefix}le="+Inf"} ${this.count}`);
    out.push(`${name}_sum${braced(this.pairs)} ${formatNumber(this.sum)}`);
    out.push(`${name}_count${braced(this.pairs)} ${this.count}`);
  }
}

// --- family ---

type Node = Map<string, Node | Series>;

class FamilyImpl<S extends Series> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly #labelNames: readonly string[];
  readonly #make: (pairs: string) => S;
  readonly #root: Node = new Map();
  /** Reused for every lookup so that passing values to the walk allocates nothing. */
  readonly #scratch: (string | undefined)[] = new Array(MAX_LABELS).fill(undefined);
  readonly #series: S[] = [];
  readonly #single: S | null;

  constructor(name: string, help: string, type: FamilyImpl<S>['type'], labelNames: readonly string[], make: (pairs: string) => S) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#labelNames = labelNames;
    this.#make = make;
    // An unlabelled family has exactly one series; it exists (and renders 0) from the start.
    this.#single = labelNames.length === 0 ? this.#add('') : null;
  }

  labels(a?: string, b?: string, c?: string, d?: string, e?: string, f?: string): S {
    if (this.#single !== null) return this.#single;
    const v = this.#scratch;
    v[0] = a;
    v[1] = b;
    v[2] = c;
    v[3] = d;
    v[4] = e;
    v[5] = f;
    const last = this.#labelNames.length - 1;
    let node = this.#root;
    for (let i = 0; i < last; i++) {
      const key = v[i] as string;
      let next = node.get(key) as Node | undefined;
      if (next === undefined) {
        this.#checkValue(i, key);
        next = new Map();
        node.set(key, next);
      }
      node = next;
    }
    const hit = node.get(v[last] as string);
    if (hit !== undefined) return hit as S;
    return this.#create(node);
  }

  #create(leafParent: Node): S {
    const n = this.#labelNames.length;
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      this.#checkValue(i, this.#scratch[i]);
      parts.push(`${this.#labelNames[i]}="${escape(this.#scratch[i] as string, true)}"`);
    }
    const s = this.#add(parts.join(','));
    leafParent.set(this.#scratch[n - 1] as string, s);
    return s;
  }

  #add(pairs: string): S {
    const s = this.#make(pairs);
    this.#series.push(s);
    return s;
  }

  #checkValue(i: number, value: unknown): void {
    if (typeof value !== 'string') {
      throw new TypeError(`${this.name}: label "${this.#labelNames[i]}" needs a string value, got ${typeof value}`);
    }
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escape(this.help, false)}`, `# TYPE ${this.name} ${this.type}`);
    for (const s of this.#series) s.render(this.name, out);
  }
}

// --- registry ---

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function createMetrics(): Metrics {
  const families: FamilyImpl<Series>[] = [];
  const register = <S extends Series>(name: string, help: string, type: FamilyImpl<S>['type'], labelNames: readonly string[], make: (pairs: string) => S) => {
    assert.match(name, METRIC_NAME, `invalid metric name ${JSON.stringify(name)}`);
    assert.ok(!families.some((f) => f.name === name), `metric ${name} registered twice`);
    assert.ok(labelNames.length <= MAX_LABELS, `${name}: at most ${MAX_LABELS} labels`);
    assert.equal(new Set(labelNames).size, labelNames.length, `${name}: duplicate label name`);
    for (const l of labelNames) {
      assert.ok(LABEL_NAME.test(l) && !l.startsWith('__') && (type !== 'histogram' || l !== 'le'), `${name}: invalid label name ${JSON.stringify(l)}`);
    }
    const family = new FamilyImpl<S>(name, help, type, Object.freeze([...labelNames]), make);
    families.push(family);
    return family as unknown as Family<S, never>;
  };
  return {
    counter: (name, help, labelNames) => register(name, help, 'counter', labelNames, (p) => new CounterSeries(p)) as never,
    gauge: (name, help, labelNames) => register(name, help, 'gauge', labelNames, (p) => new GaugeSeries(p)) as never,
    histogram: (name, help, labelNames, buckets = DURATION_BUCKETS_MS) => {
      const increasing = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]));
      assert.ok(buckets.length > 0 && increasing, `${name}: buckets must be finite, increasing and at least one`);
      const bounds = Object.freeze([...buckets]);
      const les = Object.freeze(bounds.map(formatNumber));
      return register(name, help, 'histogram', labelNames, (p) => new HistogramSeries(p, bounds, les)) as never;
    },
    render() {
      const out: string[] = [];
      for (const f of families) f.render(out);
      return out.length === 0 ? '' : `${out.join('\n')}\n`;
    },
  };
}

// --- the proxy's metrics ---

export type ProxyMetrics = {
  readonly requests: Family<Counter, [listener: string, route: string, backend: string, statusClass: string]>;
  readonly requestDuration: Family<Histogram, [listener: string, route: string, backend: string]>;
  readonly downstreamConnectionsActive: Family<Gauge, [listener: string]>;
  readonly downstreamConnections: Family<Counter, [listener: string]>;
  readonly upstreamRequests: Family<Counter, [backend: string, endpoint: string, statusClass: string]>;
  readonly localReplies: Family<Counter, [listener: string, flag: string]>;
  readonly bytesReceived: Family<Counter, [listener: string]>;
  readonly bytesSent: Family<Counter, [listener: string]>;
  readonly configReloads: Family<Counter, [result: 'ok' | 'rejected']>;
  readonly h2Goaway: Family<Counter, [listener: string, reason: string]>;
  readonly mtlsRefused: Family<Counter, [listener: string]>;
  render(): string;
};

export function createProxyMetrics(): ProxyMetrics {
  const m = createMetrics();
  return {
    requests: m.counter('sluice_requests_total', 'HTTP requests finished downstream, by route, backend and status class.', ['listener', 'route', 'backend', 'status_class']),
    requestDuration: m.histogram('sluice_request_duration_ms', 'Time from the first request byte to the last response byte, in milliseconds.', ['listener', 'route', 'backend']),
    downstreamConnectionsActive: m.gauge('sluice_downstream_connections_active', 'Downstream connections open now.', ['listener']),
    downstreamConnections: m.counter('sluice_downstream_connections_total', 'Downstream connections accepted.', ['listener']),
    upstreamRequests: m.counter('sluice_upstream_requests_total', 'Requests sent to an upstream endpoint, by status class of its answer.', ['backend', 'endpoint', 'status_class']),
    localReplies: m.counter('sluice_local_replies_total', 'Responses (or refusals) the proxy produced itself, by Envoy response flag.', ['listener', 'flag']),
    bytesReceived: m.counter('sluice_bytes_received_total', 'Bytes received from downstream clients.', ['listener']),
    bytesSent: m.counter('sluice_bytes_sent_total', 'Bytes sent to downstream clients.', ['listener']),
    configReloads: m.counter('sluice_config_reloads_total', 'Config reloads, applied ("ok") or refused ("rejected").', ['result']),
    h2Goaway: m.counter('sluice_h2_goaway_total', 'HTTP/2 GOAWAY frames sent to downstream clients, by reason.', ['listener', 'reason']),
    mtlsRefused: m.counter(
      'sluice_downstream_mtls_refused_total',
      'Downstream connections refused by mTLS: plaintext on a STRICT listener, a failed handshake, or a certificate without one SPIFFE ID.',
      ['listener'],
    ),
    render: m.render,
  };
}

// --- helpers ---

const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** "1xx".."5xx"; "other" for anything else (0 when no response was ever produced). Returns a constant. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? STATUS_CLASSES[(status / 100) | 0] : STATUS_CLASSES[0];
}

function braced(pairs: string): string {
  return pairs === '' ? '' : `{${pairs}}`;
}

function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** Label values escape backslash, double quote and newline; HELP text only backslash and newline. */
function escape(s: string, quote: boolean): string {
  return s.replace(quote ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
