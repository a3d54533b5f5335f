// Least request, the default policy. With equal weights it is Envoy's power of two choices:
// two distinct random endpoints, the one with fewer requests in flight wins. That avoids
// both the herd a global "least loaded" scan causes and the O(n) scan itself. With unequal
// weights both candidates are drawn in proportion to weight and compared on requests per
// unit of weight, so an idle backend splits by weight (ties go to the first draw) and a
// busy one steers toward Envoy's effective weight, weight / (active requests + 1), without
// the EDF heap Envoy rebuilds for it.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import type { LoadBalancer, LoadBalancerDeps, PickRequest } from './registry.ts';

/** Random draws for a candidate before falling back to a linear pass over the endpoints. */
const DRAWS = 4;

export function createLeastRequest(endpoints: readonly EndpointState[], _config: Backend, deps: LoadBalancerDeps): LoadBalancer {
  const n = endpoints.length;
  // Weights as of construction: a reload updates EndpointState.weight in place before it
  // builds the next balancer, and this one must stay consistent until it is dropped.
  const weights = Float64Array.from(endpoints, (e) => e.weight);
  const equal = weights.every((w) => w === weights[0]);
  // Running totals of weight, for an O(log n) weighted draw by binary search.
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cumulative[i] = total += weights[i];

  const usable = (i: number, tried: readonly EndpointState[] | null) =>
    endpoints[i].healthy && (tried === null || !tried.includes(endpoints[i]));

  function randomIndex(): number {
    if (equal) return Math.min(n - 1, Math.floor(deps.random() * n));
    const r = deps.random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] <= r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A usable endpoint's index other than `exclude`, drawn by weight; -1 when there is none. */
  function draw(exclude: number, tried: readonly EndpointState[] | null): number {
    for (let k = 0; k < DRAWS; k++) {
      const i = randomIndex();
      if (i !== exclude && usable(i, tried)) return i;
    }
    // Draws keep missing when few endpoints are usable: draw among exactly those instead.
    let sum = 0;
    for (let i = 0; i < n; i++) if (i !== exclude && usable(i, tried)) sum += weights[i];
    if (sum === 0) return -1;
    let r = deps.random() * sum;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (i === exclude || !usable(i, tried)) continue;
      last = i;
      r -= weights[i];
      if (r < 0) return i;
    }
    return last;
  }

  function choose(tried: readonly EndpointState[] | null): EndpointState | undefined {
    const a = draw(-1, tried);
    if (a === -1) return undefined;
    const b = draw(a, tried);
    if (b === -1) return endpoints[a];
    // b.active / b.weight < a.active / a.weight, without the division.
    return endpoints[b].activeRequests * weights[a] < endpoints[a].activeRequests * weights[b] ? endpoints[b] : endpoints[a];
  }

  return {
    pick(req: PickRequest) {
      if (req.tried !== null && req.tried.length > 0) return choose(req.tried) ?? choose(null);
      return choose(null);
    },
  };
}
