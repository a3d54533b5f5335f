// Load-balancing policies are entries in a registry (grpc-js's registerLoadBalancerType),
// so a new policy is one new file and one line here, never a new branch in a switch.

import type { EndpointState } from '../endpoint.ts';
import { createRoundRobin } from './round-robin.ts';

/**
 * A picker over one backend's endpoints. `pick` is called once per request attempt, on
 * the hot path, synchronously; it returns undefined when no endpoint is healthy. It must
 * not mutate the endpoint list, which the cluster owns and replaces on config change
 * (the cluster then builds a new balancer).
 */
export interface LoadBalancer {
  pick(): EndpointState | undefined;
}

export type LoadBalancerFactory = (endpoints: readonly EndpointState[]) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>([
  // Default until least-request lands: predictable, and weighted like nginx's smooth RR.
  ['round-robin', createRoundRobin],
]);

export function loadBalancerNames(): readonly string[] {
  return [...registry.keys()];
}

export function createLoadBalancer(name: string, endpoints: readonly EndpointState[]): LoadBalancer {
  const factory = registry.get(name);
  if (factory === undefined) throw new Error(`unknown load balancer '${name}' (known: ${loadBalancerNames().join(', ')})`);
  return factory(endpoints);
}
