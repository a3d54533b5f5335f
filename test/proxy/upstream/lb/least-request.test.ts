import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLeastRequest } from '../../../../proxy/upstream/lb/least-request.ts';
import { assertShares, backend, countPicks, endpoints, equalEndpoints, seeded } from './fixtures.ts';

const N = 10_000;

function balancer(states: ReturnType<typeof endpoints>, seed = 1) {
  return createLeastRequest(states, backend(states), { random: seeded(seed) });
}

describe('least-request with equal weights (power of two choices)', () => {
  test('spreads idle traffic evenly', () => {
    const states = equalEndpoints(4);
    assertShares(countPicks(balancer(states), states, N), [1, 1, 1, 1], N, 0.02);
  });

  test('takes the less loaded of two distinct random endpoints', () => {
    const states = equalEndpoints(3);
    states[0].activeRequests = 0;
    states[1].activeRequests = 1;
    states[2].activeRequests = 2;
    // Each pair is equally likely: 0 wins both pairs it is in, 1 wins one, 2 none. A global
    // "least loaded" scan would give 0 everything; plain random a third each.
    assertShares(countPicks(balancer(states), states, N), [2, 1, 0], N, 0.02);
  });

  test('never picks the busiest endpoint while another is drawn with it', () => {
    const states = equalEndpoints(5);
    states[3].activeRequests = 10;
    assert.equal(countPicks(balancer(states), states, N).get(3), undefined);
  });

  test('never picks an unhealthy endpoint', () => {
    const states = equalEndpoints(5);
    states[1].healthy = false;
    states[4].healthy = false;
    const counts = countPicks(balancer(states), states, N);
    assert.equal(counts.get(1), undefined);
    assert.equal(counts.get(4), undefined);
    assertShares(counts, [1, 0, 1, 1, 0], N, 0.02);
  });

  test('still finds and compares the few healthy endpoints among many unhealthy ones', () => {
    const states = equalEndpoints(50);
    for (const e of states) e.healthy = false;
    states[17].healthy = true;
    states[41].healthy = true;
    states[41].activeRequests = 3;
    assert.deepEqual([...countPicks(balancer(states), states, 1000)], [[17, 1000]]);
  });

  test('is undefined when nothing is healthy', () => {
    const states = equalEndpoints(3);
    for (const e of states) e.healthy = false;
    assert.equal(balancer(states).pick({ hash: undefined, tried: null }), undefined);
    assert.equal(balancer([]).pick({ hash: undefined, tried: null }), undefined);
  });
});

describe('least-request with unequal weights', () => {
  test('splits idle traffic by weight', () => {
    const states = endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]);
    assertShares(countPicks(balancer(states), states, N), [1, 2, 3, 4], N, 0.02);
  });

  test('compares requests in flight per unit of weight', () => {
    const states = endpoints([{ weight: 1 }, { weight: 3 }]);
    states[0].activeRequests = 1; // 1 per unit of weight
    states[1].activeRequests = 6; // 2 per unit: the heavier endpoint is the busier one
    assert.deepEqual([...countPicks(balancer(states), states, 1000)], [[0, 1000]]);
    states[0].activeRequests = 3; // now 3 per unit against 2
    assert.deepEqual([...countPicks(balancer(states), states, 1000)], [[1, 1000]]);
  });

  test('never picks an unhealthy endpoint', () => {
    const states = endpoints([{ weight: 5 }, { weight: 1 }, { weight: 2 }]);
    states[0].healthy = false;
    assertShares(countPicks(balancer(states), states, N), [0, 1, 2], N, 0.02);
  });
});

describe('least-request on retries', () => {
  test('avoids endpoints the request already tried while a healthy one is left', () => {
    for (const weights of [[1, 1, 1, 1], [1, 2, 3, 4]]) {
      const states = endpoints(weights.map((weight) => ({ weight })));
      states[3].healthy = false;
      const counts = countPicks(balancer(states), states, 1000, { hash: undefined, tried: [states[0], states[2]] });
      assert.deepEqual([...counts], [[1, 1000]], `weights ${weights}`);
    }
  });

  test('goes back to a tried endpoint when every healthy one was tried', () => {
    const states = equalEndpoints(3);
    states[2].healthy = false;
    const counts = countPicks(balancer(states), states, 1000, { hash: undefined, tried: [states[0], states[1]] });
    assert.equal(counts.get(2), undefined);
    assert.equal(counts.get(-1), undefined);
    assert.ok(counts.get(0)! > 300 && counts.get(1)! > 300, 'both tried endpoints share the retries');
  });
});
