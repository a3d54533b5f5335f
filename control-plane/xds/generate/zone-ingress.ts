// A zone ingress's own resources (sluice-proxy --mode zone-ingress, issue 18): one listener
// on 0.0.0.0:<port> behind tls_inspector, one filter chain per Service port with instances
// in this zone, matched by the SNI a caller sends for it (envoy.ts serviceSni). The chain
// has no transport socket: the caller's mTLS passes through untouched to the instance's
// own proxy, which terminates it, so the caller's identity reaches the callee. Its cluster
// holds this zone's instances only, never another zone's ingress: no loops.

import type { MeshView } from '../mesh-view.ts';
import { duration, serviceSni, socketAddress, tcpProxy, tlsInspector, type Obj } from './envoy.ts';

export const ZONE_INGRESS_LISTENER = 'zone-ingress';

/** No listener when no Service port has an instance here (Envoy refuses a listener without filter chains): every connection is refused. */
export function zoneIngressResources(view: MeshView, port: number): { listeners: Obj[]; clusters: Obj[] } {
  const chains: Obj[] = [];
  const clusters: Obj[] = [];
  for (const svc of view.services.values()) {
    for (const sp of svc.ports) {
      const local = sp.endpoints.filter((e) => e.remote === undefined);
      if (local.length === 0) continue;
      // Named by the SNI, as Istio names its SNI-DNAT clusters.
      const name = serviceSni(svc.host, sp.port);
      clusters.push({
        name,
        type: 'STATIC',
        connect_timeout: duration(5000),
        lb_policy: 'LEAST_REQUEST',
        load_assignment: {
          cluster_name: name,
          endpoints: [{ lb_endpoints: local.map((e) => ({ endpoint: { address: socketAddress(e.address, e.port) }, load_balancing_weight: { value: e.weight } })) }],
        },
      });
      chains.push({ filter_chain_match: { server_names: [name] }, filters: [tcpProxy(name, name)] });
    }
  }
  if (chains.length === 0) return { listeners: [], clusters };
  return { listeners: [{ name: ZONE_INGRESS_LISTENER, address: socketAddress('0.0.0.0', port), listener_filters: [tlsInspector()], filter_chains: chains }], clusters };
}
