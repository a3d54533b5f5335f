// The mesh as the generators see it: one immutable view built from the store's resources
// (Mesh, Services, Workloads, routes), with Services already joined to the Workloads they
// select. A new view is built after every change; generators never read the store.

import type { TracingSpec } from '../../kinds/tracing-spec.ts';
import { isIPv4 } from 'node:net';
import type { Resource } from '../api/resource.ts';
import type { GRPCRouteSpec } from '../api/kinds/grpcroute.ts';
import type { HTTPRouteSpec } from '../api/kinds/httproute.ts';
import { DEFAULT_DNS_DOMAIN } from '../api/kind-names.ts';
import type { ServicePort, ServiceSpec } from '../api/kinds/service.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../api/kind-names.ts';
import { workloadId } from '../../certs/index.ts';
import { podInstances, type EndpointSliceResource, type NodeResource, type PodInstance, type PodResource } from '../registry/pods.ts';
import type { RetryPolicyResource } from './policies/retry/generate.ts';
import type { AuthorizationPolicyResource } from './policies/authorization/generate.ts';
import type { CircuitBreakerPolicyResource } from './policies/circuit-breaker/generate.ts';
import type { RequestAuthenticationResource } from './policies/request-authentication/generate.ts';
import type { LoadBalancingPolicyResource } from './policies/load-balancing/generate.ts';
import type { FaultInjectionPolicyResource } from './policies/fault-injection/generate.ts';
import type { ZoneSummary } from '../zone/model.ts';
import { withRemoteZones } from '../zone/remote-services.ts';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export type MeshSettings = {
  readonly trustDomain: string;
  readonly mtlsMode: MtlsMode;
  readonly dnsDomain: string;
  /** The Mesh's spec.tracing: every proxy's HttpConnectionManagers trace with it (policies/tracing/). */
  readonly tracing?: TracingSpec;
};

export type WorkloadSpec = {
  readonly address: string;
  readonly ports?: Readonly<Record<string, number>>;
  readonly zone?: string;
  readonly serviceAccount?: string;
  readonly weight?: number;
  /** The Service ports its app calls through its proxy, each on 127.0.0.1:<localPort>. */
  readonly outbound?: readonly OutboundEntry[];
};

export type OutboundEntry = { readonly service: string; readonly namespace?: string; readonly port: number; readonly localPort: number };

/** One instance behind a Service port: where a caller dials it. */
export type EndpointView = {
  readonly workload: string;
  readonly namespace: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly zone: string | undefined;
  readonly identity: string;
  /**
   * Set on a remote zone's instances of the port, which are ONE endpoint: that zone's
   * ingress (address, port), weight its instance count, zone the remote zone. `identity`
   * is then the first of `identities`, every SPIFFE ID a caller may meet behind it.
   */
  readonly remote?: { readonly identities: readonly string[] };
};

export type ServicePortView = {
  /** The Service port's name; '' when the Service has one unnamed port. */
  readonly name: string;
  readonly port: number;
  /** 'http', 'http2', 'grpc' or 'tcp': how the proxy treats the traffic. */
  readonly protocol: PortProtocol;
  /**
   * The port declares no protocol (no appProtocol, no known name prefix): 'http', and where
   * a proxy can tell (its inbound listener; a captured Service port), a connection that is
   * not HTTP is forwarded as TCP instead of closed (Istio's protocol detection).
   */
  readonly sniffed: boolean;
  readonly endpoints: readonly EndpointView[];
};

export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export type ServiceView = {
  readonly name: string;
  readonly namespace: string;
  /** <name>.<namespace>.svc.<dns domain> */
  readonly host: string;
  readonly ports: readonly ServicePortView[];
  /** spec.clusterIP when it is an IPv4 address: where a captured connection to this Service is going (none: headless, or not given). */
  readonly clusterIP?: string;
};

export type RouteResource = Resource<HTTPRouteSpec> | Resource<GRPCRouteSpec>;

export type MeshView = {
  /** The store revision this view was built at. */
  readonly revision: number;
  /** Under `sluice-cp --role zone --zone NAME`: NAME, the zone of a proxy that says none. */
  readonly localZone?: string;
  readonly mesh: MeshSettings;
  /** By `<namespace>/<name>`. */
  readonly services: ReadonlyMap<string, ServiceView>;
  readonly workloads: ReadonlyMap<string, Resource<WorkloadSpec>>;
  /** The Service resources as stored, by name (what status is written for). */
  readonly serviceResources: readonly Resource<ServiceSpec>[];
  readonly httpRoutes: readonly Resource<HTTPRouteSpec>[];
  readonly grpcRoutes: readonly Resource<GRPCRouteSpec>[];
  /** Oldest first: of two on one target, the first wins (Gateway API's rule for conflicts). */
  readonly retryPolicies: readonly RetryPolicyResource[];
  /** Oldest first, as retryPolicies. */
  readonly circuitBreakerPolicies: readonly CircuitBreakerPolicyResource[];
  /** Every one applies where it targets (DENY, then ALLOW), so their order is the RBAC generator's business. */
  readonly authorizationPolicies: readonly AuthorizationPolicyResource[];
  /**
   * GAMMA consumer routes: by the namespace of a route whose parent is a Service in another
   * namespace, the `<namespace>/<name>` of those Services. Only callers in such a namespace
   * get routes of their own for those Services; every other caller shares the producer's.
   */
  readonly consumers: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every one applies where it targets; of two rules for one issuer on a port, the generator takes the first by namespace/name. */
  readonly requestAuthentications: readonly RequestAuthenticationResource[];
  /** Oldest first, as retryPolicies. */
  readonly loadBalancingPolicies: readonly LoadBalancingPolicyResource[];
  /** Oldest first, as retryPolicies. */
  readonly faultInjectionPolicies: readonly FaultInjectionPolicyResource[];
  /** By Workload `<namespace>/<name>`: every Service port it serves, with its endpoint there. */
  readonly served: ReadonlyMap<string, readonly { readonly service: ServiceView; readonly port: ServicePortView; readonly endpoint: EndpointView }[]>;
  /** The PEM roots every workload trusts (the CA bundle). */
  readonly trustBundle: string;
  /** Every pod the control plane follows (store kubernetes), by `<namespace>/<name>`: the identity of its service account, behind a Service or not. */
  readonly podIdentities: ReadonlyMap<string, string>;
};

export type MeshInputs = {
  readonly revision: number;
  readonly meshes: readonly Resource<{ trustDomain: string; mtls?: { mode: MtlsMode }; dnsDomain?: string; tracing?: TracingSpec }>[];
  readonly services: readonly Resource<ServiceSpec>[];
  readonly workloads: readonly Resource<WorkloadSpec>[];
  readonly httpRoutes: readonly Resource<HTTPRouteSpec>[];
  readonly grpcRoutes: readonly Resource<GRPCRouteSpec>[];
  readonly retryPolicies?: readonly RetryPolicyResource[];
  readonly circuitBreakerPolicies?: readonly CircuitBreakerPolicyResource[];
  readonly authorizationPolicies?: readonly AuthorizationPolicyResource[];
  readonly requestAuthentications?: readonly RequestAuthenticationResource[];
  readonly loadBalancingPolicies?: readonly LoadBalancingPolicyResource[];
  readonly faultInjectionPolicies?: readonly FaultInjectionPolicyResource[];
  readonly trustBundle: string;
  /** The registry of pods (store kubernetes): they join the Workloads a Service selects. */
  readonly endpointSlices?: readonly EndpointSliceResource[];
  readonly pods?: readonly PodResource[];
  readonly nodes?: readonly NodeResource[];
  /** Used when no Mesh resource names one: the CA's. */
  readonly defaultTrustDomain: string;
  /** This control plane's zone (--role zone --zone NAME); a remote summary of it is skipped. */
  readonly localZone?: string;
  /** Every other zone, as the global tells (zone/model.ts): their Services join ours by namespace/name, their instances as one endpoint per zone. */
  readonly remoteZones?: readonly ZoneSummary[];
};

export const key = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

export function buildMeshView(input: MeshInputs): MeshView {
  const meshResource = input.meshes.find((m) => m.metadata.name === 'default') ?? input.meshes[0];
  const mesh: MeshSettings = {
    trustDomain: meshResource?.spec?.trustDomain ?? input.defaultTrustDomain,
    mtlsMode: meshResource?.spec?.mtls?.mode ?? 'PERMISSIVE',
    dnsDomain: meshResource?.spec?.dnsDomain ?? DEFAULT_DNS_DOMAIN,
    ...(meshResource?.spec?.tracing === undefined ? {} : { tracing: meshResource.spec.tracing }),
  };
  const workloads = new Map(input.workloads.map((w) => [key(w.metadata.namespace, w.metadata.name), w]));
  const byNamespace = new Map<string, Resource<WorkloadSpec>[]>();
  for (const w of input.workloads) {
    const ns = w.metadata.namespace ?? 'default';
    const list = byNamespace.get(ns);
    if (list === undefined) byNamespace.set(ns, [w]);
    else list.push(w);
  }
  const podsOf = podInstances({ endpointSlices: input.endpointSlices ?? [], pods: input.pods ?? [], nodes: input.nodes ?? [] });
  const services = new Map<string, ServiceView>();
  for (const s of sortByName(input.services)) {
    const ns = s.metadata.namespace ?? 'default';
    const selected = selectWorkloads(s.spec?.selector, byNamespace.get(ns) ?? []);
    const pods = podsOf.get(key(ns, s.metadata.name)) ?? [];
    const ports = (s.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => portView(p, selected, mesh.trustDomain, pods, input.localZone));
    const clusterIP = s.spec?.clusterIP;
    services.set(key(ns, s.metadata.name), { name: s.metadata.name, namespace: ns, host: `${s.metadata.name}.${ns}.svc.${mesh.dnsDomain}`, ports, ...(clusterIP !== undefined && isIPv4(clusterIP) ? { clusterIP } : {}) });
  }
  if (input.remoteZones !== undefined && input.remoteZones.length > 0) withRemoteZones(services, input.remoteZones, input.localZone, mesh.dnsDomain);
  const served = new Map<string, { service: ServiceView; port: ServicePortView; endpoint: EndpointView }[]>();
  for (const service of services.values()) {
    for (const port of service.ports) {
      for (const endpoint of port.endpoints) {
        // A remote zone's ingress serves nothing of this zone's.
        if (endpoint.remote !== undefined) continue;
        const k = key(endpoint.namespace, endpoint.workload);
        const list = served.get(k);
        if (list === undefined) served.set(k, [{ service, port, endpoint }]);
        else list.push({ service, port, endpoint });
      }
    }
  }
  const httpRoutes = routeOrder(input.httpRoutes);
  const grpcRoutes = routeOrder(input.grpcRoutes);
  const podIdentities = new Map((input.pods ?? []).map((p) => [key(p.metadata.namespace, p.metadata.name), workloadId(mesh.trustDomain, p.metadata.namespace ?? 'default', p.spec?.serviceAccountName || DEFAULT_SERVICE_ACCOUNT)]));
  return {
    revision: input.revision,
    podIdentities,
    mesh,
    services,
    consumers: consumerParents([...httpRoutes, ...grpcRoutes]),
    served,
    workloads,
    serviceResources: sortByName(input.services),
    httpRoutes,
    grpcRoutes,
    retryPolicies: routeOrder(input.retryPolicies ?? []),
    circuitBreakerPolicies: routeOrder(input.circuitBreakerPolicies ?? []),
    authorizationPolicies: input.authorizationPolicies ?? [],
    requestAuthentications: input.requestAuthentications ?? [],
    loadBalancingPolicies: routeOrder(input.loadBalancingPolicies ?? []),
    faultInjectionPolicies: routeOrder(input.faultInjectionPolicies ?? []),
    trustBundle: input.trustBundle,
    ...(input.localZone === undefined ? {} : { localZone: input.localZone }),
  };
}

/** By route namespace, the Services in other namespaces its routes name as parents (GEP-1294: consumer routes). */
function consumerParents(routes: readonly RouteResource[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of routes) {
    const ns = r.metadata.namespace ?? 'default';
    for (const p of (r.spec?.parentRefs ?? []) as readonly { kind?: string; namespace?: string; name: string }[]) {
      if (p.kind !== 'Service' || p.namespace === undefined || p.namespace === ns) continue;
      let set = out.get(ns);
      if (set === undefined) out.set(ns, (set = new Set()));
      set.add(key(p.namespace, p.name));
    }
  }
  return out;
}

/** A Service with no selector selects nothing (Kubernetes: its endpoints are managed by hand). */
export function selectWorkloads(selector: Readonly<Record<string, string>> | undefined, candidates: readonly Resource<WorkloadSpec>[]): Resource<WorkloadSpec>[] {
  if (selector === undefined || Object.keys(selector).length === 0) return [];
  const wanted = Object.entries(selector);
  return sortByName(candidates.filter((w) => wanted.every(([k, v]) => w.metadata.labels?.[k] === v)));
}

function portView(p: ServicePort, selected: readonly Resource<WorkloadSpec>[], trustDomain: string, pods: readonly PodInstance[] = [], localZone?: string): ServicePortView {
  const name = p.name ?? '';
  const endpoints = selected.map((w): EndpointView => {
    const spec = w.spec!;
    const ns = w.metadata.namespace ?? 'default';
    return {
      workload: w.metadata.name,
      namespace: ns,
      address: spec.address,
      port: workloadPort(spec, p),
      weight: spec.weight ?? 1,
      zone: spec.zone ?? localZone,
      identity: workloadId(trustDomain, ns, spec.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT),
    };
  });
  // Pods after VMs: the EndpointSlice holds the pod's port for this Service port, by its name.
  for (const pod of pods) {
    const port = pod.ports.get(name);
    if (port === undefined) continue;
    endpoints.push({ workload: pod.pod, namespace: pod.namespace, address: pod.address, port, weight: 1, zone: pod.zone, identity: workloadId(trustDomain, pod.namespace, pod.serviceAccount) });
  }
  const declared = declaredProtocol(p);
  return { name, port: p.port, protocol: declared ?? 'http', sniffed: declared === undefined, endpoints };
}

/** Where a Workload takes a Service port: its own ports map by name, else the targetPort, else the port. */
export function workloadPort(spec: WorkloadSpec, p: ServicePort): number {
  const named = p.name !== undefined ? spec.ports?.[p.name] : undefined;
  if (named !== undefined) return named;
  if (typeof p.targetPort === 'number') return p.targetPort;
  if (typeof p.targetPort === 'string') {
    const byTargetName = spec.ports?.[p.targetPort];
    if (byTargetName !== undefined) return byTargetName;
    const n = Number(p.targetPort);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return p.port;
}

/**
 * appProtocol first (Kubernetes' field for exactly this): HTTP, HTTP/2 and gRPC by their
 * names, and any other protocol (tcp, redis, mysql, https: TLS the app does itself) is
 * opaque TCP. Without it, Istio's port-name prefixes (grpc-, http2-, tcp-, tls-, https-,
 * mongo-, mysql-, redis-, http-); else undefined: the port declares none (`sniffed`).
 */
export function declaredProtocol(p: Pick<ServicePort, 'name' | 'appProtocol'>): PortProtocol | undefined {
  if (p.appProtocol !== undefined) {
    const app = p.appProtocol.toLowerCase();
    return app === 'http' || app === 'kubernetes.io/ws' ? 'http' : (namedProtocol(app) ?? 'tcp');
  }
  return namedProtocol((p.name ?? '').toLowerCase());
}

const TCP_NAMES = ['tcp', 'tls', 'https', 'mongo', 'mysql', 'redis'];

function namedProtocol(hint: string): PortProtocol | undefined {
  const is = (name: string) => hint === name || hint.startsWith(`${name}-`);
  if (is('grpc')) return 'grpc';
  if (is('http2') || hint === 'kubernetes.io/h2c' || hint === 'h2c') return 'http2';
  if (TCP_NAMES.some(is)) return 'tcp';
  if (is('http')) return 'http';
  return undefined;
}

function sortByName<T extends Resource<unknown>>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => (key(a.metadata.namespace, a.metadata.name) < key(b.metadata.namespace, b.metadata.name) ? -1 : 1));
}

/** Gateway API: among routes, the oldest wins, then alphabetical by namespace/name. */
function routeOrder<T extends Resource<unknown>>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => {
    const [ta, tb] = [a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? ''];
    if (ta !== tb) return ta < tb ? -1 : 1;
    return key(a.metadata.namespace, a.metadata.name) < key(b.metadata.namespace, b.metadata.name) ? -1 : 1;
  });
}
