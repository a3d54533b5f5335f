import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { createLoadBalancer, loadBalancerNames } from '../../../../proxy/upstream/lb/registry.ts';
import { backend, endpoints, seeded, type Spec } from './fixtures.ts';

const N = 10_000;

/** Share of N picks per priority level; key -1 counts picks that found nothing. */
function levelShares(states: readonly EndpointState[], fields: Parameters<typeof backend>[1] = {}): Map<number, number> {
  const lb = createLoadBalancer(backend(states, fields), states, { random: seeded(11) });
  const shares = new Map<number, number>();
  for (let i = 0; i < N; i++) {
    const level = lb.pick({ hash: undefined, tried: null })?.endpoint.priority ?? -1;
    shares.set(level, (shares.get(level) ?? 0) + 1 / N);
  }
  return shares;
}

function levels(...perLevel: number[]): EndpointState[] {
  const specs: Spec[] = [];
  perLevel.forEach((count, priority) => {
    for (let i = 0; i < count; i++) specs.push({ priority });
  });
  return endpoints(specs);
}

const near = (actual: number | undefined, expected: number, tolerance = 0.02) =>
  assert.ok(Math.abs((actual ?? 0) - expected) <= tolerance, `share ${actual}, expected ${expected} ± ${tolerance}`);

describe('priority failover', () => {
  for (const policy of loadBalancerNames()) {
    test(`keeps all traffic at priority 0 while at least 71% of it is healthy (${policy})`, () => {
      const states = levels(4, 2);
      states[0].healthy = false; // 75% healthy
      assert.deepEqual([...levelShares(states, { loadBalancer: policy }).keys()], [0]);
    });

    test(`spills the unhealthy share of priority 0 to priority 1 (${policy})`, () => {
      const states = levels(2, 2);
      states[0].healthy = false; // 50% healthy: keeps 0.5 / 0.71 of the traffic
      const shares = levelShares(states, { loadBalancer: policy });
      near(shares.get(0), 0.5 / 0.71);
      near(shares.get(1), 1 - 0.5 / 0.71);
    });
  }

  for (const policy of ['ring-hash', 'maglev']) {
    test(`keeps a hashed request on one level and endpoint while spilling, and splits keys by level (${policy})`, () => {
      const states = levels(2, 2);
      states[0].healthy = false;
      const lb = createLoadBalancer(backend(states, { loadBalancer: policy }), states, { random: seeded(11) });
      let atP0 = 0;
      for (let i = 1; i <= N; i++) {
        const hash = Math.imul(i, 0x9e3779b1) >>> 0;
        const picked = lb.pick({ hash, tried: null })!;
        for (let again = 0; again < 3; again++) assert.equal(lb.pick({ hash, tried: null }), picked);
        if (picked.endpoint.priority === 0) atP0++;
      }
      near(atP0 / N, 0.5 / 0.71);
    });
  }

  test('sends everything to priority 1 when priority 0 has no healthy endpoint', () => {
    const states = levels(2, 2);
    states[0].healthy = false;
    states[1].healthy = false;
    assert.deepEqual([...levelShares(states).keys()], [1]);
  });

  test('finds nothing when nothing is healthy', () => {
    const states = levels(2, 2);
    for (const e of states) e.healthy = false;
    assert.deepEqual([...levelShares(states).keys()], [-1]);
  });

  test('scales the shares up to the whole when all levels together are short of health', () => {
    const states = levels(4, 4, 4);
    for (const i of [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]) states[i].healthy = false;
    // P0 and P1 are 25% healthy (0.25 / 0.71 each), P2 has nothing: half and half.
    const shares = levelShares(states);
    near(shares.get(0), 0.5);
    near(shares.get(1), 0.5);
    assert.equal(shares.get(2), undefined);
  });

  test('weighs health by endpoint weight', () => {
    const states = endpoints([{ weight: 3 }, { weight: 1 }, { priority: 1 }]);
    states[0].healthy = false; // a quarter of priority 0's weight is left
    const shares = levelShares(states, { loadBalancer: 'round-robin' });
    near(shares.get(0), 0.25 / 0.71);
  });

  test('follows the backend\'s failoverThreshold', () => {
    const states = levels(2, 2);
    states[0].healthy = false;
    assert.deepEqual([...levelShares(states, { failoverThreshold: 50 }).keys()], [0]);
    near(levelShares(states, { failoverThreshold: 100 }).get(0), 0.5);
  });

  test('orders levels by priority number, not by endpoint order', () => {
    const states = endpoints([{ priority: 5 }, { priority: 2 }, { priority: 9 }]);
    assert.deepEqual([...levelShares(states).keys()], [2]);
  });

  test('is left out when every endpoint shares one priority', () => {
    const states = endpoints([{ priority: 3 }, { priority: 3 }]);
    states[0].healthy = false;
    assert.deepEqual([...levelShares(states).keys()], [3]);
  });
});

// Envoy's previous_priorities retry priority (update_frequency 1): a retry after a try that
// failed on a level goes to the next level, though the tried one still looks healthy.
describe('a retry that avoids the levels it tried', () => {
  for (const policy of loadBalancerNames()) {
    test(`goes to priority 1 on its first retry while priority 0 still looks healthy (${policy})`, () => {
      const states = levels(3, 2);
      const lb = createLoadBalancer(backend(states, { loadBalancer: policy }), states, { random: seeded(5) });
      for (let i = 0; i < 200; i++) {
        const first = lb.pick({ hash: i * 7919, tried: null })!;
        assert.equal(first.endpoint.priority, 0, 'a first try stays local');
        const retry = lb.pick({ hash: i * 7919, tried: [first], avoidTriedPriorities: true })!;
        assert.equal(retry.endpoint.priority, 1, 'the first retry goes to the next zone');
        // Without it, a retry stays local while a local endpoint is untried.
        assert.equal(lb.pick({ hash: i * 7919, tried: [first] })!.endpoint.priority, 0);
      }
    });
  }

  test('moves on level by level, and comes back to the tried levels when none is left', () => {
    const states = levels(1, 1, 1);
    const lb = createLoadBalancer(backend(states, { loadBalancer: 'round-robin' }), states, { random: seeded(5) });
    const [p0, p1, p2] = states;
    assert.equal(lb.pick({ hash: undefined, tried: [p0], avoidTriedPriorities: true }), p1);
    assert.equal(lb.pick({ hash: undefined, tried: [p0, p1], avoidTriedPriorities: true }), p2);
    // Every level tried: the loads are the usual ones again (Envoy resets them), so priority 0.
    assert.equal(lb.pick({ hash: undefined, tried: [p0, p1, p2], avoidTriedPriorities: true })?.endpoint.priority, 0);
  });

  test('stays on a tried level when the others have nothing healthy', () => {
    const states = levels(2, 1);
    states[2].healthy = false;
    const lb = createLoadBalancer(backend(states, { loadBalancer: 'round-robin' }), states, { random: seeded(5) });
    const retry = lb.pick({ hash: undefined, tried: [states[0]], avoidTriedPriorities: true });
    assert.equal(retry, states[1], 'the untried local endpoint, not nothing');
  });
});
