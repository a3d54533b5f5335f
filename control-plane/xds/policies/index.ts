// The mesh policies the generators walk (Kuma's policy plugins): each kind lives in its own
// folder here (what it targets, the Envoy fields it sets, golden files of what it
// generates) and is one entry of POLICIES. A generator builds a resource, then hands it to
// every policy's hook for that resource; a policy sets its fields and leaves the rest.
// Adding a policy is a folder and a line below, not edits across the pipeline.
//
// Hooks run per view (or per view and namespace), never per proxy, wherever the resource is
// shared: what they set must depend only on what `at` says.

import type { Obj } from '../generate/envoy.ts';
import type { Flavor, InboundPort } from '../generate/resources.ts';
import type { MeshView, RouteResource, ServicePortView, ServiceView } from '../mesh-view.ts';
import { authorizationPolicy } from './authorization/generate.ts';
import { circuitBreakerPolicy } from './circuit-breaker/generate.ts';
import { requestAuthentication } from './request-authentication/generate.ts';
import { loadBalancingPolicy } from './load-balancing/generate.ts';
import { faultInjectionPolicy } from './fault-injection/generate.ts';
import { retryPolicy } from './retry/generate.ts';
import { meshTracing } from './tracing/generate.ts';

/** A Service port, whoever reads it: what its ClusterLoadAssignment is generated for. */
export type ServiceAt = {
  readonly view: MeshView;
  readonly service: ServiceView;
  readonly port: ServicePortView;
};

/** A Service port's ClusterLoadAssignment for the nodes of one zone (undefined: nodes that said none), whose localities' priorities are set for it. */
export type AssignmentAt = ServiceAt & { readonly zone: string | undefined };

/** A Service port, for a node flavour: what its cluster and the virtual host of calls to it are generated for. */
export type ServicePortAt = ServiceAt & { readonly flavor: Flavor };

/** One Envoy route of a Service port's virtual host: a route's rule, or (no `route`) the default route of a Service no route attaches to. */
export type RouteAt = ServicePortAt & {
  readonly route?: {
    readonly kind: 'HTTPRoute' | 'GRPCRoute';
    readonly resource: RouteResource;
    /** The rule as the route resource writes it. */
    readonly rule: { readonly name?: string; readonly timeouts?: { readonly request?: string; readonly backendRequest?: string } };
  };
};

/** One inbound HTTP port of one proxy (not shared: per view and proxy): where requests for the Services its Workload serves there arrive. */
/**
 * Where an inbound hook works: one port of a proxy, and the Services its Workload serves on
 * it (each once). No proxy is named: what a hook adds depends on the view, the port and these
 * Services only, so every proxy serving the same Services on the same port shares the
 * listener's HttpConnectionManager, built and packed once per view.
 */
export type InboundAt = {
  readonly view: MeshView;
  readonly port: InboundPort;
  readonly services: readonly ServiceView[];
};

/**
 * An HttpConnectionManager through which calls to Services are routed (shared: per view and
 * flavour): a Sluice proxy's outbound listener, which routes calls to every Service, or the
 * api_listener a proxyless client dials for one Service port.
 */
export type OutboundAt = {
  readonly view: MeshView;
  readonly flavor: Flavor;
  /** The Service port of a proxyless client's listener; absent on a proxy's outbound listener. */
  readonly target?: { readonly service: ServiceView; readonly port: ServicePortView };
};

export type XdsPolicy = {
  /** The policy kind, as the API names it. */
  readonly kind: string;
  /** The ClusterLoadAssignment of a Service port's cluster, shared by every flavour, one per zone of the nodes; its `endpoints` are set, with their priorities. */
  readonly assignment?: (cla: Obj, at: AssignmentAt) => void;
  /** The cluster of a Service port (`outbound|<port>||<host>`). */
  readonly cluster?: (cluster: Obj, at: ServicePortAt) => void;
  /** The virtual host of calls to a Service port, before its routes. */
  readonly virtualHost?: (virtualHost: Obj, at: ServicePortAt) => void;
  /** One route of that virtual host. */
  readonly route?: (route: Obj, at: RouteAt) => void;
  /** The HttpConnectionManager of a proxy's inbound listener, before it is packed: its `http_filters` end with the router. */
  readonly inboundHttp?: (hcm: Obj, at: InboundAt) => void;
  /** The HttpConnectionManager of calls to Services, before it is packed: its `http_filters` end with the router. */
  readonly outboundHttp?: (hcm: Obj, at: OutboundAt) => void;
  /** The network filters of a proxy's inbound tcp listener (one per port, not shared), ending with its tcp_proxy. */
  readonly inboundTcp?: (filters: Obj[], at: InboundAt) => void;
  /**
   * With inboundHttp or inboundTcp: the lists of the view those hooks read (beyond `at.port`
   * and `at.services`, which the key holds already). A proxy's inbound side is kept across
   * views while these lists hold the same objects (own-resources.ts); a policy with an inbound
   * hook and no inboundReads has every proxy's inbound side generated again on every view.
   */
  readonly inboundReads?: (view: MeshView) => readonly (readonly unknown[])[];
};

export const POLICIES: readonly XdsPolicy[] = [
  retryPolicy,
  circuitBreakerPolicy, // the Service's clusters: limits, ejection, health checks (shares circuit_breakers with retryPolicy's budget)
  loadBalancingPolicy, // outbound: which endpoint of the cluster a route picked, and the route's hash for it
  authorizationPolicy, // inbound: decides on a request as it arrived, before anything else runs on it
  requestAuthentication, // inbound: after authorization's hook, so that its jwt_authn filter goes in front of the RBAC filters that read its claims
  faultInjectionPolicy, // outbound: where calls are routed, before the router (and its timeouts and retries)
  meshTracing, // both sides: the HttpConnectionManager's own tracing field, no filter, so its place in the list does not matter
];
