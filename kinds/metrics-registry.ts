// A small Prometheus registry: counters, gauges and histograms with fixed label names, and
// the text exposition format 0.0.4. The hot path holds (or re-finds) a series object; a
// lookup with values seen before walks nested Maps, one level per label, and allocates
// nothing. Metric keys are never built as strings per request.
//
// A family with many labels (Istio's sixteen) declares how many leading ones are bound once
// per caller (a connection, an endpoint): `bind(values)` renders those pairs once and hands
// back a family over the rest, so a request walks only the labels that change per request.
//
// Shared by the proxy (/stats/prometheus) and the control plane (/metrics); it lives in kinds/
// because that is the folder both programs ship.

import assert from 'node:assert/strict';
import { CounterSeries, escape, GaugeSeries, HistogramSeries, type Series } from './metrics-series.ts';
import { renderSnapshot, type FamilySnapshot } from './metrics-snapshot.ts';

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

/**
 * A family whose first `bound` labels are fixed per caller. `bind(values)` takes exactly those
 * values, is meant for a cache miss (it builds a string key), and returns the same Family for
 * the same values every time; that Family's `labels(...)` takes the remaining ones.
 */
export type BoundFamily<S, L extends readonly string[]> = {
  readonly name: string;
  readonly labelNames: readonly string[];
  bind(values: readonly string[]): Family<S, L>;
};

export type Metrics = {
  counter<const N extends readonly string[]>(name: string, help: string, labelNames: N): Family<Counter, LabelValues<N>>;
  gauge<const N extends readonly string[]>(name: string, help: string, labelNames: N): Family<Gauge, LabelValues<N>>;
  histogram<const N extends readonly string[]>(name: string, help: string, labelNames: N, buckets?: readonly number[]): Family<Histogram, LabelValues<N>>;
  /** `bound` leading labels bound once by `bind`; the rest (at most MAX_LABELS) per call of `labels`. */
  boundCounter<const N extends readonly string[]>(name: string, help: string, bound: readonly string[], labelNames: N): BoundFamily<Counter, LabelValues<N>>;
  boundHistogram<const N extends readonly string[]>(name: string, help: string, bound: readonly string[], labelNames: N, buckets?: readonly number[]): BoundFamily<Histogram, LabelValues<N>>;
  /**
   * A family read at scrape time: `collect` is called once per render and yields each series'
   * label values (in `labelNames` order) and value; a series it no longer yields is gone.
   * For state that already lives elsewhere (connected proxies, certificates), never copied.
   */
  collected(name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[], collect: () => Iterable<readonly [values: readonly string[], value: number]>): void;
  /** Every family in registration order, its series in creation order. Scrape path only. */
  render(): string;
  /** The same as numbers: what render() writes, for adding registries up or reporting them (metrics-snapshot.ts). */
  snapshot(): FamilySnapshot[];
  /** Each family's name, type and label names (bound ones first): what a scrape of this registry can show. */
  describe(): { name: string; type: 'counter' | 'gauge' | 'histogram'; labels: string[] }[];
};

/** Labels a `labels(...)` call takes; a bound family's prefix does not count. */
export const MAX_LABELS = 6;
/** Labels a family may have in all, bound ones included. */
export const MAX_ALL_LABELS = 24;

/** Request-duration buckets in milliseconds. */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

// --- family ---

type Node = Map<string, Node | Series>;

/** The series of one bound prefix (or of the whole family when nothing is bound), found by a walk over the free labels. */
class Tree<S extends Series> {
  readonly name: string;
  readonly #family: FamilyImpl<S>;
  /** The bound pairs, rendered once, with a trailing comma when there are free labels to follow. */
  readonly #prefix: string;
  /** The bound values, in order. */
  readonly #bound: readonly string[];
  readonly #root: Node = new Map();
  /** Reused for every lookup so that passing values to the walk allocates nothing. */
  readonly #scratch: (string | undefined)[] = new Array(MAX_LABELS).fill(undefined);
  readonly #single: S | null;

  constructor(family: FamilyImpl<S>, prefix: string, bound: readonly string[]) {
    this.name = family.name;
    this.#family = family;
    this.#prefix = prefix;
    this.#bound = bound;
    // No free label: exactly one series; it exists (and renders 0) from the start.
    this.#single = family.free.length === 0 ? family.add(prefix, bound) : null;
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
    const last = this.#family.free.length - 1;
    let node = this.#root;
    for (let i = 0; i < last; i++) {
      const key = v[i] as string;
      let next = node.get(key) as Node | undefined;
      if (next === undefined) {
        this.#family.checkValue(this.#family.free[i], key);
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
    const names = this.#family.free;
    const parts: string[] = [];
    const values = [...this.#bound];
    for (let i = 0; i < names.length; i++) {
      this.#family.checkValue(names[i], this.#scratch[i]);
      parts.push(`${names[i]}="${escape(this.#scratch[i] as string, true)}"`);
      values.push(this.#scratch[i] as string);
    }
    const s = this.#family.add(this.#prefix + parts.join(','), Object.freeze(values));
    leafParent.set(this.#scratch[names.length - 1] as string, s);
    return s;
  }
}

class FamilyImpl<S extends Series> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly bound: readonly string[];
  readonly free: readonly string[];
  readonly #make: (pairs: string, labels: readonly string[]) => S;
  /** A histogram's bucket bounds. */
  readonly #bounds: readonly number[] | undefined;
  readonly #series: S[] = [];
  /** The unbound family's one tree; null when the family has bound labels. */
  readonly #tree: Tree<S> | null;
  readonly #trees = new Map<string, Tree<S>>();

  constructor(name: string, help: string, type: FamilyImpl<S>['type'], bound: readonly string[], free: readonly string[], make: (pairs: string, labels: readonly string[]) => S, bounds?: readonly number[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.bound = bound;
    this.free = free;
    this.#make = make;
    this.#bounds = bounds;
    this.#tree = bound.length === 0 ? new Tree(this, '', []) : null;
  }

  get labelNames(): readonly string[] {
    return [...this.bound, ...this.free];
  }

  labels(a?: string, b?: string, c?: string, d?: string, e?: string, f?: string): S {
    // Not assert.ok(cond, `...`): the message would be built on every call, on the hot path.
    if (this.#tree === null) assert.fail(`${this.name}: bind its ${this.bound.length} leading labels first`);
    return this.#tree.labels(a, b, c, d, e, f);
  }

  bind(values: readonly string[]): Tree<S> {
    assert.equal(values.length, this.bound.length, `${this.name}: bind takes ${this.bound.length} values`);
    const parts: string[] = [];
    for (let i = 0; i < values.length; i++) {
      this.checkValue(this.bound[i], values[i]);
      parts.push(`${this.bound[i]}="${escape(values[i], true)}"`);
    }
    const pairs = parts.join(',');
    let tree = this.#trees.get(pairs);
    if (tree === undefined) this.#trees.set(pairs, (tree = new Tree(this, this.free.length === 0 ? pairs : `${pairs},`, Object.freeze([...values]))));
    return tree;
  }

  add(pairs: string, labels: readonly string[]): S {
    const s = this.#make(pairs, labels);
    this.#series.push(s);
    return s;
  }

  checkValue(label: string, value: unknown): void {
    if (typeof value !== 'string') {
      throw new TypeError(`${this.name}: label "${label}" needs a string value, got ${typeof value}`);
    }
  }

  snapshot(): FamilySnapshot {
    const series = this.#series.map((s) => s.snapshot());
    return { name: this.name, help: this.help, type: this.type, labelNames: this.labelNames, ...(this.#bounds === undefined ? {} : { bounds: this.#bounds }), series };
  }
}

/** A family whose series `collect` yields at each render. */
class CollectedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
  readonly #collect: () => Iterable<readonly [readonly string[], number]>;

  constructor(name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[], collect: () => Iterable<readonly [readonly string[], number]>) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
    this.#collect = collect;
  }

  snapshot(): FamilySnapshot {
    const series = [];
    for (const [values, value] of this.#collect()) {
      assert.equal(values.length, this.labelNames.length, `${this.name}: ${this.labelNames.length} label values expected`);
      const labels = values.map(String);
      series.push({ labels, pairs: labels.map((v, i) => `${this.labelNames[i]}="${escape(v, true)}"`).join(','), value });
    }
    return { name: this.name, help: this.help, type: this.type, labelNames: this.labelNames, series };
  }
}

// --- registry ---

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function createMetrics(): Metrics {
  const families: (FamilyImpl<Series> | CollectedFamily)[] = [];
  const check = (name: string, type: FamilyImpl<Series>['type'], all: readonly string[]) => {
    assert.match(name, METRIC_NAME, `invalid metric name ${JSON.stringify(name)}`);
    assert.ok(!families.some((f) => f.name === name), `metric ${name} registered twice`);
    assert.ok(all.length <= MAX_ALL_LABELS, `${name}: at most ${MAX_ALL_LABELS} labels`);
    assert.equal(new Set(all).size, all.length, `${name}: duplicate label name`);
    for (const l of all) {
      assert.ok(LABEL_NAME.test(l) && !l.startsWith('__') && (type !== 'histogram' || l !== 'le'), `${name}: invalid label name ${JSON.stringify(l)}`);
    }
  };
  const register = <S extends Series>(name: string, help: string, type: FamilyImpl<S>['type'], bound: readonly string[], labelNames: readonly string[], make: (pairs: string, labels: readonly string[]) => S, bounds?: readonly number[]) => {
    check(name, type, [...bound, ...labelNames]);
    assert.ok(labelNames.length <= MAX_LABELS, `${name}: at most ${MAX_LABELS} labels per lookup`);
    const family = new FamilyImpl<S>(name, help, type, Object.freeze([...bound]), Object.freeze([...labelNames]), make, bounds);
    families.push(family as unknown as FamilyImpl<Series>);
    return family as never;
  };
  const histogram = (name: string, help: string, bound: readonly string[], labelNames: readonly string[], buckets: readonly number[]) => {
    const increasing = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]));
    assert.ok(buckets.length > 0 && increasing, `${name}: buckets must be finite, increasing and at least one`);
    const bounds = Object.freeze([...buckets]);
    return register(name, help, 'histogram', bound, labelNames, (p, labels) => new HistogramSeries(p, labels, bounds), bounds);
  };
  const snapshot = () => families.map((f) => f.snapshot());
  return {
    counter: (name, help, labelNames) => register(name, help, 'counter', [], labelNames, (p, labels) => new CounterSeries(p, labels)),
    gauge: (name, help, labelNames) => register(name, help, 'gauge', [], labelNames, (p, labels) => new GaugeSeries(p, labels)),
    histogram: (name, help, labelNames, buckets = DURATION_BUCKETS_MS) => histogram(name, help, [], labelNames, buckets),
    boundCounter: (name, help, bound, labelNames) => register(name, help, 'counter', bound, labelNames, (p, labels) => new CounterSeries(p, labels)),
    boundHistogram: (name, help, bound, labelNames, buckets = DURATION_BUCKETS_MS) => histogram(name, help, bound, labelNames, buckets),
    collected(name, help, type, labelNames, collect) {
      check(name, type, labelNames);
      families.push(new CollectedFamily(name, help, type, Object.freeze([...labelNames]), collect));
    },
    render: () => renderSnapshot(snapshot()),
    snapshot,
    describe: () => families.map((f) => ({ name: f.name, type: f.type, labels: [...f.labelNames] })),
  };
}

// --- helpers ---

const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** "1xx".."5xx"; "other" for anything else (0 when no response was ever produced). Returns a constant. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? STATUS_CLASSES[(status / 100) | 0] : STATUS_CLASSES[0];
}
