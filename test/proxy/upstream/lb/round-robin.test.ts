import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { createRoundRobin } from '../../../../proxy/upstream/lb/round-robin.ts';
import { assertShares, backend, countPicks, endpoints, equalEndpoints, seeded } from './fixtures.ts';

function balancer(states: readonly EndpointState[]) {
  return createRoundRobin(states, backend(states, { loadBalancer: 'round-robin' }), { random: seeded(7) });
}

function sequence(states: readonly EndpointState[], picks: number, tried: readonly EndpointState[] | null = null): number[] {
  const lb = balancer(states);
  return Array.from({ length: picks }, () => states.indexOf(lb.pick({ hash: undefined, tried })!));
}

describe('round-robin with equal weights', () => {
  test('visits every endpoint once per turn, in order from a random start', () => {
    const seq = sequence(equalEndpoints(4), 8);
    const start = seq[0];
    assert.deepEqual(seq, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (start + i) % 4));
  });

  test('starts at a random endpoint, so proxies started together do not all hit the first', () => {
    const states = equalEndpoints(4);
    const firsts = new Set<EndpointState | undefined>();
    for (let seed = 1; seed <= 20; seed++) {
      firsts.add(createRoundRobin(states, backend(states), { random: seeded(seed) }).pick({ hash: undefined, tried: null }));
    }
    assert.equal(firsts.size, 4);
  });

  test('skips unhealthy endpoints', () => {
    const states = equalEndpoints(4);
    states[1].healthy = false;
    const seq = sequence(states, 9);
    assert.ok(!seq.includes(1));
    assert.deepEqual([...new Set(seq.slice(0, 3))].sort(), [0, 2, 3]);
  });

  test('is undefined when nothing is healthy', () => {
    const states = equalEndpoints(2);
    for (const e of states) e.healthy = false;
    assert.equal(balancer(states).pick({ hash: undefined, tried: null }), undefined);
    assert.equal(balancer([]).pick({ hash: undefined, tried: null }), undefined);
  });
});

describe('round-robin with unequal weights (smooth weighted)', () => {
  test('interleaves a heavy endpoint\'s turns as nginx does', () => {
    const states = endpoints([{ weight: 5 }, { weight: 1 }, { weight: 1 }]);
    assert.deepEqual(sequence(states, 7), [0, 0, 1, 0, 2, 0, 0]);
  });

  test('splits traffic exactly by weight', () => {
    const states = endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]);
    assertShares(countPicks(balancer(states), states, 10_000), [1, 2, 3, 4], 10_000, 0.001);
  });

  test('leaves unhealthy endpoints out of the split', () => {
    const states = endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    states[2].healthy = false;
    assertShares(countPicks(balancer(states), states, 9_000), [1, 2, 0], 9_000, 0.001);
  });
});

describe('round-robin on retries', () => {
  for (const [name, weights] of [['equal', [1, 1, 1, 1]], ['unequal', [4, 3, 2, 1]]] as const) {
    test(`avoids tried endpoints while a healthy one is left (${name} weights)`, () => {
      const states = endpoints(weights.map((weight) => ({ weight })));
      states[2].healthy = false;
      assert.deepEqual([...new Set(sequence(states, 20, [states[0], states[1]]))], [3]);
    });

    test(`goes back to tried endpoints when every healthy one was tried (${name} weights)`, () => {
      const states = endpoints(weights.map((weight) => ({ weight })));
      states[2].healthy = false;
      states[3].healthy = false;
      assert.deepEqual([...new Set(sequence(states, 20, [states[0], states[1]]))].sort(), [0, 1]);
    });
  }
});
