// Resilience state in Prometheus text, read from the clusters at scrape time: the counts
// already live on each backend (the circuit breaker reads them), so the request path does
// no extra work for metrics.

import { endpointKey, type ClusterStatus } from '../upstream/index.ts';

type Metric = { name: string; help: string; type: 'counter' | 'gauge' };

const BACKEND: readonly [Metric, (c: ClusterStatus) => number][] = [
  [{ name: 'sluice_upstream_retries_total', help: 'Retries sent to a backend.', type: 'counter' }, (c) => c.retries],
  [{ name: 'sluice_upstream_retries_refused_total', help: 'Retries the retry budget or maxActiveRetries did not allow.', type: 'counter' }, (c) => c.retriesRefused],
  [{ name: 'sluice_upstream_overflow_total', help: 'Requests answered 503 UO by a backend circuit breaker.', type: 'counter' }, (c) => c.overflows],
  [{ name: 'sluice_upstream_requests_active', help: 'Requests in flight to a backend.', type: 'gauge' }, (c) => c.activeRequests],
];

const ENDPOINT: readonly [Metric, (e: ClusterStatus['endpoints'][number]) => number][] = [
  [{ name: 'sluice_endpoint_healthy', help: '1 when the endpoint takes traffic, 0 when ejected or failing health checks.', type: 'gauge' }, (e) => (e.health === 'healthy' ? 1 : 0)],
  [{ name: 'sluice_endpoint_ejections', help: 'Outlier ejections of the endpoint that still count toward the next ejection time.', type: 'gauge' }, (e) => e.ejections],
];

export function clusterMetricsText(clusters: readonly ClusterStatus[]): string {
  const out: string[] = [];
  for (const [m, value] of BACKEND) {
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const c of clusters) out.push(`${m.name}{backend="${c.name}"} ${value(c)}`);
  }
  for (const [m, value] of ENDPOINT) {
    out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
    for (const c of clusters) for (const e of c.endpoints) out.push(`${m.name}{backend="${c.name}",endpoint="${endpointKey(e)}"} ${value(e)}`);
  }
  return `${out.join('\n')}\n`;
}
