// The Grafana dashboards in deploy/grafana/ against what the code exports: every metric a
// query reads is one a running proxy's /stats/prometheus or a running control plane's
// /metrics shows (histogram _bucket/_sum/_count included), and every label a matcher, a
// `by (...)` or a variable query names is one that metric carries. Label names come from
// the live series and from the registries' own descriptions (a family with no series yet
// shows no labels in the text).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createControlPlaneMetrics } from '../../control-plane/telemetry/metrics.ts';
import { createProxyMetrics } from '../../proxy/telemetry/metrics.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { readExpression, readLabelValues, variablesIn, type ExpressionReads } from '../helpers/promql-names.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const DIR = new URL('../../deploy/grafana/', import.meta.url).pathname;
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

type Dashboard = {
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
  panels: { type: string; title: string; targets?: { expr: string }[]; panels?: unknown[] }[];
};
const dashboards = FILES.map((f) => ({ file: f, board: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard }));

/** Metric families in Prometheus text, with the label names their series show. */
function families(text: string): Map<string, { type: string; labels: Set<string> }> {
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) out.set(type[1], { type: type[2], labels: new Set() });
  }
  for (const line of text.split('\n')) {
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} \S+$/.exec(line);
    if (series === null) continue;
    const name = series[1].replace(/_(bucket|sum|count)$/, (suffix, _s, _i, whole) => (out.has(whole.slice(0, -suffix.length)) ? '' : suffix));
    for (const m of series[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:\\.|[^"\\])*"/g)) if (m[1] !== 'le') out.get(name)?.labels.add(m[1]);
  }
  return out;
}

let exported: Map<string, Set<string>>;
let up: Upstream;
let proxy: ProxyProcess;
let cp: ControlPlaneProcess;

before(async () => {
  up = await startUpstream('up');
  proxy = await startProxy(singleBackendConfig(up.port));
  // One request, so the per-backend and per-endpoint families have series to show their labels.
  await new Promise<void>((resolve, reject) => http.get({ host: '127.0.0.1', port: proxy.ports.main, path: '/' }, (res) => res.resume().on('end', resolve)).on('error', reject));
  cp = await startControlPlane();
  const proxyText = await (await fetch(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).text();
  const cpText = await (await fetch(`${cp.url}/metrics`)).text();
  const live = new Map([...families(proxyText), ...families(cpText)]);
  const described = [...createProxyMetrics().describe(), ...createControlPlaneMetrics().describe()];
  exported = new Map();
  for (const [name, f] of live) {
    const labels = new Set([...f.labels, ...TARGET_LABELS, ...(described.find((d) => d.name === name)?.labels ?? [])]);
    exported.set(name, labels);
    if (f.type === 'histogram') {
      exported.set(`${name}_bucket`, new Set([...labels, 'le']));
      exported.set(`${name}_sum`, labels);
      exported.set(`${name}_count`, labels);
    }
  }
});

after(async () => {
  await proxy?.stop();
  await up?.close();
  await cp?.stop();
});

/** Every problem with what `reads` names, each prefixed by `where`. */
function problems(where: string, reads: ExpressionReads): string[] {
  const out: string[] = [];
  for (const s of reads.selectors) {
    const labels = exported.get(s.metric);
    if (labels === undefined) out.push(`${where}: ${s.metric} is not exported by a proxy or the control plane`);
    else for (const l of s.labels) if (!labels.has(l)) out.push(`${where}: ${s.metric} has no label ${l}`);
  }
  for (const g of reads.groupings) {
    for (const m of g.metrics) for (const l of g.labels) if (exported.get(m)?.has(l) === false) out.push(`${where}: by/on (${l}) over ${m}, which has no label ${l}`);
  }
  return out;
}

describe('Grafana dashboards (deploy/grafana/)', () => {
  test('are the four the README names, each valid dashboard JSON with a unique uid, panels with targets[].expr, and a Prometheus datasource variable', () => {
    assert.deepEqual(FILES, ['control-plane.json', 'mesh-overview.json', 'service.json', 'workload.json']);
    assert.equal(new Set(dashboards.map((d) => d.board.uid)).size, 4);
    for (const { file, board } of dashboards) {
      assert.equal(typeof board.title, 'string', file);
      assert.ok(board.templating.list.some((v) => v.type === 'datasource' && v.name === 'datasource'), `${file}: a datasource variable`);
      const withTargets = board.panels.filter((p) => p.type !== 'row');
      assert.ok(withTargets.length >= 6, `${file}: panels`);
      for (const p of withTargets) assert.ok(p.targets !== undefined && p.targets.length > 0 && p.targets.every((t) => typeof t.expr === 'string' && t.expr !== ''), `${file}: ${p.title} has targets[].expr`);
    }
  });

  test('the service and workload dashboards are templated by namespace and service or workload, and use no variable they do not define', () => {
    const vars = (file: string) => dashboards.find((d) => d.file === file)!.board.templating.list.map((v) => v.name);
    assert.ok(['namespace', 'service'].every((v) => vars('service.json').includes(v)), vars('service.json').join());
    assert.ok(['namespace', 'workload'].every((v) => vars('workload.json').includes(v)), vars('workload.json').join());
    for (const { file, board } of dashboards) {
      const defined = new Set(board.templating.list.map((v) => v.name));
      const text = JSON.stringify(board.panels) + JSON.stringify(board.templating.list.map((v) => v.query ?? ''));
      for (const v of variablesIn(text)) assert.ok(defined.has(v), `${file}: $${v} is used and not defined`);
    }
  });

  test('every metric and label a query names is one the proxy or the control plane exports', () => {
    const found: string[] = [];
    let checked = 0;
    for (const { file, board } of dashboards) {
      for (const p of board.panels) {
        for (const t of p.targets ?? []) {
          found.push(...problems(`${file} "${p.title}" ${t.expr}`, readExpression(t.expr)));
          checked++;
        }
      }
      for (const v of board.templating.list) {
        if (v.type !== 'query') continue;
        const q = typeof v.query === 'string' ? v.query : v.query!.query;
        found.push(...problems(`${file} variable $${v.name}`, readLabelValues(q)));
        checked++;
      }
    }
    assert.ok(checked > 50, `${checked} queries checked`);
    assert.deepEqual(found, []);
  });

  test('the checker itself catches a misspelt metric, a label the metric lacks, and a grouping label the metric lacks', () => {
    assert.deepEqual(problems('q', readExpression('sum(rate(sluice_request_total[5m]))')), ['q: sluice_request_total is not exported by a proxy or the control plane']);
    assert.deepEqual(problems('q', readExpression('sluice_tcp_sent_bytes_total{response_code="200"}')), ['q: sluice_tcp_sent_bytes_total has no label response_code']);
    assert.deepEqual(problems('q', readExpression('histogram_quantile(0.99, sum by (flag, le) (rate(sluice_request_duration_milliseconds_bucket[$__rate_interval])))')), [
      'q: by/on (flag) over sluice_request_duration_milliseconds_bucket, which has no label flag',
    ]);
    assert.deepEqual(problems('q', readExpression('sum by (destination_service, le) (rate(sluice_request_bytes_bucket{reporter="source"}[1m])) / sum(sluice_cp_resources{kind="Service"})')), []);
    assert.throws(() => readExpression('histogram_quantil(0.9, x)'), /not a PromQL function/);
  });
});
