// The generators, one per resource type. Each reads the MeshView (and, for what is
// particular to one proxy, its NodeContext) and returns plain Envoy objects. What every
// node of a flavour shares is generated once per view by the snapshot cache; route configs
// once per view and the caller's namespace (its short names, its consumer routes), their
// routes once per view and route namespace; only the inbound side is per proxy.

import type { EndpointView, MeshView, PortProtocol, ServicePortView, ServiceView } from '../mesh-view.ts';
import { key } from '../mesh-view.ts';
import {
  ADS, bindAddress, downstreamTls, duration, http2Options, httpConnectionManager, httpInspector, inboundName, OUTBOUND, outboundCluster, ROOTCA,
  noEndpointSan, serviceListener, serviceSni, socketAddress, tcpProxy, upstreamTls, type Obj,
} from './envoy.ts';
import { POLICIES } from '../policies/index.ts';
import { routeNamespaceFor, serviceRoutes } from './route-rules.ts';
import { capturedInbound } from './capture.ts';

/** What the control plane knows of the node on a stream (xds/SUBSET.md, "Nodes"). */
export type NodeContext =
  | {
      readonly kind: 'proxy';
      readonly id: string;
      readonly workload: string;
      readonly namespace: string;
      readonly outboundPort: number;
      readonly appPorts: Readonly<Record<string, number>>;
      /** From `sluice.dev/admin`, when it names a port: a local port of spec.outbound must not take it. */
      readonly adminPort?: number;
      /** In transparent capture (node.ts CAPTURE_KEY): outboundPort is then the capture port. */
      readonly capture?: { readonly inboundPort: number; readonly strictEgress: boolean };
      /** Its zone's ingress (node.ts MODE_KEY): only the SNI passthrough listener on this port. */
      readonly ingress?: { readonly port: number };
      /** node.locality.zone, when sent; the Workload's spec.zone wins over it (proxyZone). */
      readonly zone?: string;
    }
  /** `namespace`: where the client runs, when it says (Istio's NAMESPACE metadata): its consumer routes apply to it. */
  | { readonly kind: 'generic'; readonly id: string; readonly namespace?: string; readonly zone?: string };

/**
 * The zone whose endpoints are a node's failover level 0: a proxy's own zone as the mesh
 * knows it (its Workload's spec.zone; a pod's, its Node's, through the endpoints it serves),
 * else the locality the node sent, else the zone this control plane runs (--role zone).
 */
export function nodeZone(view: MeshView, node: NodeContext): string | undefined {
  if (node.kind === 'generic') return node.zone ?? view.localZone;
  const own = key(node.namespace, node.workload);
  return view.workloads.get(own)?.spec?.zone ?? view.served.get(own)?.find((s) => s.endpoint.zone !== undefined)?.endpoint.zone ?? node.zone ?? view.localZone;
}

export type Flavor = 'proxy' | 'generic';

const CONNECT_TIMEOUT = duration(5000);
const isHttp = (p: PortProtocol) => p !== 'tcp';

function* servicePorts(view: MeshView): Generator<[ServiceView, ServicePortView]> {
  for (const svc of view.services.values()) for (const sp of svc.ports) yield [svc, sp];
}

// --- shared by every node of a flavour ---

/** Every Service port as an EDS cluster. Sluice proxies get mTLS to the peer proxies unless the mesh turned it off. */
export function outboundClusters(view: MeshView, flavor: Flavor): Obj[] {
  const out: Obj[] = [];
  for (const [svc, sp] of servicePorts(view)) {
    const name = outboundCluster(svc.host, sp.port);
    const cluster: Obj = { name, type: 'EDS', eds_cluster_config: { eds_config: ADS }, connect_timeout: CONNECT_TIMEOUT, lb_policy: flavor === 'proxy' ? 'LEAST_REQUEST' : 'ROUND_ROBIN' };
    if (flavor === 'proxy') {
      if (sp.protocol === 'grpc' || sp.protocol === 'http2') cluster.typed_extension_protocol_options = http2Options();
      // A remote zone's ingress endpoint stands for every identity behind it.
      const identities = sp.endpoints.flatMap((e) => e.remote?.identities ?? [e.identity]);
      // No endpoint yet (its Workloads not applied, scaled to zero): a SAN no workload has, so
      // the cluster is valid (a Sluice proxy needs one) and accepts nobody, for Envoy too.
      const sans = identities.length === 0 ? [noEndpointSan(view.mesh.trustDomain)] : [...new Set(identities)].sort();
      if (view.mesh.mtlsMode !== 'DISABLE') cluster.transport_socket = upstreamTls(serviceSni(svc.host, sp.port), sans, isHttp(sp.protocol));
    }
    for (const p of POLICIES) p.cluster?.(cluster, { view, flavor, service: svc, port: sp });
    out.push(cluster);
  }
  return out;
}

/**
 * One locality per zone; gRPC drops a locality without a weight, so each gets its endpoints'
 * sum. `zone`: the zone of the nodes these are for. Its own zone's localities (and those of
 * no zone) are priority 0, every other zone's priority 1 (Envoy's failover levels); with no
 * local endpoint, everything is 0 (gRPC wants the levels to start at 0 without a gap); a node
 * of no zone gets everything at 0. A LoadBalancingPolicy's `zones: Spread` puts every zone
 * at 0 (its assignment hook). With `prioritizedOnly`, only the assignments that come out
 * with a level above 0: the others are the same for every zone, and a zone-less node's.
 */
export function loadAssignments(view: MeshView, zone?: string, prioritizedOnly = false): Obj[] {
  const out: Obj[] = [];
  for (const [svc, sp] of servicePorts(view)) {
    const zones = new Map<string, EndpointView[]>();
    for (const e of sp.endpoints) zones.set(e.zone ?? '', [...(zones.get(e.zone ?? '') ?? []), e]);
    const elsewhere = (z: string) => zone !== undefined && z !== '' && z !== zone;
    const anyLocal = [...zones.keys()].some((z) => !elsewhere(z));
    const endpoints = [...zones.keys()].sort().map((z) => {
      const list = zones.get(z)!;
      const locality: Obj = {
        locality: z === '' ? {} : { zone: z },
        load_balancing_weight: { value: list.reduce((sum, e) => sum + e.weight, 0) },
        lb_endpoints: list.map((e) => ({ endpoint: { address: socketAddress(e.address, e.port) }, load_balancing_weight: { value: e.weight }, ...endpointMetadata(e) })),
      };
      // 0 is proto3's default, left out so that a zone-less node's assignment reads as before.
      if (anyLocal && elsewhere(z)) locality.priority = 1;
      return locality;
    });
    const cla: Obj = { cluster_name: outboundCluster(svc.host, sp.port), endpoints };
    for (const p of POLICIES) p.assignment?.(cla, { view, service: svc, port: sp, zone });
    if (prioritizedOnly && !endpoints.some((l) => l.priority !== undefined)) continue;
    out.push(cla);
  }
  return out;
}

/**
 * Who runs behind an endpoint, as Istio puts it in EDS metadata for its stats filter: what the
 * caller's mesh metrics label the destination with (xds/SUBSET.md). None for another zone's
 * ingress, which stands for many workloads.
 */
function endpointMetadata(e: EndpointView): Obj {
  if (e.remote !== undefined) return {};
  const str = (v: string) => ({ stringValue: v });
  return { metadata: { filter_metadata: { 'sluice.dev': { fields: { workload: str(e.workload), namespace: str(e.namespace), principal: str(e.identity) } } } } };
}

/** For proxyless clients: a Listener per Service port, named as the client dials it. */
export function serviceListeners(view: MeshView): Obj[] {
  const out: Obj[] = [];
  for (const [svc, sp] of servicePorts(view)) {
    if (!isHttp(sp.protocol)) continue;
    const name = serviceListener(svc.host, sp.port);
    const hcm = httpConnectionManager(name, name, (h) => POLICIES.forEach((pol) => pol.outboundHttp?.(h, { view, flavor: 'generic', target: { service: svc, port: sp } })));
    out.push({ name, api_listener: { api_listener: hcm.typed_config } });
  }
  return out;
}

/** The route configs of proxyless clients whose namespace has no consumer routes (or who did not say theirs). */
export function serviceRouteConfigs(view: MeshView): Obj[] {
  const out: Obj[] = [];
  for (const [svc, sp] of servicePorts(view)) if (isHttp(sp.protocol)) out.push(serviceRouteConfig(view, svc, sp, svc.namespace));
  return out;
}

/**
 * For proxyless clients in `namespace`: the route configs its consumer routes change, under
 * the same names as the shared ones they replace (a client dials the Service's name either
 * way). Empty for a namespace with none, whose clients share serviceRouteConfigs.
 */
export function consumerRouteConfigs(view: MeshView, namespace: string): Obj[] {
  const out: Obj[] = [];
  if (!view.consumers.has(namespace)) return out;
  for (const [svc, sp] of servicePorts(view)) {
    if (isHttp(sp.protocol) && routeNamespaceFor(view, svc, sp, namespace) === namespace && namespace !== svc.namespace) out.push(serviceRouteConfig(view, svc, sp, namespace));
  }
  return out;
}

function serviceRouteConfig(view: MeshView, svc: ServiceView, sp: ServicePortView, routeNamespace: string): Obj {
  const name = serviceListener(svc.host, sp.port);
  const vh: Obj = { name, domains: ['*'], routes: routesOf(view, svc, sp, 'generic', routeNamespace) };
  for (const p of POLICIES) p.virtualHost?.(vh, { view, flavor: 'generic', service: svc, port: sp });
  return { name, virtual_hosts: [vh] };
}

/**
 * The outbound listener's routes, by Host: <svc>.<ns>.svc.<domain>, <svc>.<ns>.svc,
 * <svc>.<ns>, and <svc> for the proxy's own namespace, each with and without the port.
 * The names without a port go to one port per Service only (80 if it has it), since
 * Envoy refuses a domain in two virtual hosts. A Service the namespace has consumer routes
 * for gets those (GEP-1294); every other its producer's routes.
 */
export function outboundRouteConfig(view: MeshView, namespace: string): Obj {
  const virtual_hosts: Obj[] = [];
  for (const svc of view.services.values()) {
    const http = svc.ports.filter((p) => isHttp(p.protocol));
    const bare = http.find((p) => p.port === 80) ?? http[0];
    for (const sp of http) {
      const names = [svc.host, `${svc.name}.${svc.namespace}.svc`, `${svc.name}.${svc.namespace}`, ...(svc.namespace === namespace ? [svc.name] : [])];
      const domains = names.flatMap((n) => (sp === bare ? [n, `${n}:${sp.port}`] : [`${n}:${sp.port}`]));
      const routes = routesOf(view, svc, sp, 'proxy', routeNamespaceFor(view, svc, sp, namespace));
      const vh: Obj = { name: serviceListener(svc.host, sp.port), domains, routes };
      for (const p of POLICIES) p.virtualHost?.(vh, { view, flavor: 'proxy', service: svc, port: sp });
      virtual_hosts.push(vh);
    }
  }
  return { name: OUTBOUND, virtual_hosts };
}

// Per view: the routes of a Service port, per flavour and route namespace, generated once and
// shared by every route config that carries them (each namespace's outbound one, for one).
const generatedRoutes = new WeakMap<MeshView, Map<string, Obj[]>>();

function routesOf(view: MeshView, svc: ServiceView, sp: ServicePortView, flavor: Flavor, routeNamespace: string): Obj[] {
  let byKey = generatedRoutes.get(view);
  if (byKey === undefined) generatedRoutes.set(view, (byKey = new Map()));
  const k = `${flavor}|${svc.host}|${sp.port}|${routeNamespace}`;
  let routes = byKey.get(k);
  if (routes === undefined) byKey.set(k, (routes = serviceRoutes(view, svc, sp, flavor, routeNamespace)));
  return routes;
}

export function secrets(view: MeshView): Obj[] {
  return [{ name: ROOTCA, validation_context: { trusted_ca: { inline_string: view.trustBundle } } }];
}

// --- one proxy's own ---

/** `sniffed`: the port declares no protocol, and a connection that is not HTTP goes to the app as TCP (mesh-view.ts). */
export type InboundPort = { readonly port: number; readonly protocol: PortProtocol; readonly sniffed: boolean; readonly appPort: number };

/** The ports this proxy's Workload serves for the Services that select it, each with where its app listens. */
export function inboundPorts(view: MeshView, node: Extract<NodeContext, { kind: 'proxy' }>): InboundPort[] {
  const byPort = new Map<number, InboundPort>();
  // The endpoint already says which port this Workload takes the Service port on.
  for (const { port: sp, endpoint } of view.served.get(key(node.namespace, node.workload)) ?? []) {
    if (!byPort.has(endpoint.port)) byPort.set(endpoint.port, { port: endpoint.port, protocol: sp.protocol, sniffed: sp.sniffed, appPort: node.appPorts[sp.name] ?? endpoint.port });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

/** HttpConnectionManagers every proxy of a view shares, by what they are built from: packed once per view, not once per proxy. */
const sharedManagers = new WeakMap<MeshView, Map<string, Obj>>();

function sharedManager(view: MeshView, id: string, build: () => Obj): Obj {
  let byId = sharedManagers.get(view);
  if (byId === undefined) sharedManagers.set(view, (byId = new Map()));
  let hcm = byId.get(id);
  if (hcm === undefined) byId.set(id, (hcm = build()));
  return hcm;
}

/** The outbound listener's HttpConnectionManager, which every proxy of the view shares (own-resources.ts keys on its bytes). */
export function outboundManager(view: MeshView): Obj {
  return sharedManager(view, OUTBOUND, () => httpConnectionManager(OUTBOUND, OUTBOUND, (hcm) => POLICIES.forEach((pol) => pol.outboundHttp?.(hcm, { view, flavor: 'proxy' }))));
}

// What this reads, with inboundRouteConfigs and inboundClusters, is own-resources.ts's key: keep the two together.
export function proxyListeners(view: MeshView, node: Extract<NodeContext, { kind: 'proxy' }>, inbound: readonly InboundPort[]): Obj[] {
  const address = bindAddress(view.workloads.get(key(node.namespace, node.workload))?.spec?.address ?? '0.0.0.0');
  const served = view.served.get(key(node.namespace, node.workload)) ?? [];
  const listeners = inbound.map((p) => {
    const name = inboundName(p.port);
    const services = [...new Map(served.filter((s) => s.endpoint.port === p.port).map((s) => [key(s.service.namespace, s.service.name), s.service])).values()];
    const at = { view, port: p, services };
    // The hooks see the view, the port and its Services only (policies/index.ts, InboundAt): the same for every proxy serving them.
    const id = `inbound|${p.port}|${p.protocol}|${p.sniffed}|${p.appPort}|${[...services].map((s) => key(s.namespace, s.name)).sort().join(',')}`;
    const http = isHttp(p.protocol) ? [sharedManager(view, id, () => httpConnectionManager(name, name, (hcm) => POLICIES.forEach((pol) => pol.inboundHttp?.(hcm, at))))] : null;
    const tcp = http === null || p.sniffed ? [tcpProxy(name, name)] : null;
    if (tcp !== null) POLICIES.forEach((pol) => pol.inboundTcp?.(tcp, at));
    const address_ = socketAddress(address, p.port);
    const listener = http !== null && tcp !== null ? sniffedListener(name, address_, view.mesh.mtlsMode, http, tcp) : { name, address: address_, filter_chains: filterChains(view.mesh.mtlsMode, http ?? tcp!, http !== null) };
    return node.capture === undefined ? listener : capturedInbound(listener);
  });
  // In capture, virtualOutbound has the outbound port (capture.ts).
  if (node.capture !== undefined) return listeners;
  const outbound = outboundManager(view);
  // OUTBOUND: its spans are client spans (Envoy's rule, policies/tracing/).
  listeners.push({ name: OUTBOUND, address: socketAddress('127.0.0.1', node.outboundPort), traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [outbound] }] });
  return listeners;
}

/** Istio's PeerAuthentication modes as filter chains (xds/SUBSET.md, "Listener"). */
function filterChains(mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE', filters: Obj[], http: boolean): Obj[] {
  if (mode === 'DISABLE') return [{ filters }];
  const tls = { filters, transport_socket: downstreamTls(http) };
  if (mode === 'STRICT') return [tls];
  return [{ ...tls, filter_chain_match: { transport_protocol: 'tls' } }, { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters }];
}

/**
 * A port that declares no protocol: each mTLS chain twice, HTTP first (under TLS by the ALPN
 * a Sluice proxy offers for HTTP, plaintext by http_inspector), then tcp_proxy for the rest.
 */
function sniffedListener(name: string, address: Obj, mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE', http: Obj[], tcp: Obj[]): Obj {
  const httpChains = filterChains(mode, http, true).map((c) => {
    const tls = c.transport_socket !== undefined;
    return { ...c, filter_chain_match: { ...(c.filter_chain_match as Obj | undefined), application_protocols: tls ? ['h2', 'http/1.1'] : ['http/1.1', 'h2c'] } };
  });
  const listener: Obj = { name, address, filter_chains: [...httpChains, ...filterChains(mode, tcp, false)] };
  if (mode !== 'STRICT') listener.listener_filters = [httpInspector()];
  return listener;
}

export function inboundRouteConfigs(inbound: readonly InboundPort[]): Obj[] {
  return inbound
    .filter((p) => isHttp(p.protocol))
    .map((p) => {
      const name = inboundName(p.port);
      return { name, virtual_hosts: [{ name, domains: ['*'], routes: [{ name: 'default', match: { prefix: '' }, route: { cluster: name } }] }] };
    });
}

/** The local app behind each inbound port, plaintext on loopback. */
export function inboundClusters(inbound: readonly InboundPort[]): Obj[] {
  return inbound.map((p) => {
    const name = inboundName(p.port);
    const cluster: Obj = {
      name,
      type: 'STATIC',
      connect_timeout: CONNECT_TIMEOUT,
      lb_policy: 'ROUND_ROBIN',
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', p.appPort) } }] }] },
    };
    if (p.protocol === 'grpc' || p.protocol === 'http2') cluster.typed_extension_protocol_options = http2Options();
    return cluster;
  });
}
