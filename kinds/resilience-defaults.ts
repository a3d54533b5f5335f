// What a backend gets with no resilience policy, in the proxy model's units, and the words
// a retry policy is written in. Shared by the static config, the control plane's kinds and
// the proxy's xDS translator; no imports, so the proxy's isolate loads no schema library
// for them.

/** Envoy's retry_on conditions, plus the four gRPC status codes. */
export const RETRY_ON = [
  'connect-failure',
  'refused-stream',
  'reset',
  'gateway-error',
  '5xx',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'resource-exhausted',
  'unavailable',
] as const;
export type RetryOn = (typeof RETRY_ON)[number];

/** The methods retried unless a policy says retryNonIdempotent: RFC 9110 §9.2.2, the safe ones included. */
export const IDEMPOTENT_METHODS = Object.freeze(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'] as const);

export const DEFAULT_RETRY = Object.freeze({
  attempts: 2,
  retryOn: Object.freeze(['connect-failure', 'refused-stream', 'reset', 'unavailable', 'cancelled'] as const),
  retriableStatusCodes: Object.freeze([503]),
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  retryNonIdempotent: false,
  bufferLimitBytes: 64 * 1024,
});
export const DEFAULT_BUDGET = Object.freeze({ percent: 20, minRetriesPerSecond: 10, ttlMs: 10_000 });
export const DEFAULT_LIMITS = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxActiveRequests: 1024, maxActiveRetries: 64 });
export const DEFAULT_OUTLIER = Object.freeze({
  intervalMs: 10_000,
  consecutive5xx: 5,
  consecutiveGatewayErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  successRate: null,
});
