// The series of the metrics registry (metrics-registry.ts): a counter's or gauge's value, a
// histogram's buckets, and how each renders in the text exposition format 0.0.4.

import type { Counter, Gauge, Histogram } from './metrics-registry.ts';

export type Series = { readonly pairs: string; render(name: string, out: string[]): void };

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
