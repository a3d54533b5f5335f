// Envoy resources as the control plane sends them (xds/SUBSET.md), built as plain objects
// and passed through the real wire: `pack` for an ADS response, `decoded` for what the
// proxy's translator gets after `unpack`.

import { EMBEDDED_TYPE_URLS, pack, TYPE_URLS, unpack, type PackedAny } from '../../../xds/index.ts';
import type { Pb, XdsResources } from '../../../proxy/xds/translate.ts';

type Obj = Record<string, unknown>;
const ADS = { ads: {} };

/** A throwaway CA certificate: the translator checks the PEM's form, not its signature. */
export const ROOT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIUQ2w=\n-----END CERTIFICATE-----\n';

export function downstreamTls(alpn: string[] = ['h2', 'http/1.1']): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: pack(EMBEDDED_TYPE_URLS.DownstreamTlsContext, {
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: ADS }],
        validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: ADS },
        ...(alpn.length === 0 ? {} : { alpn_protocols: alpn }),
      },
      require_client_certificate: { value: true },
    }),
  };
}

export function hcm(opts: { rds?: string; inline?: Obj; httpFilters?: Obj[]; extra?: Obj } = {}): Obj {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: pack(EMBEDDED_TYPE_URLS.HttpConnectionManager, {
      stat_prefix: 'http',
      ...(opts.inline === undefined ? { rds: { config_source: ADS, route_config_name: opts.rds ?? 'outbound' } } : { route_config: opts.inline }),
      http_filters: opts.httpFilters ?? [router()],
      ...opts.extra,
    }),
  };
}

export function router(): Obj {
  return { name: 'envoy.filters.http.router', typed_config: pack(EMBEDDED_TYPE_URLS.Router, {}) };
}

export function tcpProxy(cluster: string): Obj {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: pack(EMBEDDED_TYPE_URLS.TcpProxy, { stat_prefix: 'tcp', cluster }) };
}

/** A listener in one of the three chain shapes that give the inbound mTLS mode. */
export function listener(name: string, opts: { port?: number; address?: string; mode?: 'STRICT' | 'PERMISSIVE' | 'DISABLE'; filter?: Obj; extra?: Obj } = {}): Obj {
  const filter = opts.filter ?? hcm({ rds: name });
  const tcp = (opts.filter?.name as string | undefined)?.endsWith('tcp_proxy') === true;
  const tls = downstreamTls(tcp ? [] : undefined);
  const chains =
    opts.mode === 'PERMISSIVE'
      ? [
          { filter_chain_match: { transport_protocol: 'tls' }, filters: [filter], transport_socket: tls },
          { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [filter] },
        ]
      : opts.mode === 'STRICT'
        ? [{ filters: [filter], transport_socket: tls }]
        : [{ filters: [filter] }];
  return { name, address: { socket_address: { address: opts.address ?? '127.0.0.1', port_value: opts.port ?? 0 } }, filter_chains: chains, ...opts.extra };
}

export function route(match: Obj, action: Obj, name?: string): Obj {
  return { ...(name === undefined ? {} : { name }), match, route: action };
}

export function routeConfig(name: string, vhosts: { name: string; domains: string[]; routes: Obj[] }[]): Obj {
  return { name, virtual_hosts: vhosts };
}

export function cluster(name: string, opts: { eds?: boolean; endpoints?: Obj[]; http2?: boolean; lb?: string; tls?: { sans: string[]; sni?: string }; connectTimeout?: Obj; extra?: Obj } = {}): Obj {
  return {
    name,
    ...(opts.eds === false ? { type: 'STATIC', load_assignment: assignment(name, opts.endpoints ?? []) } : { type: 'EDS', eds_cluster_config: { eds_config: ADS } }),
    ...(opts.connectTimeout === undefined ? {} : { connect_timeout: opts.connectTimeout }),
    ...(opts.lb === undefined ? {} : { lb_policy: opts.lb }),
    ...(opts.http2 === true
      ? { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }) } }
      : {}),
    ...(opts.tls === undefined ? {} : { transport_socket: upstreamTls(opts.tls.sans, opts.tls.sni) }),
    ...opts.extra,
  };
}

/** `secrets`: the names the context gives its certificate and its trust bundle (a Sluice proxy knows only default and ROOTCA). */
export function upstreamTls(sans: string[], sni?: string, secrets = { cert: 'default', ca: 'ROOTCA' }): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: pack(EMBEDDED_TYPE_URLS.UpstreamTlsContext, {
      ...(sni === undefined ? {} : { sni }),
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: secrets.cert, sds_config: ADS }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'URI', matcher: { exact: s } })) },
          validation_context_sds_secret_config: { name: secrets.ca, sds_config: ADS },
        },
        alpn_protocols: ['h2'],
      },
    }),
  };
}

/** `localities`: endpoints as [address, port, weight?] per zone ('' = no locality zone). */
export function assignment(name: string, localities: Obj[]): Obj {
  return { cluster_name: name, endpoints: localities };
}

export function locality(zone: string, endpoints: [string, number, number?][]): Obj {
  const weights = endpoints.map(([, , w]) => w ?? 1);
  return {
    ...(zone === '' ? {} : { locality: { zone } }),
    load_balancing_weight: { value: weights.reduce((a, b) => a + b, 0) },
    lb_endpoints: endpoints.map(([address, port, weight]) => ({
      endpoint: { address: { socket_address: { address, port_value: port } } },
      ...(weight === undefined ? {} : { load_balancing_weight: { value: weight } }),
    })),
  };
}

export function rootCa(pem = ROOT_PEM): Obj {
  return { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: pem } } };
}

// --- the wire ---

export const TYPE_OF = { listeners: TYPE_URLS.Listener, routes: TYPE_URLS.RouteConfiguration, clusters: TYPE_URLS.Cluster, endpoints: TYPE_URLS.ClusterLoadAssignment, secrets: TYPE_URLS.Secret } as const;

export function packed(typeUrl: string, resource: Obj): PackedAny {
  return pack(typeUrl, resource);
}

/** The resource as the proxy decodes it off the wire. */
export function decoded(typeUrl: string, resource: Obj): Pb {
  const back = unpack<Pb>(pack(typeUrl, resource));
  if (!back.ok) throw new Error(back.error);
  return back.value;
}

/** Plain resources by type -> the translator's input (maps by name, decoded off the wire). */
export function resources(lists: Partial<Record<keyof typeof TYPE_OF, Obj[]>>): XdsResources {
  const map = (key: keyof typeof TYPE_OF) =>
    new Map((lists[key] ?? []).map((r) => [String(key === 'endpoints' ? r.cluster_name : r.name), decoded(TYPE_OF[key], r)] as const));
  return { listeners: map('listeners'), routes: map('routes'), clusters: map('clusters'), endpoints: map('endpoints'), secrets: map('secrets') };
}
