// Round robin; with unequal weights, nginx's smooth weighted round robin, which spreads a
// heavy endpoint's turns out instead of sending it a burst. A retry skips the endpoints its
// request already tried while another healthy one is left.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import type { LoadBalancer, LoadBalancerDeps, PickRequest } from './registry.ts';

export function createRoundRobin(endpoints: readonly EndpointState[], _config: Backend, deps: LoadBalancerDeps): LoadBalancer {
  const equal = endpoints.every((e) => e.weight === endpoints[0].weight);
  return equal ? plain(endpoints, deps) : smoothWeighted(endpoints);
}

function plain(endpoints: readonly EndpointState[], deps: LoadBalancerDeps): LoadBalancer {
  // A random start (as Envoy does) keeps a fleet of proxies started together from sending
  // their first requests to the same endpoint.
  let next = Math.floor(deps.random() * endpoints.length);
  return {
    pick(req: PickRequest) {
      const n = endpoints.length;
      let fallback = -1;
      for (let i = 0; i < n; i++) {
        const at = (next + i) % n;
        const e = endpoints[at];
        if (!e.healthy) continue;
        if (req.tried !== null && req.tried.includes(e)) {
          if (fallback === -1) fallback = at;
          continue;
        }
        next = (at + 1) % n;
        return e;
      }
      if (fallback === -1) return undefined;
      next = (fallback + 1) % n;
      return endpoints[fallback];
    },
  };
}

function smoothWeighted(endpoints: readonly EndpointState[]): LoadBalancer {
  const current = new Float64Array(endpoints.length);
  return {
    pick(req: PickRequest) {
      // Tried endpoints sit out this turn only when someone else can take it.
      const skip = req.tried !== null && req.tried.length > 0 && someHealthyUntried(endpoints, req.tried) ? req.tried : null;
      let total = 0;
      let best = -1;
      for (let i = 0; i < endpoints.length; i++) {
        const e = endpoints[i];
        if (!e.healthy || (skip !== null && skip.includes(e))) continue;
        current[i] += e.weight;
        total += e.weight;
        if (best === -1 || current[i] > current[best]) best = i;
      }
      if (best === -1) return undefined;
      current[best] -= total;
      return endpoints[best];
    },
  };
}

function someHealthyUntried(endpoints: readonly EndpointState[], tried: readonly EndpointState[]): boolean {
  for (const e of endpoints) if (e.healthy && !tried.includes(e)) return true;
  return false;
}
