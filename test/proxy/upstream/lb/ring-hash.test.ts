import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { buildRing, createRingHash, MIN_RING_SIZE } from '../../../../proxy/upstream/lb/ring-hash.ts';
import { assertShares, backend, countPicks, endpoints, equalEndpoints, hashingRetryTests, hashKeys, seeded } from './fixtures.ts';

function balancer(states: readonly EndpointState[]) {
  return createRingHash(states, backend(states, { loadBalancer: 'ring-hash' }), { random: seeded(3) });
}

/** 10 000 well-spread request hashes. */
const keys = hashKeys;

function owners(lb: ReturnType<typeof balancer>, states: readonly EndpointState[]): number[] {
  return keys.map((hash) => states.indexOf(lb.pick({ hash, tried: null })!));
}

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

  test('sends the same hash to the same endpoint every time', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    assert.deepEqual(owners(lb, states), owners(lb, states));
    assert.deepEqual(owners(balancer(states), states), owners(lb, states));
  });

  test('spreads keys in proportion to weight', () => {
    const states = endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]);
    const counts = new Map<number, number>();
    for (const o of owners(balancer(states), states)) counts.set(o, (counts.get(o) ?? 0) + 1);
    assertShares(counts, [1, 2, 3, 4], keys.length, 0.04);
  });

  test('hashes a request without a hash to a random point', () => {
    const states = equalEndpoints(4);
    assertShares(countPicks(balancer(states), states, 10_000), [1, 1, 1, 1], 10_000, 0.05);
  });

  test('keeps every key of the healthy endpoints in place when one becomes unhealthy, and spreads its keys', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    const before = owners(lb, states);
    states[2].healthy = false;
    const after = owners(lb, states);
    const moved = new Map<number, number>();
    for (let k = 0; k < keys.length; k++) {
      if (before[k] !== 2) assert.equal(after[k], before[k], `key ${k} moved`);
      else moved.set(after[k], (moved.get(after[k]) ?? 0) + 1);
    }
    assert.equal(moved.get(2), undefined);
    const total = [...moved.values()].reduce((a, b) => a + b, 0);
    for (const i of [0, 1, 3]) assert.ok((moved.get(i) ?? 0) > total * 0.15, `endpoint ${i} took ${moved.get(i)} of ${total}`);
    states[2].healthy = true;
    assert.deepEqual(owners(lb, states), before);
  });

  hashingRetryTests(balancer);
});
