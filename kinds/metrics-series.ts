// The series of the metrics registry (metrics-registry.ts): a counter's or gauge's value, a
// histogram's buckets, and each one's snapshot (metrics-snapshot.ts renders the text format).

import type { Counter, Gauge, Histogram } from './metrics-registry.ts';
import type { SeriesSnapshot } from './metrics-snapshot.ts';

export type Series = { readonly pairs: string; snapshot(): SeriesSnapshot };

class ScalarSeries implements Series {
  readonly pairs: string;
  /** The label values, bound ones first. */
  readonly labels: readonly string[];
  value = 0;
  constructor(pairs: string, labels: readonly string[]) {
    this.pairs = pairs;
    this.labels = labels;
  }
  get(): number {
    return this.value;
  }
  snapshot(): SeriesSnapshot {
    return { labels: this.labels, pairs: this.pairs, value: this.value };
  }
}

export class CounterSeries extends ScalarSeries implements Counter {
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

export class GaugeSeries extends ScalarSeries implements Gauge {
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

export class HistogramSeries implements Histogram, Series {
  readonly pairs: string;
  readonly labels: readonly string[];
  readonly #bounds: readonly number[];
  /** Per-bucket (not cumulative) counts; the last slot is the overflow above the top bound. */
  readonly #counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(pairs: string, labels: readonly string[], bounds: readonly number[]) {
    this.pairs = pairs;
    this.labels = labels;
    this.#bounds = bounds;
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
  snapshot(): SeriesSnapshot {
    return { labels: this.labels, pairs: this.pairs, value: this.count, sum: this.sum, buckets: Array.from(this.#counts) };
  }
}


// --- text format ---

export function braced(pairs: string): string {
  return pairs === '' ? '' : `{${pairs}}`;
}

export function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** Label values escape backslash, double quote and newline; HELP text only backslash and newline. */
export function escape(s: string, quote: boolean): string {
  return s.replace(quote ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
