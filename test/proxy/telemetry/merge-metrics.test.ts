// What a --workers proxy shows as one: every thread's registry added up (kinds/metrics-snapshot.ts)
// and every thread's backends folded into one view (telemetry/merge-metrics.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProxyMetrics } from '../../../proxy/telemetry/index.ts';
import { addSnapshots, familyTotal, renderSnapshot } from '../../../kinds/metrics-snapshot.ts';
import { mergeClusters } from '../../../proxy/telemetry/merge-metrics.ts';
import type { ClusterStatus } from '../../../proxy/upstream/index.ts';

test('the registries of two threads add up: counters, histogram buckets, sums and counts, open connections', () => {
  const [a, b, both] = [createProxyMetrics(), createProxyMetrics(), createProxyMetrics()];
  const feed = (m: ReturnType<typeof createProxyMetrics>, route: string, ms: number, conns: number) => {
    m.requests.labels('main', route, 'up', '2xx').inc();
    m.requestDuration.labels('main', route, 'up').observe(ms);
    m.downstreamConnectionsActive.labels('main').inc(conns);
  };
  feed(a, 'all', 3, 2);
  feed(a, 'all', 40, 0);
  feed(b, 'all', 700, 1);
  feed(b, 'other', 1.5, 0);
  for (const [route, ms, conns] of [['all', 3, 2], ['all', 40, 0], ['all', 700, 1], ['other', 1.5, 0]] as const) feed(both, route, ms, conns);
  // One registry fed everything renders what the two summed do, series for series (the order of first sight aside).
  const lines = (t: string) => t.split('\n').sort();
  const summed = addSnapshots([a.snapshot(), b.snapshot()]);
  assert.deepEqual(lines(renderSnapshot(summed)), lines(both.render()));
  assert.equal(familyTotal(summed, 'sluice_route_requests_total'), 4);
  assert.equal(familyTotal(a.snapshot(), 'sluice_route_requests_total'), 2);
  // A snapshot is plain data: what a worker thread posts (a structured clone) adds up the same.
  assert.deepEqual(lines(renderSnapshot(addSnapshots([structuredClone(a.snapshot()), structuredClone(b.snapshot())]))), lines(both.render()));
  // And the registry's own text is its snapshot's.
  assert.equal(renderSnapshot(a.snapshot()), a.render());
});

test('a dead thread carries its counters and histograms on, not its gauges', () => {
  const m = createProxyMetrics();
  m.requests.labels('main', 'all', 'up', '2xx').inc(5);
  m.downstreamConnectionsActive.labels('main').inc(3);
  const carried = addSnapshots([m.snapshot()], new Set(['counter', 'histogram']));
  assert.equal(familyTotal(carried, 'sluice_route_requests_total'), 5);
  assert.doesNotMatch(renderSnapshot(carried), /sluice_downstream_connections_active/);
  assert.equal(renderSnapshot(addSnapshots([])), '');
});

test("the backends' counts add up; an endpoint one thread finds unhealthy is shown unhealthy", () => {
  const cluster = (active: number, total: number, health: 'healthy' | 'unhealthy'): ClusterStatus => ({
    name: 'up',
    protocol: 'http1',
    loadBalancer: 'round_robin',
    activeRequests: active,
    activeRetries: 0,
    retries: 1,
    retriesRefused: 0,
    overflows: 0,
    limits: { maxConnections: 1, maxPendingRequests: 1, maxActiveRequests: 1, maxActiveRetries: 1 },
    endpoints: [{ address: '127.0.0.1', port: 1, weight: 1, health, ...(health === 'unhealthy' ? { healthReason: 'outlier' } : {}), priority: 0, ejections: health === 'unhealthy' ? 1 : 0, activeRequests: active, totalRequests: total, connectFailures: 0 }],
  });
  const [merged] = mergeClusters([[cluster(1, 10, 'healthy')], [cluster(2, 5, 'unhealthy')]]);
  assert.equal(merged.activeRequests, 3);
  assert.equal(merged.retries, 2);
  assert.deepEqual([merged.endpoints[0].totalRequests, merged.endpoints[0].health, merged.endpoints[0].healthReason, merged.endpoints[0].ejections], [15, 'unhealthy', 'outlier', 1]);
});
