// What a proxy with several workers (--workers N) shows as one: every worker's view of its
// backends folded into one. Their registries add up as snapshots (kinds/metrics-snapshot.ts).

import type { ClusterStatus, EndpointStatus } from '../upstream/index.ts';

/**
 * One view of the backends from every worker's: what is counted adds up (requests, retries,
 * overflows, connect failures); an endpoint is unhealthy when any worker finds it so (each
 * runs its own health checks and outlier detection, so some traffic avoids it), and its
 * ejections are the most any worker made.
 */
export function mergeClusters(views: readonly (readonly ClusterStatus[])[]): ClusterStatus[] {
  const byName = new Map<string, ClusterStatus>();
  for (const view of views) {
    for (const c of view) {
      const seen = byName.get(c.name);
      if (seen === undefined) {
        byName.set(c.name, { ...c, endpoints: c.endpoints.map((e) => ({ ...e })) });
        continue;
      }
      seen.activeRequests += c.activeRequests;
      seen.activeRetries += c.activeRetries;
      seen.retries += c.retries;
      seen.retriesRefused += c.retriesRefused;
      seen.overflows += c.overflows;
      for (const e of c.endpoints) {
        const mine = seen.endpoints.find((m) => m.address === e.address && m.port === e.port);
        if (mine === undefined) seen.endpoints.push({ ...e });
        else addEndpoint(mine, e);
      }
    }
  }
  return [...byName.values()];
}

function addEndpoint(into: EndpointStatus, e: EndpointStatus): void {
  into.activeRequests += e.activeRequests;
  into.totalRequests += e.totalRequests;
  into.connectFailures += e.connectFailures;
  into.ejections = Math.max(into.ejections, e.ejections);
  if (e.health === 'unhealthy' && into.health === 'healthy') {
    into.health = 'unhealthy';
    if (e.healthReason !== undefined) into.healthReason = e.healthReason;
  }
}
