// Cluster.circuit_breakers is shared: RetryPolicy sets the retry budget, CircuitBreakerPolicy
// the limits, and a Sluice proxy (like gRPC) reads one threshold, of the DEFAULT priority.
// Each policy merges its fields into that one threshold, whichever runs first.

import type { Obj } from '../generate/envoy.ts';

/** The cluster's one threshold (priority DEFAULT, the enum's zero, so left unset), made when missing. */
export function defaultThreshold(cluster: Obj): Obj {
  const breakers = (cluster.circuit_breakers ??= { thresholds: [] }) as { thresholds: Obj[] };
  if (breakers.thresholds.length === 0) breakers.thresholds.push({});
  return breakers.thresholds[0]!;
}
