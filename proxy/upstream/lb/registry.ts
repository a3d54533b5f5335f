// Load-balancing policies are entries in a registry (grpc-js's registerLoadBalancerType),
// so a new policy is one new file and one line here, never a new branch in a switch.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import { createLeastRequest } from './least-request.ts';
import { createLocality, hasSeveralPriorities } from './locality.ts';
import { createMaglev } from './maglev.ts';
import { createRingHash } from './ring-hash.ts';
import { createRoundRobin } from './round-robin.ts';

/** What a policy may know about the request it picks for. */
export type PickRequest = {
  /** The request's hash (ring-hash, maglev), as a 32-bit unsigned integer; undefined when the backend hashes on nothing or the request lacks the value. */
  readonly hash: number | undefined;
  /** Endpoints earlier tries of this request went to: avoided while another healthy one exists. */
  readonly tried: readonly EndpointState[] | null;
  /**
   * A retry under Envoy's previous_priorities retry priority (update_frequency 1): the
   * failover levels earlier tries went to get no share of this pick while another level
   * has a healthy endpoint, so a retry after a failure in the local zone goes to the next.
   */
  readonly avoidTriedPriorities?: boolean;
};

/** A pick with no hash and no earlier tries. */
export const ANY_ENDPOINT: PickRequest = Object.freeze({ hash: undefined, tried: null });

/**
 * A picker over one backend's endpoints. `pick` is called once per request attempt, on
 * the hot path, synchronously; it returns undefined when no endpoint is healthy. It must
 * not mutate the endpoint list, which the cluster owns and replaces on config change
 * (the cluster then builds a new balancer). Health is read live from `EndpointState.healthy`.
 */
export interface LoadBalancer {
  pick(req: PickRequest): EndpointState | undefined;
}

export type LoadBalancerDeps = {
  /** [0, 1), injected so tests are deterministic. */
  readonly random: () => number;
};

export type LoadBalancerFactory = (endpoints: readonly EndpointState[], config: Backend, deps: LoadBalancerDeps) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>([
  // First because it is the default: adapts to uneven endpoint load at O(1) a pick.
  ['least-request', createLeastRequest],
  // Consistent hashing, for caches and sticky sessions: a key keeps its endpoint.
  ['ring-hash', createRingHash],
  // Consistent hashing with an O(1) pick and a more even spread, at a 65537-slot table a backend.
  ['maglev', createMaglev],
  // Predictable turns, for tests and for endpoints whose requests all cost the same.
  ['round-robin', createRoundRobin],
]);

export function loadBalancerNames(): readonly string[] {
  return [...registry.keys()];
}

export function createLoadBalancer(config: Backend, endpoints: readonly EndpointState[], deps: LoadBalancerDeps): LoadBalancer {
  const factory = registry.get(config.loadBalancer);
  if (factory === undefined) throw new Error(`unknown load balancer '${config.loadBalancer}' (known: ${loadBalancerNames().join(', ')})`);
  // Failover levels wrap the policy, rather than each policy knowing about priorities.
  if (hasSeveralPriorities(endpoints)) return createLocality(factory, endpoints, config, deps);
  return factory(endpoints, config, deps);
}
