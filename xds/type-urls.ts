// The type URLs of what the control plane serves and the proxy understands, exactly as
// Envoy names them: an ADS request subscribes to one, and every resource in an Any says
// which one it is.

const PREFIX = 'type.googleapis.com/';

export const TYPE_URLS = {
  Listener: `${PREFIX}envoy.config.listener.v3.Listener`,
  RouteConfiguration: `${PREFIX}envoy.config.route.v3.RouteConfiguration`,
  Cluster: `${PREFIX}envoy.config.cluster.v3.Cluster`,
  ClusterLoadAssignment: `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  Secret: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`,
} as const;

export type ResourceTypeName = keyof typeof TYPE_URLS;
export type TypeUrl = (typeof TYPE_URLS)[ResourceTypeName];

/** Types found inside resources (filters, transport sockets), packed as Any too. */
export const EMBEDDED_TYPE_URLS = {
  HttpConnectionManager: `${PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  Router: `${PREFIX}envoy.extensions.filters.http.router.v3.Router`,
  UpstreamTlsContext: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DownstreamTlsContext: `${PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  TcpProxy: `${PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  HttpProtocolOptions: `${PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  PreviousHostsPredicate: `${PREFIX}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
  PreviousPrioritiesConfig: `${PREFIX}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`,
  RBAC: `${PREFIX}envoy.extensions.filters.http.rbac.v3.RBAC`,
  NetworkRBAC: `${PREFIX}envoy.extensions.filters.network.rbac.v3.RBAC`,
  JwtAuthentication: `${PREFIX}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
  HTTPFault: `${PREFIX}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  HttpInspector: `${PREFIX}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  TlsInspector: `${PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  OpenTelemetryConfig: `${PREFIX}envoy.config.trace.v3.OpenTelemetryConfig`,
} as const;

/** The order a state-of-the-world client needs them in (Envoy's: clusters before their endpoints, listeners before routes, each warmed by the next). */
export const PUSH_ORDER: readonly TypeUrl[] = [TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.Listener, TYPE_URLS.RouteConfiguration, TYPE_URLS.Secret];

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` -> `envoy.config.cluster.v3.Cluster`. */
export function messageNameOf(typeUrl: string): string | undefined {
  const slash = typeUrl.lastIndexOf('/');
  return slash < 0 ? undefined : typeUrl.slice(slash + 1);
}
