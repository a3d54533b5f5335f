export { ClusterSet, type Cluster, type ClusterStatus, type EndpointStatus } from './cluster.ts';
export { EndpointState, endpointKey } from './endpoint.ts';
export { send, type TryOutcome } from './forward.ts';
export { loadBalancerNames, type LoadBalancer } from './lb/registry.ts';
