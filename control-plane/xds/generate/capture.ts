// Transparent capture, as Istio's sidecar says it to Envoy. A proxy in capture mode
// (node.ts CAPTURE_KEY) gets, instead of its Host-routed outbound listener:
//
// - virtualOutbound on 0.0.0.0:<outbound port> (15001) with use_original_dst: each
//   connection iptables redirected there is handed to the listener whose address and port
//   are where it was going; one going anywhere else stays here and goes on to where it was
//   going (PassthroughCluster, ORIGINAL_DST), or is closed (BlackHoleCluster) under strict egress;
// - per Service port with a ClusterIP, a listener `<ip>_<port>` on that address with
//   bind_to_port: false (it takes only what virtualOutbound hands it): an HTTP port runs the
//   HttpConnectionManager with the port's routes, behind http_inspector, on a filter chain
//   matching application_protocols http/1.1 and h2c: bytes that are not HTTP find no chain
//   and are closed, or, on a port that declares no protocol (sniffed), go to a second chain,
//   a tcp_proxy to the Service port's cluster; a TCP port is that tcp_proxy alone;
// - virtualInbound on 0.0.0.0:<inbound port> (15006) with use_original_dst: each connection
//   goes to the inbound listener of its original port (inbound|<port>, generated as without
//   capture but not bound, so the app keeps its port), with that listener's mTLS and
//   authorization; a port no Service declares goes on to the app as it came
//   (InboundPassthroughCluster) unless the mesh is STRICT, which closes it.
// traffic_direction keeps the two apart: virtualOutbound hands over to OUTBOUND listeners only.

import type { MeshView } from '../mesh-view.ts';
import { POLICIES } from '../policies/index.ts';
import { duration, httpConnectionManager, httpInspector, outboundCluster, serviceListener, socketAddress, tcpProxy, type Obj } from './envoy.ts';
import type { NodeContext } from './resources.ts';
import { routeNamespaceFor, serviceRoutes } from './route-rules.ts';

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_INBOUND = 'virtualInbound';
export const PASSTHROUGH = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH = 'InboundPassthroughCluster';
export const BLACKHOLE = 'BlackHoleCluster';

/** Istio's name for the listener (and route config) of a Service's virtual IP and port. */
export const captureListenerName = (ip: string, port: number): string => `${ip}_${port}`;

type ProxyNode = Extract<NodeContext, { kind: 'proxy' }>;
export type CaptureResources = { readonly listeners: readonly Obj[]; readonly routes: readonly Obj[]; readonly clusters: readonly Obj[] };

export function captureResources(view: MeshView, node: ProxyNode): CaptureResources {
  const capture = node.capture!;
  const listeners: Obj[] = [];
  const routes: Obj[] = [];
  const egress = capture.strictEgress ? BLACKHOLE : PASSTHROUGH;
  const inboundOther = view.mesh.mtlsMode === 'STRICT' ? BLACKHOLE : INBOUND_PASSTHROUGH;
  listeners.push(virtual(VIRTUAL_OUTBOUND, node.outboundPort, 'OUTBOUND', egress));
  listeners.push(virtual(VIRTUAL_INBOUND, capture.inboundPort, 'INBOUND', inboundOther));
  for (const svc of view.services.values()) {
    if (svc.clusterIP === undefined) continue;
    for (const sp of svc.ports) {
      const name = captureListenerName(svc.clusterIP, sp.port);
      const base = { name, address: socketAddress(svc.clusterIP, sp.port), bind_to_port: { value: false }, traffic_direction: 'OUTBOUND' };
      if (sp.protocol === 'tcp') {
        listeners.push({ ...base, filter_chains: [{ filters: [tcpProxy(name, outboundCluster(svc.host, sp.port))] }] });
        continue;
      }
      // The caller's consumer routes, as on the outbound port (GEP-1294).
      const vh: Obj = { name: serviceListener(svc.host, sp.port), domains: ['*'], routes: serviceRoutes(view, svc, sp, 'proxy', routeNamespaceFor(view, svc, sp, node.namespace)) };
      for (const p of POLICIES) p.virtualHost?.(vh, { view, flavor: 'proxy', service: svc, port: sp });
      routes.push({ name, virtual_hosts: [vh] });
      const hcm = httpConnectionManager(name, name, (h) => POLICIES.forEach((pol) => pol.outboundHttp?.(h, { view, flavor: 'proxy', target: { service: svc, port: sp } })));
      const chains: Obj[] = [{ filter_chain_match: { application_protocols: ['http/1.1', 'h2c'] }, filters: [hcm] }];
      // A port that declares no protocol: what is not HTTP goes on as TCP to the same Service port.
      if (sp.sniffed) chains.push({ filters: [tcpProxy(name, outboundCluster(svc.host, sp.port))] });
      listeners.push({ ...base, listener_filters: [httpInspector()], filter_chains: chains });
    }
  }
  const clusters = [...new Set([egress, inboundOther])].map((name) => (name === BLACKHOLE ? blackhole() : originalDst(name)));
  return { listeners, routes, clusters };
}

function virtual(name: string, port: number, direction: 'INBOUND' | 'OUTBOUND', cluster: string): Obj {
  return { name, address: socketAddress('0.0.0.0', port), use_original_dst: { value: true }, traffic_direction: direction, filter_chains: [{ filters: [tcpProxy(name, cluster)] }] };
}

/** Each connection goes to where it was going (Envoy's ORIGINAL_DST with CLUSTER_PROVIDED). */
function originalDst(name: string): Obj {
  return { name, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: duration(10_000) };
}

/** No endpoint: every connection is closed. */
function blackhole(): Obj {
  return { name: BLACKHOLE, type: 'STATIC', connect_timeout: duration(10_000), lb_policy: 'ROUND_ROBIN', load_assignment: { cluster_name: BLACKHOLE, endpoints: [] } };
}

/** The inbound listeners in capture: not bound (the app has the port), and only for virtualInbound. */
export function capturedInbound(listener: Obj): Obj {
  return { ...listener, bind_to_port: { value: false }, traffic_direction: 'INBOUND' };
}
