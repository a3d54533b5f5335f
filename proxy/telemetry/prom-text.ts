// The Prometheus text format 0.0.4, read back into metric families: what the proxy's own
// registry renders (metrics.ts) becomes the MetricFamily messages the metrics service
// carries (xds/metrics-service.ts). Counters, gauges and histograms; `# TYPE` lines say
// which; a histogram's _bucket/_sum/_count lines fold into one metric per label set.

import type { Metric, MetricFamily, MetricType } from '../../xds/metrics-service.ts';

const TYPES: Readonly<Record<string, MetricType>> = { counter: 'COUNTER', gauge: 'GAUGE', histogram: 'HISTOGRAM' };

/** The families of `text` whose names `keep` accepts (all by default); samples of untyped families are skipped. */
export function parsePrometheusText(text: string, keep: (name: string) => boolean = () => true): MetricFamily[] {
  const families = new Map<string, MetricFamily & { byLabels: Map<string, Metric> }>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      help.set(sp < 0 ? rest : rest.slice(0, sp), sp < 0 ? '' : rest.slice(sp + 1));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (TYPES[type] !== undefined && keep(name)) families.set(name, { name, help: help.get(name) ?? '', type: TYPES[type], metric: [], byLabels: new Map() });
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = parseSample(line);
    if (sample === null) continue;
    const { family, part } = familyOf(sample.name, families);
    if (family === undefined) continue;
    const le = part === 'bucket' ? sample.labels.find((l) => l.name === 'le') : undefined;
    const labels = part === 'bucket' ? sample.labels.filter((l) => l.name !== 'le') : sample.labels;
    const key = labels.map((l) => `${l.name}\u0000${l.value}`).join('\u0001');
    let metric = family.byLabels.get(key);
    if (metric === undefined) {
      metric = family.type === 'HISTOGRAM' ? { label: labels, histogram: { sample_count: 0, sample_sum: 0, bucket: [] } } : { label: labels };
      family.byLabels.set(key, metric);
      family.metric.push(metric);
    }
    if (family.type === 'COUNTER') metric.counter = { value: sample.value };
    else if (family.type === 'GAUGE') metric.gauge = { value: sample.value };
    else if (part === 'count') metric.histogram!.sample_count = sample.value;
    else if (part === 'sum') metric.histogram!.sample_sum = sample.value;
    else if (le !== undefined && le.value !== '+Inf') metric.histogram!.bucket.push({ cumulative_count: sample.value, upper_bound: Number(le.value) });
  }
  return [...families.values()].filter((f) => f.metric.length > 0).map(({ name, help: h, type, metric }) => ({ name, help: h, type, metric }));
}

function familyOf(sample: string, families: ReadonlyMap<string, MetricFamily & { byLabels: Map<string, Metric> }>): { family?: MetricFamily & { byLabels: Map<string, Metric> }; part: 'value' | 'bucket' | 'sum' | 'count' } {
  const direct = families.get(sample);
  if (direct !== undefined && direct.type !== 'HISTOGRAM') return { family: direct, part: 'value' };
  for (const part of ['bucket', 'sum', 'count'] as const) {
    if (!sample.endsWith(`_${part}`)) continue;
    const f = families.get(sample.slice(0, -part.length - 1));
    if (f?.type === 'HISTOGRAM') return { family: f, part };
  }
  return { part: 'value' };
}

/** `name{a="x",b="y\"z"} 12.5` (a timestamp after the value is ignored); null for a line that is not one. */
export function parseSample(line: string): { name: string; labels: { name: string; value: string }[]; value: number } | null {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  const labels: { name: string; value: string }[] = [];
  let rest: string;
  let name: string;
  if (brace >= 0 && (space < 0 || brace < space)) {
    name = line.slice(0, brace);
    let i = brace + 1;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') break;
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return null;
      const label = line.slice(i, eq).trim();
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] !== '\\') value += line[j];
        else {
          j++;
          value += line[j] === 'n' ? '\n' : line[j];
        }
      }
      if (j >= line.length) return null;
      labels.push({ name: label, value });
      i = j + 1;
    }
    rest = line.slice(i + 1).trim();
  } else {
    if (space < 0) return null;
    name = line.slice(0, space);
    rest = line.slice(space + 1).trim();
  }
  const text = rest.split(' ')[0];
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  if (text === '' || Number.isNaN(value)) return null;
  return { name, labels, value };
}
