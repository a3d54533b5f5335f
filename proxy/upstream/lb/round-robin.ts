// Round robin; with unequal weights, nginx's smooth weighted round robin, which spreads a
// heavy endpoint's turns out instead of sending it a burst.

import type { EndpointState } from '../endpoint.ts';
import type { LoadBalancer } from './registry.ts';

export function createRoundRobin(endpoints: readonly EndpointState[]): LoadBalancer {
  const equal = endpoints.every((e) => e.weight === endpoints[0].weight);
  return equal ? plain(endpoints) : smoothWeighted(endpoints);
}

function plain(endpoints: readonly EndpointState[]): LoadBalancer {
  let next = 0;
  return {
    pick() {
      const n = endpoints.length;
      for (let i = 0; i < n; i++) {
        const e = endpoints[(next + i) % n];
        if (e.healthy) {
          next = (next + i + 1) % n;
          return e;
        }
      }
      return undefined;
    },
  };
}

function smoothWeighted(endpoints: readonly EndpointState[]): LoadBalancer {
  const current = new Float64Array(endpoints.length);
  return {
    pick() {
      let total = 0;
      let best = -1;
      for (let i = 0; i < endpoints.length; i++) {
        const e = endpoints[i];
        if (!e.healthy) continue;
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
