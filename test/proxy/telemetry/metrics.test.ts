// The Prometheus registry: series identity for the hot path, and the exact text format 0.0.4.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetrics, createProxyMetrics, statusClass } from '../../../proxy/telemetry/index.ts';

describe('metrics registry', () => {
  test('returns the same series object for the same label values', () => {
    const m = createMetrics();
    const c = m.counter('x_total', 'x', ['a', 'b']);
    const s = c.labels('1', '2');
    assert.equal(c.labels('1', '2'), s);
    assert.notEqual(c.labels('1', '3'), s);
    assert.notEqual(c.labels('2', '2'), s);
    s.inc();
    c.labels('1', '2').inc(4);
    assert.equal(s.get(), 5);
  });

  test('keeps values that would collide when joined apart', () => {
    const m = createMetrics();
    const c = m.counter('x_total', 'x', ['a', 'b']);
    c.labels('a,b', 'c').inc();
    c.labels('a', 'b,c').inc(2);
    assert.equal(c.labels('a,b', 'c').get(), 1);
    assert.equal(c.labels('a', 'b,c').get(), 2);
  });

  test('renders a histogram with cumulative buckets, +Inf, _sum and _count', () => {
    const m = createMetrics();
    const h = m.histogram('sluice_request_duration_ms', 'Request duration.', ['listener', 'route', 'backend']);
    const s = h.labels('main', 'r', 'b');
    for (const v of [0.2, 0.5, 3, 99.5, 20000]) s.observe(v);
    const les = ['0.5', '1', '2', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000'];
    const cumulative = [2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4];
    const golden = [
      '# HELP sluice_request_duration_ms Request duration.',
      '# TYPE sluice_request_duration_ms histogram',
      ...les.map((le, i) => `sluice_request_duration_ms_bucket{listener="main",route="r",backend="b",le="${le}"} ${cumulative[i]}`),
      'sluice_request_duration_ms_bucket{listener="main",route="r",backend="b",le="+Inf"} 5',
      'sluice_request_duration_ms_sum{listener="main",route="r",backend="b"} 20103.2',
      'sluice_request_duration_ms_count{listener="main",route="r",backend="b"} 5',
      '',
    ].join('\n');
    assert.equal(m.render(), golden);
  });

  test('counts a value equal to a bucket bound in that bucket and drops NaN', () => {
    const m = createMetrics();
    const s = m.histogram('h', 'h', [], [1, 2]).labels();
    s.observe(1);
    s.observe(2);
    s.observe(Number.NaN);
    assert.equal(s.count, 2);
    assert.match(m.render(), /^h_bucket\{le="1"\} 1$/m);
    assert.match(m.render(), /^h_bucket\{le="2"\} 2$/m);
  });

  test('renders counters and gauges with HELP, TYPE and escaped label values', () => {
    const m = createMetrics();
    m.counter('c_total', 'Help with \\ and\nnewline.', ['v']).labels('say "hi"\\\n').inc(3);
    const g = m.gauge('g', 'A gauge.', ['l']).labels('x');
    g.inc(5);
    g.dec(2);
    g.inc(-1);
    m.gauge('unlabelled', 'Starts at zero.', []);
    assert.equal(
      m.render(),
      [
        '# HELP c_total Help with \\\\ and\\nnewline.',
        '# TYPE c_total counter',
        'c_total{v="say \\"hi\\"\\\\\\n"} 3',
        '# HELP g A gauge.',
        '# TYPE g gauge',
        'g{l="x"} 2',
        '# HELP unlabelled Starts at zero.',
        '# TYPE unlabelled gauge',
        'unlabelled 0',
        '',
      ].join('\n'),
    );
  });

  test('ignores negative counter increments and renders a family with no series as HELP and TYPE only', () => {
    const m = createMetrics();
    const c = m.counter('c_total', 'c', ['a']);
    assert.equal(m.render(), '# HELP c_total c\n# TYPE c_total counter\n');
    c.labels('x').inc(-4);
    c.labels('x').inc(Number.NaN);
    assert.equal(c.labels('x').get(), 0);
  });

  test('refuses bad names, duplicate families and non-string label values', () => {
    const m = createMetrics();
    m.counter('ok_total', 'ok', ['a']);
    assert.throws(() => m.counter('ok_total', 'again', []));
    assert.throws(() => m.counter('bad-name', 'x', []));
    assert.throws(() => m.counter('x_total', 'x', ['__reserved']));
    assert.throws(() => m.histogram('h', 'h', ['le']));
    assert.throws(() => m.histogram('h2', 'h', [], [2, 1]));
    const c = m.counter('y_total', 'y', ['a', 'b']);
    assert.throws(() => (c.labels as (...v: unknown[]) => unknown)('a'), TypeError);
    assert.throws(() => (c.labels as (...v: unknown[]) => unknown)(1, 'b'), TypeError);
    assert.doesNotMatch(m.render(), /undefined/);
  });

  test('maps statuses to their class and anything else to "other"', () => {
    assert.deepEqual([101, 200, 204, 302, 404, 499, 503, 599].map(statusClass), ['1xx', '2xx', '2xx', '3xx', '4xx', '4xx', '5xx', '5xx']);
    assert.deepEqual([0, 99, 600, Number.NaN].map(statusClass), ['other', 'other', 'other', 'other']);
  });
});

describe('bound and collected families', () => {
  test('renders the bound labels once per binding, then the free ones, and finds the same series again', () => {
    const m = createMetrics();
    const f = m.boundCounter('x_total', 'x', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], ['code']);
    const values = ['1', '2', '3', '4', '5', '6', '7', 'say "hi"'];
    const bound = f.bind(values);
    assert.equal(f.bind([...values]), bound, 'one binding per value set');
    bound.labels('200').inc();
    bound.labels('200').inc();
    f.bind(values.map((v) => `${v}x`)).labels('503').inc();
    const lines = m.render().split('\n');
    assert.ok(lines.includes('x_total{a="1",b="2",c="3",d="4",e="5",f="6",g="7",h="say \\"hi\\"",code="200"} 2'), m.render());
    assert.ok(lines.includes('x_total{a="1x",b="2x",c="3x",d="4x",e="5x",f="6x",g="7x",h="say \\"hi\\"x",code="503"} 1'), m.render());
    assert.throws(() => f.bind(['1']), /bind takes 8 values/);
    assert.deepEqual(m.describe(), [{ name: 'x_total', type: 'counter', labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'code'] }]);
  });

  test('reads a collected family at each render, so a series it stops yielding is gone', () => {
    const m = createMetrics();
    let rows: [string[], number][] = [[['z1'], 2], [['z2'], 1]];
    m.collected('proxies', 'connected', 'gauge', ['zone'], () => rows);
    assert.match(m.render(), /^proxies\{zone="z1"\} 2\nproxies\{zone="z2"\} 1$/m);
    rows = [[['z2'], 0]];
    assert.doesNotMatch(m.render(), /z1/);
  });
});

describe('proxy metrics', () => {
  test('register every sluice_ family with its label names', () => {
    const p = createProxyMetrics();
    p.requests.labels('main', 'r', 'b', statusClass(200)).inc();
    p.requestDuration.labels('main', 'r', 'b').observe(3);
    p.downstreamConnectionsActive.labels('main').inc();
    p.downstreamConnections.labels('main').inc();
    p.upstreamRequests.labels('b', '127.0.0.1:1', '5xx').inc();
    p.localReplies.labels('main', 'UH').inc();
    p.bytesReceived.labels('main').inc(10);
    p.bytesSent.labels('main').inc(20);
    p.configReloads.labels('rejected').inc();
    p.h2Goaway.labels('main', 'rapid_reset').inc();
    const text = p.render();
    for (const line of [
      '# TYPE sluice_route_requests_total counter',
      'sluice_route_requests_total{listener="main",route="r",backend="b",status_class="2xx"} 1',
      '# TYPE sluice_request_duration_ms histogram',
      'sluice_request_duration_ms_count{listener="main",route="r",backend="b"} 1',
      '# TYPE sluice_downstream_connections_active gauge',
      'sluice_downstream_connections_active{listener="main"} 1',
      'sluice_downstream_connections_total{listener="main"} 1',
      'sluice_upstream_requests_total{backend="b",endpoint="127.0.0.1:1",status_class="5xx"} 1',
      'sluice_local_replies_total{listener="main",flag="UH"} 1',
      'sluice_bytes_received_total{listener="main"} 10',
      'sluice_bytes_sent_total{listener="main"} 20',
      'sluice_config_reloads_total{result="rejected"} 1',
      'sluice_h2_goaway_total{listener="main",reason="rapid_reset"} 1',
    ]) {
      assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    }
  });
});
