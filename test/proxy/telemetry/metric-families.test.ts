// What the proxy sends its control plane (proxy/xds/metrics-reporter.ts) is its registry's
// snapshot as metric families: every counter, gauge and histogram series, label values with
// quotes, backslashes and newlines intact, a histogram's buckets cumulative, one metric per
// label set; and the families survive the metrics service's protobuf encoding
// (xds/metrics-service.ts) unchanged. The control plane's p50/p99 from buckets agree with
// PromQL's histogram_quantile.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantile } from '../../../control-plane/telemetry/metrics-sink.ts';
import { createMetrics } from '../../../proxy/telemetry/metrics.ts';
import { metricFamilies } from '../../../proxy/xds/metrics-reporter.ts';
import { METRICS_SERVICE } from '../../../xds/metrics-service.ts';

test('the registry becomes families, and goes through the wire unchanged', () => {
  const m = createMetrics();
  const requests = m.counter('sluice_requests_total', 'Requests.', ['reporter', 'destination_service', 'response_code']);
  requests.labels('destination', 'web.default.svc.cluster.local', '200').inc(7);
  requests.labels('destination', 'we"b\\x\ny', '503').inc(2);
  m.gauge('sluice_open', 'Open.', ['listener']).labels('main').set(3);
  const d = m.histogram('sluice_request_duration_milliseconds', 'Durations.', ['reporter'], [1, 10, 100]);
  for (const v of [0.5, 5, 5, 50, 500]) d.labels('source').observe(v);
  m.counter('sluice_other_total', 'Not asked for.', []).labels().inc();

  m.counter('sluice_unused_total', 'No series yet: not sent.', ['x']);
  const families = metricFamilies(m.snapshot(), (n) => n !== 'sluice_other_total');
  assert.deepEqual(
    families.map((f) => [f.name, f.type, f.metric.length]),
    [
      ['sluice_requests_total', 'COUNTER', 2],
      ['sluice_open', 'GAUGE', 1],
      ['sluice_request_duration_milliseconds', 'HISTOGRAM', 1],
    ],
  );
  assert.deepEqual(families[0].metric[1], { label: [{ name: 'reporter', value: 'destination' }, { name: 'destination_service', value: 'we"b\\x\ny' }, { name: 'response_code', value: '503' }], counter: { value: 2 } });
  assert.deepEqual(families[2].metric[0].histogram, { sample_count: 5, sample_sum: 560.5, bucket: [{ cumulative_count: 1, upper_bound: 1 }, { cumulative_count: 3, upper_bound: 10 }, { cumulative_count: 4, upper_bound: 100 }] });

  const d2 = METRICS_SERVICE.StreamMetrics;
  const back = d2.requestDeserialize(d2.requestSerialize({ identifier: { node: { id: 'web-1.default' } }, envoy_metrics: families }));
  assert.equal(back.identifier?.node.id, 'web-1.default');
  assert.deepEqual(back.envoy_metrics, families);
});

test('quantiles from buckets as histogram_quantile computes them', () => {
  // 100 requests: 50 up to 10 ms, 90 up to 100 ms, all up to 1000 ms.
  const b = new Map([
    [10, 50],
    [100, 90],
    [1000, 100],
    [Infinity, 100],
  ]);
  assert.equal(quantile(0.5, b), 10);
  assert.equal(quantile(0.9, b), 100);
  assert.equal(quantile(0.99, b), 910);
  assert.equal(quantile(0.5, new Map([[Infinity, 0]])), null);
  // Everything above the top finite bound: that bound.
  assert.equal(quantile(0.99, new Map([[100, 0], [Infinity, 5]])), 100);
});
