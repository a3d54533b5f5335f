// Small pieces every generator writes the same way: resource names, ADS config sources,
// durations, socket addresses and the TLS transport sockets (xds/SUBSET.md says which
// fields a Sluice proxy reads; generators write nothing else).

import { isIP } from 'node:net';
import { EMBEDDED_TYPE_URLS, pack } from '../../../xds/index.ts';

export type Obj = Record<string, unknown>;

/** Istio's cluster name for a Service port, so Envoy users find what they expect. */
export const outboundCluster = (host: string, port: number): string => `outbound|${port}||${host}`;
export const inboundName = (port: number): string => `inbound|${port}`;
/** The Listener (and its route config) a proxyless client dials: `xds:///<host>:<port>`. */
export const serviceListener = (host: string, port: number): string => `${host}:${port}`;
/**
 * The SNI a caller sends for a Service port (Istio's format): a zone ingress forwards the
 * connection by it, TLS untouched, to a local instance of that port; a proxy's own inbound
 * listener ignores it.
 */
export const serviceSni = (host: string, port: number): string => `outbound_.${port}_._.${host}`;
export const OUTBOUND = 'outbound';
export const ROOTCA = 'ROOTCA';
export const OWN_CERT = 'default';

export const ADS: Obj = { ads: {} };

export function duration(ms: number): Obj {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function socketAddress(address: string, port: number): Obj {
  return { socket_address: { address, port_value: port } };
}

/** A name is not bindable: a proxy whose Workload is written with a DNS name listens on every address. */
export function bindAddress(address: string): string {
  return isIP(address) !== 0 ? address : '0.0.0.0';
}

const sds = (name: string): Obj => ({ name, sds_config: ADS });

/** ALPN only for HTTP: a TCP listener passes whatever protocol the bytes carry. */
export function downstreamTls(http: boolean): Obj {
  const context = {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [sds(OWN_CERT)],
      validation_context_sds_secret_config: sds(ROOTCA),
      ...(http ? { alpn_protocols: ['h2', 'http/1.1'] } : {}),
    },
    require_client_certificate: { value: true },
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: pack(EMBEDDED_TYPE_URLS.DownstreamTlsContext, context) };
}

/**
 * mTLS to peer proxies: our certificate, the bundle, and only these SPIFFE IDs on the
 * other side. ALPN h2 for HTTP (one multiplexed connection between proxies); none for a TCP
 * port, whose bytes pass as they are, as its inbound listener offers none.
 */
/** The SAN of a cluster with no endpoint: no workload's SPIFFE ID (spiffe://TD/ns/NS/sa/SA) is it. */
export const noEndpointSan = (trustDomain: string): string => `spiffe://${trustDomain}/sluice/no-endpoint`;

export function upstreamTls(sni: string, identities: readonly string[], http: boolean): Obj {
  const context = {
    sni,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [sds(OWN_CERT)],
      combined_validation_context: {
        default_validation_context: { match_typed_subject_alt_names: identities.map((id) => ({ san_type: 'URI', matcher: { exact: id } })) },
        validation_context_sds_secret_config: sds(ROOTCA),
      },
      ...(http ? { alpn_protocols: ['h2'] } : {}),
    },
  };
  return { name: 'envoy.transport_sockets.tls', typed_config: pack(EMBEDDED_TYPE_URLS.UpstreamTlsContext, context) };
}

/** `edit` gets the plain config before it is packed (a policy's inboundHttp or outboundHttp hook). */
export function httpConnectionManager(statPrefix: string, routeConfigName: string, edit?: (hcm: Obj) => void): Obj {
  const hcm: Obj = {
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    rds: { config_source: ADS, route_config_name: routeConfigName },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: pack(EMBEDDED_TYPE_URLS.Router, {}) }],
  };
  edit?.(hcm);
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: pack(EMBEDDED_TYPE_URLS.HttpConnectionManager, hcm) };
}

export function tcpProxy(statPrefix: string, cluster: string): Obj {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: pack(EMBEDDED_TYPE_URLS.TcpProxy, { stat_prefix: statPrefix, cluster }) };
}

export function http2Options(): Obj {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }),
  };
}

/** Tells HTTP/1 and h2c from other bytes on a plaintext connection, for filter chains' application_protocols. */
export function httpInspector(): Obj {
  return { name: 'envoy.filters.listener.http_inspector', typed_config: pack(EMBEDDED_TYPE_URLS.HttpInspector, {}) };
}

/** Reads the SNI of a TLS ClientHello without terminating TLS, for filter chains' server_names (a zone ingress). */
export function tlsInspector(): Obj {
  return { name: 'envoy.filters.listener.tls_inspector', typed_config: pack(EMBEDDED_TYPE_URLS.TlsInspector, {}) };
}
