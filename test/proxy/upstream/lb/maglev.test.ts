import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { buildTable, createMaglev, TABLE_SIZE } from '../../../../proxy/upstream/lb/maglev.ts';
import { backend, endpoints, equalEndpoints, hashingTests, hashKeys, keyOwners, seeded } from './fixtures.ts';

function balancer(states: readonly EndpointState[]) {
  return createMaglev(states, backend(states, { loadBalancer: 'maglev' }), { random: seeded(5) });
}

/** 10 000 well-spread request hashes. */
const keys = hashKeys;

function slotShares(table: Uint32Array, n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const owner of table) counts[owner]++;
  return counts.map((c) => c / table.length);
}

describe('maglev', () => {
  test('fills every slot of a prime-sized table, evenly for equal weights', () => {
    const table = buildTable(equalEndpoints(4), TABLE_SIZE);
    assert.equal(table.length, 65537);
    for (const share of slotShares(table, 4)) assert.ok(Math.abs(share - 0.25) < 0.001, `share ${share}`);
  });

  test('gives slots in proportion to weight', () => {
    const shares = slotShares(buildTable(endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]), TABLE_SIZE), 4);
    shares.forEach((share, i) => assert.ok(Math.abs(share - (i + 1) / 10) < 0.002, `endpoint ${i}: ${share}`));
  });

  test('keeps the keys of the healthy endpoints in place when one becomes unhealthy, and spreads its keys', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    const before = keyOwners(lb, states);
    states[1].healthy = false;
    const after = keyOwners(lb, states);
    let kept = 0;
    let others = 0;
    const moved = new Map<number, number>();
    for (let k = 0; k < keys.length; k++) {
      if (before[k] !== 1) {
        others++;
        if (after[k] === before[k]) kept++;
      } else moved.set(after[k], (moved.get(after[k]) ?? 0) + 1);
    }
    assert.ok(kept / others >= 0.95, `kept ${kept} of ${others}`);
    assert.equal(moved.get(1), undefined);
    const total = [...moved.values()].reduce((a, b) => a + b, 0);
    for (const i of [0, 2, 3]) assert.ok((moved.get(i) ?? 0) > total * 0.2, `endpoint ${i} took ${moved.get(i)} of ${total}`);
  });

  hashingTests(balancer, { keys: 0.02, random: 0.02 });
});
