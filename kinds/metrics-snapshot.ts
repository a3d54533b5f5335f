// A registry's state as plain numbers (metrics-registry.ts `snapshot()`): what the text
// exposition is rendered from, what worker threads send their main thread to be added up
// (a structured clone, no text to read back), and what a proxy reports to its control
// plane. One rendering of the text format 0.0.4, here.

import { braced, escape, formatNumber } from './metrics-series.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type SeriesSnapshot = {
  /** The label values, in the family's `labelNames` order. */
  readonly labels: readonly string[];
  /** The same pairs rendered (`a="x",b="y"`, escaped): the series' identity when adding up. */
  readonly pairs: string;
  /** A counter's or gauge's value; a histogram's count. */
  readonly value: number;
  /** A histogram's sum. */
  readonly sum?: number;
  /** A histogram's counts per bucket (not cumulative), one per bound and the overflow last. */
  readonly buckets?: readonly number[];
};

export type FamilySnapshot = {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** A histogram's bucket upper bounds. */
  readonly bounds?: readonly number[];
  readonly series: readonly SeriesSnapshot[];
};

/** The text exposition format 0.0.4: every family in order, its series in order. */
export function renderSnapshot(families: readonly FamilySnapshot[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escape(f.help, false)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type !== 'histogram') {
      for (const s of f.series) out.push(`${f.name}${braced(s.pairs)} ${formatNumber(s.value)}`);
      continue;
    }
    const les = (f.bounds ?? []).map(formatNumber);
    for (const s of f.series) {
      const prefix = s.pairs === '' ? '' : `${s.pairs},`;
      let cumulative = 0;
      for (let i = 0; i < les.length; i++) {
        cumulative += s.buckets?.[i] ?? 0;
        out.push(`${f.name}_bucket{${prefix}le="${les[i]}"} ${cumulative}`);
      }
      out.push(`${f.name}_bucket{${prefix}le="+Inf"} ${s.value}`);
      out.push(`${f.name}_sum${braced(s.pairs)} ${formatNumber(s.sum ?? 0)}`);
      out.push(`${f.name}_count${braced(s.pairs)} ${s.value}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * Several registries' snapshots added up (built by the same code: worker threads): the same
 * series of the same family adds up, values, sums and buckets alike, gauges too (a proxy's
 * gauges are counts: open connections); families and series in the order first seen. `only`, when given, keeps the families of those types alone (a dead
 * worker's counters carry on, its gauges do not).
 */
export function addSnapshots(all: readonly (readonly FamilySnapshot[])[], only?: ReadonlySet<MetricType>): FamilySnapshot[] {
  type Sum = { value: number; sum: number; buckets: number[] | null; labels: readonly string[] };
  const families = new Map<string, { family: FamilySnapshot; series: Map<string, Sum> }>();
  for (const snapshot of all) {
    for (const f of snapshot) {
      if (only !== undefined && !only.has(f.type)) continue;
      let seen = families.get(f.name);
      if (seen === undefined) families.set(f.name, (seen = { family: f, series: new Map() }));
      for (const s of f.series) {
        const into = seen.series.get(s.pairs);
        if (into === undefined) {
          seen.series.set(s.pairs, { value: s.value, sum: s.sum ?? 0, buckets: s.buckets === undefined ? null : [...s.buckets], labels: s.labels });
          continue;
        }
        into.value += s.value;
        into.sum += s.sum ?? 0;
        if (into.buckets !== null && s.buckets !== undefined) for (let i = 0; i < into.buckets.length; i++) into.buckets[i] += s.buckets[i] ?? 0;
      }
    }
  }
  return [...families.values()].map(({ family, series }) => ({
    ...family,
    series: [...series].map(([pairs, s]) => (family.type === 'histogram' ? { labels: s.labels, pairs, value: s.value, sum: s.sum, buckets: s.buckets ?? [] } : { labels: s.labels, pairs, value: s.value })),
  }));
}

/** The sum of every series of family `name` (0 when there is none). */
export function familyTotal(families: readonly FamilySnapshot[], name: string): number {
  let total = 0;
  for (const f of families) if (f.name === name) for (const s of f.series) total += s.value;
  return total;
}
