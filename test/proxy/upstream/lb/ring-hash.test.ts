import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { buildRing, createRingHash, MIN_RING_SIZE } from '../../../../proxy/upstream/lb/ring-hash.ts';
import { backend, endpoints, equalEndpoints, hashingTests, hashKeys, keyOwners, seeded } from './fixtures.ts';

function balancer(states: readonly EndpointState[]) {
  return createRingHash(states, backend(states, { loadBalancer: 'ring-hash' }), { random: seeded(3) });
}

/** 10 000 well-spread request hashes. */
const keys = hashKeys;

describe('ring-hash', () => {
  test('gives each endpoint points in proportion to weight, at least 1024 in all, sorted', () => {
    const equal = buildRing(equalEndpoints(4));
    assert.equal(equal.hashes.length, MIN_RING_SIZE);
    for (let i = 0; i < 4; i++) assert.equal(equal.owners.filter((o) => o === i).length, 256);
    const weighted = buildRing(endpoints([{ weight: 1 }, { weight: 3 }]));
    assert.equal(weighted.owners.filter((o) => o === 0).length, 256);
    assert.equal(weighted.owners.filter((o) => o === 1).length, 768);
    for (let i = 1; i < weighted.hashes.length; i++) assert.ok(weighted.hashes[i - 1] <= weighted.hashes[i]);
  });

  test('keeps every key of the healthy endpoints in place when one becomes unhealthy, and spreads its keys', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    const before = keyOwners(lb, states);
    states[2].healthy = false;
    const after = keyOwners(lb, states);
    const moved = new Map<number, number>();
    for (let k = 0; k < keys.length; k++) {
      if (before[k] !== 2) assert.equal(after[k], before[k], `key ${k} moved`);
      else moved.set(after[k], (moved.get(after[k]) ?? 0) + 1);
    }
    assert.equal(moved.get(2), undefined);
    const total = [...moved.values()].reduce((a, b) => a + b, 0);
    for (const i of [0, 1, 3]) assert.ok((moved.get(i) ?? 0) > total * 0.15, `endpoint ${i} took ${moved.get(i)} of ${total}`);
    states[2].healthy = true;
    assert.deepEqual(keyOwners(lb, states), before);
  });

  hashingTests(balancer, { keys: 0.04, random: 0.05 });
});
