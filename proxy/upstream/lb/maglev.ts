// Maglev (Google's, as weighted by Envoy): a lookup table filled by each endpoint's own
// permutation of slots, which spreads keys more evenly than a ring and picks in O(1).
// The table is built once over every endpoint; an unhealthy one is skipped at pick time
// by probing the next slots, so the other endpoints keep every key they had.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import { hash32, TableWalker } from './hash.ts';
import type { LoadBalancer, LoadBalancerDeps, PickRequest } from './registry.ts';

/** Envoy's default: prime (so every skip walks every slot) and much larger than the endpoint count. */
export const TABLE_SIZE = 65537;

export function createMaglev(endpoints: readonly EndpointState[], _config: Backend, deps: LoadBalancerDeps): LoadBalancer {
  const table = buildTable(endpoints, TABLE_SIZE);
  const walker = new TableWalker(endpoints);
  return {
    pick(req: PickRequest) {
      if (table.length === 0) return undefined;
      const start = req.hash === undefined ? Math.floor(deps.random() * table.length) : req.hash % table.length;
      return walker.walk(table, start, req.tried);
    },
  };
}

/** Slot -> endpoint index. Exported for tests that check the table's shape. */
export function buildTable(endpoints: readonly EndpointState[], size: number): Uint32Array {
  const n = endpoints.length;
  if (n === 0) return new Uint32Array(0);
  const position = new Float64Array(n);
  const skip = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const key = endpoints[i].key;
    position[i] = hash32(key, 0) % size;
    skip[i] = (hash32(key, 1) % (size - 1)) + 1;
    maxWeight = Math.max(maxWeight, endpoints[i].weight);
  }

  const EMPTY = 0xffffffff;
  const table = new Uint32Array(size).fill(EMPTY);
  let filled = 0;
  for (let round = 0; filled < size; round++) {
    for (let i = 0; i < n && filled < size; i++) {
      // Envoy's weighting: the heaviest endpoint claims a slot every round, one with a
      // third of its weight every third round, so slots split in proportion to weight.
      if (round * endpoints[i].weight < credit[i]) continue;
      credit[i] += maxWeight;
      let c = position[i];
      while (table[c] !== EMPTY) c = (c + skip[i]) % size;
      table[c] = i;
      position[i] = (c + skip[i]) % size;
      filled++;
    }
  }
  return table;
}
