// A Workload's spec.outbound: for each entry, a listener of its proxy on
// 127.0.0.1:<localPort> that calls one Service port and nothing else, so an app that
// cannot say which Service it means (a TCP client such as redis-cli, which sends no Host)
// still goes through the mesh. A TCP port is a tcp_proxy to the Service port's cluster
// (mTLS to the Service's proxies, whose inbound side tcp_proxies to their app); an HTTP
// port is an HttpConnectionManager whose one virtual host holds that port's routes.
//
// An entry naming a Service or port that does not exist (yet) still gets its listener, a
// tcp_proxy to an empty cluster of the name the Service port would have: the proxy takes
// each connection and closes it at once, saying so in its log, as Envoy's tcp_proxy does
// with no upstream. An entry whose local port is one this proxy binds already gets none.
// Both are returned as problems, for the control plane's log.

import { key, type MeshView } from '../mesh-view.ts';
import { POLICIES } from '../policies/index.ts';
import { duration, httpConnectionManager, outboundCluster, serviceListener, socketAddress, tcpProxy, type Obj } from './envoy.ts';
import type { InboundPort, NodeContext } from './resources.ts';
import { routeNamespaceFor, serviceRoutes } from './route-rules.ts';

/** The listener (and, for an HTTP port, its route config) of the entry on `localPort`. */
export const outboundPortName = (localPort: number): string => `outbound|${localPort}`;

export type OutboundPortResources = {
  readonly listeners: readonly Obj[];
  readonly routes: readonly Obj[];
  /** Empty clusters for the entries whose Service port does not exist. */
  readonly clusters: readonly Obj[];
  /** `spec.outbound[i]...: why`, one per entry not served as written. */
  readonly problems: readonly string[];
};

export function outboundPortResources(view: MeshView, node: Extract<NodeContext, { kind: 'proxy' }>, inbound: readonly InboundPort[]): OutboundPortResources {
  const entries = view.workloads.get(key(node.namespace, node.workload))?.spec?.outbound ?? [];
  const taken = takenPorts(node, inbound);
  const listeners: Obj[] = [];
  const routes: Obj[] = [];
  const clusters = new Map<string, Obj>();
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const at = `spec.outbound[${i}]`;
    const localPort = entry.localPort;
    const clash = taken.get(localPort);
    if (clash !== undefined) {
      problems.push(`${at}.localPort: ${localPort} is this proxy's ${clash}, so it gets no listener for ${entry.service}:${entry.port}`);
      return;
    }
    const ns = entry.namespace ?? node.namespace;
    const name = outboundPortName(localPort);
    const svc = view.services.get(key(ns, entry.service));
    const sp = svc?.ports.find((p) => p.port === entry.port);
    let filter: Obj;
    if (svc === undefined || sp === undefined) {
      const cluster = outboundCluster(`${entry.service}.${ns}.svc.${view.mesh.dnsDomain}`, entry.port);
      const why = svc === undefined ? `Service ${ns}/${entry.service} does not exist` : `Service ${ns}/${entry.service} has no port ${entry.port} (its ports: ${svc.ports.map((p) => p.port).join(', ') || 'none'})`;
      problems.push(`${at}: ${why}; its listener on 127.0.0.1:${localPort} closes every connection until it does`);
      clusters.set(cluster, emptyCluster(cluster));
      filter = tcpProxy(name, cluster);
    } else if (sp.protocol === 'tcp') {
      filter = tcpProxy(name, outboundCluster(svc.host, sp.port));
    } else {
      const vh: Obj = { name: serviceListener(svc.host, sp.port), domains: ['*'], routes: serviceRoutes(view, svc, sp, 'proxy', routeNamespaceFor(view, svc, sp, node.namespace)) }; // the caller's consumer routes, as on the outbound port
      for (const p of POLICIES) p.virtualHost?.(vh, { view, flavor: 'proxy', service: svc, port: sp });
      routes.push({ name, virtual_hosts: [vh] });
      // The outbound HCM's policies (the fault filter), for this Service port's routes.
      filter = httpConnectionManager(name, name, (h) => POLICIES.forEach((pol) => pol.outboundHttp?.(h, { view, flavor: 'proxy', target: { service: svc, port: sp } })));
    }
    // The app calls its own proxy on loopback: plaintext, as on the outbound port.
    listeners.push({ name, address: socketAddress('127.0.0.1', localPort), filter_chains: [{ filters: [filter] }] });
  });
  return { listeners, routes, clusters: [...clusters.values()], problems };
}

/** What this proxy binds already, by port: a second listener there would fail to bind and the whole config with it. */
function takenPorts(node: Extract<NodeContext, { kind: 'proxy' }>, inbound: readonly InboundPort[]): Map<number, string> {
  const taken = new Map<number, string>();
  for (const p of inbound) {
    taken.set(p.port, `inbound port ${p.port}`);
    taken.set(p.appPort, `app port ${p.appPort} (where its inbound port ${p.port} forwards to on loopback)`);
  }
  taken.set(node.outboundPort, 'outbound port (--outbound-port)');
  if (node.adminPort !== undefined) taken.set(node.adminPort, 'admin port (--admin-port)');
  return taken;
}

/** A STATIC cluster with no endpoint: every connection forwarded to it is closed. */
function emptyCluster(name: string): Obj {
  return { name, type: 'STATIC', connect_timeout: duration(5000), lb_policy: 'ROUND_ROBIN', load_assignment: { cluster_name: name, endpoints: [] } };
}
