// The telemetry folder, seen from outside: the Prometheus registry with the proxy's metrics,
// the batched JSON access log, and the step that feeds both once a request is over.

export { createAccessLog, type AccessLog, type AccessLogEntry, type AccessLogOptions } from './access-log.ts';
export {
  createMetrics,
  createProxyMetrics,
  DURATION_BUCKETS_MS,
  MAX_LABELS,
  statusClass,
  type Counter,
  type Family,
  type Gauge,
  type Histogram,
  type LabelValues,
  type Metrics,
  type ProxyMetrics,
} from './metrics.ts';
export { createRequestObserver, type RequestObserver } from './request-observer.ts';
