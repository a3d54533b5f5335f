// Shared by the load-balancer tests: real EndpointStates, a backend config with only the
// fields balancers read, and a seeded random so every run sees the same draws.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, HashOn } from '../../../../proxy/config/model.ts';
import { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import type { LoadBalancer, PickRequest } from '../../../../proxy/upstream/lb/registry.ts';

/** mulberry32: a tiny seeded PRNG, [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Spec = { readonly weight?: number; readonly priority?: number };

/** Endpoints 127.0.0.1:9000, :9001, ...; the dispatcher is never used by balancers. */
export function endpoints(specs: readonly Spec[]): EndpointState[] {
  return specs.map(
    (s, i) => new EndpointState({ address: '127.0.0.1', port: 9000 + i, weight: s.weight ?? 1, priority: s.priority ?? 0 }, null as never, null as never),
  );
}

export function equalEndpoints(n: number): EndpointState[] {
  return endpoints(Array.from({ length: n }, () => ({})));
}

export function backend(states: readonly EndpointState[], fields: { loadBalancer?: string; hashOn?: HashOn; failoverThreshold?: number } = {}): Backend {
  const read: Pick<Backend, 'name' | 'loadBalancer' | 'hashOn' | 'failoverThreshold' | 'endpoints'> = {
    name: 'b',
    loadBalancer: fields.loadBalancer ?? 'least-request',
    failoverThreshold: fields.failoverThreshold ?? 71,
    endpoints: states.map((s) => s.endpoint),
    ...(fields.hashOn && { hashOn: fields.hashOn }),
  };
  // The rest of a Backend (timeouts, retries, limits) is the cluster's business, not a balancer's.
  return read as unknown as Backend;
}

export const anyRequest: PickRequest = { hash: undefined, tried: null };

/** Picks per endpoint (by index in `states`) over `n` picks; index -1 counts undefined. */
export function countPicks(lb: LoadBalancer, states: readonly EndpointState[], n: number, req: PickRequest = anyRequest): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const e = lb.pick(req);
    const k = e === undefined ? -1 : states.indexOf(e);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Asserts each endpoint's share of `n` picks is within `tolerance` of weight / total weight. */
export function assertShares(counts: Map<number, number>, weights: readonly number[], n: number, tolerance: number): void {
  const total = weights.reduce((a, b) => a + b, 0);
  weights.forEach((w, i) => {
    const share = (counts.get(i) ?? 0) / n;
    assert.ok(Math.abs(share - w / total) <= tolerance, `endpoint ${i}: share ${share.toFixed(3)}, expected ${(w / total).toFixed(3)} ± ${tolerance}`);
  });
}

/** Spread-out 32-bit keys, the same in every hashing test. */
export const hashKeys: readonly number[] = Array.from({ length: 10_000 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0);

/** The endpoint index each of the hash keys lands on. */
export function keyOwners(lb: LoadBalancer, states: readonly EndpointState[]): number[] {
  return hashKeys.map((hash) => states.indexOf(lb.pick({ hash, tried: null })!));
}

/**
 * What every hashing balancer promises: stable keys, a spread by weight (within `tolerance.keys`),
 * a random pick for a request without a hash (within `tolerance.random`), and retries that
 * move on to an endpoint not tried while one is left.
 */
export function hashingTests(balancer: (states: readonly EndpointState[]) => LoadBalancer, tolerance: { keys: number; random: number }): void {
  test('sends the same hash to the same endpoint every time', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    assert.deepEqual(keyOwners(lb, states), keyOwners(lb, states));
    assert.deepEqual(keyOwners(balancer(states), states), keyOwners(lb, states));
  });

  test('spreads keys in proportion to weight', () => {
    const states = endpoints([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]);
    const counts = new Map<number, number>();
    for (const o of keyOwners(balancer(states), states)) counts.set(o, (counts.get(o) ?? 0) + 1);
    assertShares(counts, [1, 2, 3, 4], hashKeys.length, tolerance.keys);
  });

  test('picks at random for a request without a hash', () => {
    const states = equalEndpoints(4);
    assertShares(countPicks(balancer(states), states, 10_000), [1, 1, 1, 1], 10_000, tolerance.random);
  });

  test('moves a retry on to a healthy endpoint the request has not tried, the same one each time', () => {
    const states = equalEndpoints(4);
    const lb = balancer(states);
    for (const hash of hashKeys.slice(0, 200)) {
      const first = lb.pick({ hash, tried: null })!;
      const second = lb.pick({ hash, tried: [first] })!;
      assert.notEqual(second, first);
      assert.equal(lb.pick({ hash, tried: [first] }), second, 'the retry target is stable too');
      const third = lb.pick({ hash, tried: [first, second] })!;
      assert.ok(third !== first && third !== second);
    }
  });

  test('goes back to a tried endpoint when every healthy one was tried', () => {
    const states = equalEndpoints(3);
    states[2].healthy = false;
    const lb = balancer(states);
    for (const hash of hashKeys.slice(0, 200)) {
      const picked = lb.pick({ hash, tried: [states[0], states[1]] });
      assert.ok(picked === states[0] || picked === states[1]);
    }
  });

  test('is undefined when nothing is healthy', () => {
    const states = equalEndpoints(3);
    for (const e of states) e.healthy = false;
    assert.equal(balancer(states).pick({ hash: 12345, tried: null }), undefined);
    assert.equal(balancer([]).pick({ hash: 12345, tried: null }), undefined);
  });
}
