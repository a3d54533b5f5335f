// Priority failover (Envoy's priority load). Endpoints are grouped by `priority`, each
// group gets its own balancer of the backend's policy, and a level keeps all its traffic
// while at least `failoverThreshold`% of it is healthy. Below that it keeps a share in
// proportion to its health and spills the rest to the next level, so a half-healthy zone
// is not hammered with all of the traffic it can no longer carry.
//
// A retry that asks to avoid the levels it already tried (Envoy's previous_priorities retry
// priority) is balanced as if those levels had no healthy endpoint: it spills to the next
// level at once, even while the tried level still looks healthy (its endpoints failing but
// not ejected yet). When that leaves no healthy level, the tried ones count again, as in Envoy.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import { mix32 } from './hash.ts';
import type { LoadBalancer, LoadBalancerDeps, LoadBalancerFactory, PickRequest } from './registry.ts';

type Level = { readonly endpoints: readonly EndpointState[]; readonly balancer: LoadBalancer };

/** Envoy's overprovisioning factor 1.4, as a threshold: 1 / 1.4 ≈ 0.71. */
const DEFAULT_THRESHOLD_PERCENT = 71;

export function hasSeveralPriorities(endpoints: readonly EndpointState[]): boolean {
  return endpoints.some((e) => e.endpoint.priority !== endpoints[0].endpoint.priority);
}

export function createLocality(
  factory: LoadBalancerFactory,
  endpoints: readonly EndpointState[],
  config: Backend,
  deps: LoadBalancerDeps,
): LoadBalancer {
  const priorities = [...new Set(endpoints.map((e) => e.endpoint.priority))].sort((a, b) => a - b);
  const levels: Level[] = priorities.map((p) => {
    const group = endpoints.filter((e) => e.endpoint.priority === p);
    return { endpoints: group, balancer: factory(group, config, deps) };
  });
  const threshold = (config.failoverThreshold ?? DEFAULT_THRESHOLD_PERCENT) / 100;
  // Reused on every pick: health is read live, so loads are recomputed each time (O(endpoints)).
  const loads = new Float64Array(levels.length);

  return {
    pick(req: PickRequest) {
      const excluded = req.avoidTriedPriorities === true && req.tried !== null ? triedLevels(levels, req.tried) : 0;
      if (!computeLoads(levels, threshold, loads, excluded) && (excluded === 0 || !computeLoads(levels, threshold, loads, 0))) return undefined;
      // A hashed request picks its level by its hash, as Envoy does, so a key stays on one
      // level (and one endpoint) while health holds still. Re-mixed, because the level's own
      // ring or table would otherwise see only the hashes of one slice of the key space.
      let r = req.hash === undefined ? deps.random() : mix32(req.hash) / 2 ** 32;
      let chosen = levels.length - 1;
      for (let i = 0; i < levels.length; i++) {
        r -= loads[i];
        if (r < 0) {
          chosen = i;
          break;
        }
      }
      // A level with load has a healthy endpoint, so its balancer normally answers; going on
      // to the other levels means no corner of a policy turns into a 503 while one is healthy.
      // A retry whose level has nothing untried left moves on to the next level (failover
      // for the retry); a level's balancer hands back a tried endpoint only as a last resort.
      let fallback: EndpointState | undefined;
      for (let k = 0; k < levels.length; k++) {
        const picked = levels[(chosen + k) % levels.length].balancer.pick(req);
        if (picked === undefined) continue;
        if (req.tried === null || !req.tried.includes(picked)) return picked;
        fallback ??= picked;
      }
      return fallback;
    },
  };
}

/** A bit per level (by index, up to 32) that one of `tried` belongs to. */
function triedLevels(levels: readonly Level[], tried: readonly EndpointState[]): number {
  let bits = 0;
  for (const e of tried) {
    const i = levels.findIndex((l) => l.endpoints.includes(e));
    if (i >= 0 && i < 32) bits |= 1 << i;
  }
  return bits;
}

/** Fills `loads` with each level's share of traffic, the `excluded` levels (bits) counted as unhealthy; false when nothing is healthy. */
function computeLoads(levels: readonly Level[], threshold: number, loads: Float64Array, excluded: number): boolean {
  let remaining = 1;
  for (let i = 0; i < levels.length; i++) {
    const health = (excluded & (1 << i)) !== 0 ? 0 : healthyShare(levels[i].endpoints);
    const scaled = threshold > 0 ? health / threshold : health > 0 ? 1 : 0;
    loads[i] = Math.min(remaining, scaled);
    remaining -= loads[i];
  }
  const assigned = 1 - remaining;
  if (assigned <= 0) return false;
  // As Envoy does: when every level together is short of full health, the traffic still
  // has to go somewhere, so the shares are scaled up to sum to 1.
  if (remaining > 0) for (let i = 0; i < levels.length; i++) loads[i] /= assigned;
  return true;
}

// Weighted, since losing a heavy endpoint loses more of a level's capacity than a light one.
function healthyShare(endpoints: readonly EndpointState[]): number {
  let healthy = 0;
  let total = 0;
  for (const e of endpoints) {
    total += e.weight;
    if (e.healthy) healthy += e.weight;
  }
  return total > 0 ? healthy / total : 0;
}
