// Load-balancing policies are entries in a registry (grpc-js's registerLoadBalancerType),
// so a new policy is one new file and one line here, never a new branch in a switch.

import type { Backend } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';
import { createRoundRobin } from './round-robin.ts';

/** What a policy may know about the request it picks for. */
export type PickRequest = {
  /** The request's hash (ring-hash, maglev), as a 32-bit unsigned integer; undefined when the backend hashes on nothing or the request lacks the value. */
  readonly hash: number | undefined;
  /** Endpoints earlier tries of this request went to: avoided while another healthy one exists. */
  readonly tried: readonly EndpointState[] | null;
};

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

const registry = new Map<string, LoadBalancerFactory>([['round-robin', createRoundRobin]]);

export function loadBalancerNames(): readonly string[] {
  return [...registry.keys()];
}

export function createLoadBalancer(config: Backend, endpoints: readonly EndpointState[], deps: LoadBalancerDeps): LoadBalancer {
  const factory = registry.get(config.loadBalancer);
  if (factory === undefined) throw new Error(`unknown load balancer '${config.loadBalancer}' (known: ${loadBalancerNames().join(', ')})`);
  return factory(endpoints, config, deps);
}
