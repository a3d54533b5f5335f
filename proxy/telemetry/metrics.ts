// The proxy's own metrics on the shared registry (kinds/metrics-registry.ts): per listener,
// route and backend for an operator of this proxy, and Istio's standard set (mesh-metrics.ts)
// for dashboards and progressive delivery.

import { createMetrics, type Counter, type Family, type Gauge, type Histogram, type Metrics } from '../../kinds/metrics-registry.ts';
import { registerMeshMetrics } from './mesh-metrics.ts';

export {
  createMetrics,
  DURATION_BUCKETS_MS,
  MAX_LABELS,
  statusClass,
  type BoundFamily,
  type Counter,
  type Family,
  type Gauge,
  type Histogram,
  type LabelValues,
  type Metrics,
} from '../../kinds/metrics-registry.ts';

type MeshFamilies = ReturnType<typeof registerMeshMetrics>;

// --- the proxy's metrics ---

export type ProxyMetrics = {
  readonly requests: Family<Counter, [listener: string, route: string, backend: string, statusClass: string]>;
  /** Istio's standard metrics (mesh-metrics.ts), which the request observer feeds through a MeshRecorder. */
  readonly mesh: MeshFamilies;
  readonly requestDuration: Family<Histogram, [listener: string, route: string, backend: string]>;
  readonly downstreamConnectionsActive: Family<Gauge, [listener: string]>;
  readonly downstreamConnections: Family<Counter, [listener: string]>;
  readonly upstreamRequests: Family<Counter, [backend: string, endpoint: string, statusClass: string]>;
  readonly localReplies: Family<Counter, [listener: string, flag: string]>;
  readonly bytesReceived: Family<Counter, [listener: string]>;
  readonly bytesSent: Family<Counter, [listener: string]>;
  readonly configReloads: Family<Counter, [result: 'ok' | 'rejected']>;
  readonly h2Goaway: Family<Counter, [listener: string, reason: string]>;
  readonly mtlsRefused: Family<Counter, [listener: string]>;
  render(): string;
  snapshot: Metrics['snapshot'];
  describe: Metrics['describe'];
};

export function createProxyMetrics(): ProxyMetrics {
  const m = createMetrics();
  return {
    requests: m.counter('sluice_route_requests_total', 'HTTP requests finished downstream, by listener, route, backend and status class.', ['listener', 'route', 'backend', 'status_class']),
    mesh: registerMeshMetrics(m),
    requestDuration: m.histogram('sluice_request_duration_ms', 'Time from the first request byte to the last response byte, in milliseconds.', ['listener', 'route', 'backend']),
    downstreamConnectionsActive: m.gauge('sluice_downstream_connections_active', 'Downstream connections open now.', ['listener']),
    downstreamConnections: m.counter('sluice_downstream_connections_total', 'Downstream connections accepted.', ['listener']),
    upstreamRequests: m.counter('sluice_upstream_requests_total', 'Requests sent to an upstream endpoint, by status class of its answer.', ['backend', 'endpoint', 'status_class']),
    localReplies: m.counter('sluice_local_replies_total', 'Responses (or refusals) the proxy produced itself, by Envoy response flag.', ['listener', 'flag']),
    bytesReceived: m.counter('sluice_bytes_received_total', 'Bytes received from downstream clients.', ['listener']),
    bytesSent: m.counter('sluice_bytes_sent_total', 'Bytes sent to downstream clients.', ['listener']),
    configReloads: m.counter('sluice_config_reloads_total', 'Config reloads, applied ("ok") or refused ("rejected").', ['result']),
    h2Goaway: m.counter('sluice_h2_goaway_total', 'HTTP/2 GOAWAY frames sent to downstream clients, by reason.', ['listener', 'reason']),
    mtlsRefused: m.counter(
      'sluice_downstream_mtls_refused_total',
      'Downstream connections refused by mTLS: plaintext on a STRICT listener, a failed handshake, or a certificate without one SPIFFE ID.',
      ['listener'],
    ),
    render: m.render,
    snapshot: m.snapshot,
    describe: m.describe,
  };
}

