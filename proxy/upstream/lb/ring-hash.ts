// Envoy's ring hash (ketama): every endpoint owns points on a 32-bit ring in proportion to
// its weight, and a request goes to the owner of the first point at or after its hash.
// Adding or losing an endpoint moves only the keys next to its points.

import assert from 'node:assert';
import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import { hash32, TableWalker } from './hash.ts';
import type { LoadBalancer, LoadBalancerDeps, PickRequest } from './registry.ts';

/** Envoy's defaults: enough points that 1024 / endpoints still spreads evenly, and a memory cap. */
export const MIN_RING_SIZE = 1024;
export const MAX_RING_SIZE = 8 * 1024 * 1024;

// Points are sorted as hash * 2^21 + endpoint index in one Float64Array: exact below 2^53,
// and a typed-array sort is far cheaper than sorting millions of objects.
const INDEX_BITS = 2 ** 21;

export function createRingHash(endpoints: readonly EndpointState[], _config: Backend, deps: LoadBalancerDeps): LoadBalancer {
  const { hashes, owners } = buildRing(endpoints);
  const walker = new TableWalker(endpoints);
  return {
    pick(req: PickRequest) {
      if (hashes.length === 0) return undefined;
      const start = req.hash === undefined ? Math.floor(deps.random() * hashes.length) : firstAtOrAfter(hashes, req.hash);
      return walker.walk(owners, start, req.tried);
    },
  };
}

type Ring = { readonly hashes: Uint32Array; readonly owners: Uint32Array };

/** Exported for tests that check the ring's shape. */
export function buildRing(endpoints: readonly EndpointState[]): Ring {
  assert(endpoints.length < INDEX_BITS, 'too many endpoints for a ring');
  let total = 0;
  let minWeight = Infinity;
  for (const e of endpoints) {
    total += e.weight;
    minWeight = Math.min(minWeight, e.weight);
  }
  if (endpoints.length === 0 || total <= 0) return { hashes: new Uint32Array(0), owners: new Uint32Array(0) };

  // As Envoy: scale so the lightest endpoint still gets ceil(its share of the minimum) points.
  const minShare = minWeight / total;
  const scale = Math.min(Math.ceil(minShare * MIN_RING_SIZE) / minShare, MAX_RING_SIZE);
  // Carrying the fractional remainder from endpoint to endpoint keeps the total at `scale`.
  const counts = new Uint32Array(endpoints.length);
  let placed = 0;
  let target = 0;
  for (let i = 0; i < endpoints.length; i++) {
    target += (scale * endpoints[i].weight) / total;
    const upTo = Math.ceil(target - 1e-9); // float dust must not buy an extra point
    while (placed < upTo) {
      counts[i]++;
      placed++;
    }
  }

  const packed = new Float64Array(placed);
  let p = 0;
  for (let i = 0; i < endpoints.length; i++) {
    const key = endpoints[i].key;
    for (let j = 0; j < counts[i]; j++) packed[p++] = hash32(`${key}_${j}`) * INDEX_BITS + i;
  }
  packed.sort();

  const hashes = new Uint32Array(placed);
  const owners = new Uint32Array(placed);
  for (let k = 0; k < placed; k++) {
    const owner = packed[k] % INDEX_BITS;
    owners[k] = owner;
    hashes[k] = (packed[k] - owner) / INDEX_BITS;
  }
  return { hashes, owners };
}

/** Index of the first point ≥ hash; past the last point the ring wraps to 0. */
function firstAtOrAfter(hashes: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}
