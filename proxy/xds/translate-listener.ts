// Listener -> the proxy's listener. The filter chains' shape gives the inbound mTLS mode
// (one TLS chain: STRICT; a TLS and a raw_buffer chain: PERMISSIVE; one plain chain:
// DISABLE), and their one network filter whether it is HTTP (with its routes) or TCP.

import { EMBEDDED_TYPE_URLS, unpack } from '../../xds/index.ts';
import type { AuthorizationPolicy } from '../authz/model.ts';
import { defaultHttpLimits, type Listener, type TlsMode } from '../config/model.ts';
import { ADDRESS, ADS_SOURCE, anyValue, EMPTY, enumOf, message, readTyped, requireAds, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';
import type { Context } from './translate.ts';
import { ROUTE_CONFIG, translateRouteConfig, type UnattachedRoute } from './translate-route.ts';
import { listenerPolicies, NETWORK_RBAC_CONFIG, NETWORK_RBAC_NAME, RBAC_CONFIG, RBAC_NAME, translateRbac, type RbacFilter } from './translate-rbac.ts';
import { checkDownstreamTls } from './translate-tls.ts';
import { isSniListener, sniRoutes } from './translate-sni.ts';
import { JWT_AUTHN_CONFIG, translateJwtAuthn } from './translate-jwt.ts';
import { JWT_AUTHN_FILTER } from '../../xds/jwt-form.ts';
import type { JwtProvider } from '../jwt/model.ts';
import { checkFilterConfig, FAULT_NAME, HTTP_FAULT, withoutFaults } from './translate-fault.ts';
import { TRACING, translateTracing } from './translate-tracing.ts';
import type { TracingConfig } from '../config/model.ts';

export const LISTENER = message({
  name: scalar,
  address: ADDRESS,
  // Transparent capture (capture.ts in the control plane's generators).
  use_original_dst: WRAPPED,
  bind_to_port: WRAPPED,
  traffic_direction: enumOf('INBOUND', 'OUTBOUND'),
  listener_filters: message({ name: scalar, typed_config: anyValue }),
  filter_chains: message({
    filter_chain_match: message({ transport_protocol: scalar, application_protocols: scalar, server_names: scalar }),
    filters: message({ name: scalar, typed_config: anyValue }),
    transport_socket: message({ name: scalar, typed_config: anyValue }),
  }),
});

const HCM = message({
  stat_prefix: scalar,
  codec_type: enumOf('AUTO'),
  rds: message({ config_source: ADS_SOURCE, route_config_name: scalar }),
  route_config: ROUTE_CONFIG,
  http_filters: message({ name: scalar, typed_config: anyValue }),
  // What a Sluice proxy does to every path anyway; an RBAC url_path match relies on it (README, "Authorization").
  normalize_path: WRAPPED,
  merge_slashes: scalar,
  path_with_escaped_slashes_action: enumOf('REJECT_REQUEST'),
  // OpenTelemetry spans (translate-tracing.ts).
  tracing: TRACING,
});
const TCP_PROXY = message({ stat_prefix: scalar, cluster: scalar });

const HCM_NAME = 'envoy.filters.network.http_connection_manager';
const TCP_PROXY_NAME = 'envoy.filters.network.tcp_proxy';
const ROUTER_NAME = 'envoy.filters.http.router';

export type TranslatedListener = {
  readonly listener: Listener;
  /** The RouteConfiguration an HTTP listener reads over RDS. */
  readonly rds?: string;
  /** Routes of an inline route_config, for this listener only. */
  readonly inline?: readonly UnattachedRoute[];
  /** Whether its HTTP filters run envoy.filters.http.fault: only then do the per-route faults of its routes apply, as in Envoy. */
  readonly faultFilter?: boolean;
  /** Its HttpConnectionManager's `tracing`, when it has one (translate.ts checks every listener's agree). */
  readonly tracing?: TracingConfig;
};

type NetworkFilter = { kind: 'http'; rds?: string; inline?: UnattachedRoute[]; authorization: AuthorizationPolicy[]; jwt: JwtProvider[]; faultFilter: boolean; tracing?: TracingConfig } | { kind: 'tcp'; cluster: string; authorization: AuthorizationPolicy[] };

/** undefined when the listener cannot be read far enough to say what it is (its problems are in `sink`). */
export function translateListener(l: Pb, ctx: Context, sink: Sink): TranslatedListener | undefined {
  const name = String(l.name);
  const socket: Pb | undefined = l.address?.socket_address;
  if (socket === undefined) sink.add('address.socket_address', 'required: { address, port_value }');
  else {
    if (typeof socket.address !== 'string' || socket.address === '') sink.add('address.socket_address.address', 'required');
    if (Number(socket.port_value ?? 0) > 65535) sink.add('address.socket_address.port_value', `must be 0-65535; got ${socket.port_value}`);
  }
  const chains: Pb[] = l.filter_chains ?? [];
  const filters = chains.map((c, i) => networkFilter(c, name, ctx, sink.at(`filter_chains[${i}]`)));
  // A zone ingress: routed by SNI, TLS passed through (translate-sni.ts), none of the mTLS shapes below.
  if (isSniListener(l)) {
    const sni = sniRoutes(l, filters, sink);
    if (sni === undefined || socket === undefined) return undefined;
    const direction = l.traffic_direction === undefined ? {} : { direction: l.traffic_direction as 'INBOUND' | 'OUTBOUND' };
    return { listener: { name, address: String(socket.address ?? ''), port: Number(socket.port_value ?? 0), tls: { mode: 'DISABLE' }, protocol: 'tcp', backend: '', authorization: [], ...sni, ...direction } };
  }
  chains.forEach((c, i) => {
    if (c.transport_socket === undefined) return;
    checkDownstreamTls(c.transport_socket, filters[i]?.kind ?? 'http', ctx, sink.at(`filter_chains[${i}].transport_socket`));
  });
  // HTTP chains beside tcp_proxy chains: a port whose protocol is told from each connection
  // (Istio's protocol detection); each group is one of the three mTLS shapes, the same one.
  const httpAt = indexesOf(filters, 'http');
  const tcpAt = indexesOf(filters, 'tcp');
  const sniffed = httpAt.length > 0 && tcpAt.length > 0;
  const groups = sniffed ? [httpAt, tcpAt] : [chains.map((_, i) => i)];
  const modes = groups.map((g) => tlsMode(g.map((i) => ({ chain: chains[i], at: i })), sniffed, sink));
  if (sniffed && modes[0] !== undefined && modes[1] !== undefined && modes[0] !== modes[1]) {
    sink.add('filter_chains', `the HTTP chains ${JSON.stringify(httpAt)} are ${modes[0]} and the tcp_proxy chains ${JSON.stringify(tcpAt)} ${modes[1]}: a port takes one mTLS mode whatever its protocol`);
  }
  for (const g of groups) {
    if (g.length === 2 && JSON.stringify(chains[g[0]].filters) !== JSON.stringify(chains[g[1]].filters)) {
      sink.add(`filter_chains[${g[1]}].filters`, `must be the same as filter_chains[${g[0]}].filters: a PERMISSIVE listener serves mTLS and plaintext alike`);
    }
  }
  const mode = modes.includes(undefined) ? undefined : modes[0];
  const filter = filters[groups[0][0] ?? 0];
  const capture = captureFields(l, chains, filters, sniffed, sink);
  if (mode === undefined || filter === undefined || socket === undefined) return undefined;
  const base = { name, address: String(socket.address ?? ''), port: Number(socket.port_value ?? 0), tls: { mode }, ...capture.fields };
  if (filter.kind === 'tcp') return { listener: { ...base, protocol: 'tcp', backend: filter.cluster, authorization: filter.authorization } };
  const fallback = sniffed ? filters[tcpAt[0]] : undefined;
  const listener: Listener = {
    ...base,
    protocol: 'http',
    limits: { ...defaultHttpLimits },
    escapedSlashes: 'Reject',
    pathParameters: 'Reject',
    authorization: filter.authorization,
    jwt: filter.jwt,
    ...(capture.httpOnly ? { httpOnly: true } : {}),
    ...(fallback?.kind === 'tcp' ? { tcpFallback: { backend: fallback.cluster, authorization: fallback.authorization } } : {}),
  };
  return { listener, faultFilter: filter.faultFilter, ...(filter.tracing === undefined ? {} : { tracing: filter.tracing }), ...(filter.rds === undefined ? {} : { rds: filter.rds }), ...(filter.inline === undefined ? {} : { inline: filter.inline }) };
}

function indexesOf(filters: readonly (NetworkFilter | undefined)[], kind: 'http' | 'tcp'): number[] {
  return filters.flatMap((f, i) => (f?.kind === kind ? [i] : []));
}

const HTTP_INSPECTOR = 'envoy.filters.listener.http_inspector';
/** What http_inspector tells apart on a plaintext connection. */
const SNIFFED = ['http/1.1', 'h2c'];
/** What an HTTP chain under TLS matches by ALPN, beside a tcp_proxy chain for a connection that offered neither. */
const HTTP_ALPN = ['h2', 'http/1.1'];

/**
 * The fields of transparent capture (use_original_dst: a TCP listener, whose own chain is
 * what no other listener takes; bind_to_port false; traffic_direction), and
 * application_protocols, which only an HTTP chain may match: plaintext behind
 * http_inspector, SNIFFED (alone: bytes that are not HTTP are closed, `httpOnly`; beside a
 * tcp_proxy chain: they go there); under TLS, beside a tcp_proxy chain, HTTP_ALPN.
 */
function captureFields(l: Pb, chains: readonly Pb[], filters: readonly (NetworkFilter | undefined)[], sniffed: boolean, sink: Sink): { fields: Partial<Pick<Listener, 'bindToPort' | 'useOriginalDst' | 'direction'>>; httpOnly: boolean } {
  const fields: { bindToPort?: boolean; useOriginalDst?: boolean; direction?: 'INBOUND' | 'OUTBOUND' } = {};
  // A BoolValue whose value is false arrives as {}.
  if (l.bind_to_port !== undefined && l.bind_to_port.value !== true) fields.bindToPort = false;
  if (l.use_original_dst?.value === true) {
    fields.useOriginalDst = true;
    if (filters.some((f) => f?.kind === 'http')) sink.add('filter_chains[0].filters', 'a use_original_dst listener runs a tcp_proxy for the connections no other listener takes (PassthroughCluster or BlackHoleCluster)');
    if (fields.bindToPort === false) sink.add('bind_to_port', 'a use_original_dst listener is where iptables redirects to: it must be bound');
  }
  if (l.traffic_direction !== undefined) fields.direction = l.traffic_direction;
  const inspectors = (l.listener_filters ?? []) as Pb[];
  inspectors.forEach((f, i) => {
    if (f.name !== HTTP_INSPECTOR) sink.add(`listener_filters[${i}].name`, `unknown listener filter '${f.name ?? ''}'; a Sluice proxy runs ${HTTP_INSPECTOR} only`);
    else if (f.typed_config !== undefined) readTyped(f.typed_config, EMBEDDED_TYPE_URLS.HttpInspector, EMPTY, sink, `listener_filters[${i}].typed_config`);
  });
  const sniffing = inspectors.some((f) => f.name === HTTP_INSPECTOR);
  let httpOnly = false;
  let inspected = false;
  chains.forEach((c, i) => {
    const protocols = c.filter_chain_match?.application_protocols as string[] | undefined;
    const at = `filter_chains[${i}].filter_chain_match.application_protocols`;
    const tls = c.transport_socket !== undefined;
    const want = tls ? HTTP_ALPN : SNIFFED;
    if (protocols === undefined) {
      if (sniffed && filters[i]?.kind === 'http') sink.add(at, `required on an HTTP chain beside a tcp_proxy chain: ${JSON.stringify(want)}, or every connection would match both`);
      return;
    }
    if (filters[i]?.kind !== 'http') sink.add(at, `only an HTTP chain matches application_protocols; a tcp_proxy chain takes what the HTTP chain does not`);
    else if (!tls && !sniffing) sink.add(at, `is known only behind ${HTTP_INSPECTOR} (listener_filters)`);
    else if (tls && !sniffed) sink.add(at, `an HTTP chain under TLS matches ALPN only beside a tcp_proxy chain that takes the other connections`);
    else if (!sniffed && chains.length !== 1) sink.add(at, `a Sluice proxy sniffs one plaintext HTTP chain: ${JSON.stringify(SNIFFED)} on the listener's only filter chain, an ${HCM_NAME}, or beside a tcp_proxy chain`);
    else if (JSON.stringify(protocols) !== JSON.stringify(want)) sink.add(at, `must be ${JSON.stringify(want)} (${tls ? 'the ALPN a Sluice proxy offers for HTTP' : `what ${HTTP_INSPECTOR} tells apart`}); got ${JSON.stringify(protocols)}`);
    else {
      if (!tls) inspected = true;
      if (!sniffed) httpOnly = true;
    }
  });
  if (sniffing && !inspected) sink.add('listener_filters', `${HTTP_INSPECTOR} without a plaintext filter chain matching application_protocols ${JSON.stringify(SNIFFED)} tells nothing apart`);
  return { fields, httpOnly };
}

/** One chain (STRICT with TLS, DISABLE without) or a tls and a raw_buffer chain (PERMISSIVE). */
function tlsMode(chains: readonly { chain: Pb; at: number }[], sniffed: boolean, sink: Sink): TlsMode | undefined {
  const protocols = chains.map(({ chain: c, at: i }) => {
    const p = c.filter_chain_match?.transport_protocol;
    if (p !== undefined && p !== 'tls' && p !== 'raw_buffer') sink.add(`filter_chains[${i}].filter_chain_match.transport_protocol`, `must be tls or raw_buffer; got '${p}'`);
    const tls = c.transport_socket !== undefined;
    if ((p === 'tls' && !tls) || (p === 'raw_buffer' && tls)) {
      sink.add(`filter_chains[${i}].transport_socket`, p === 'tls' ? 'required on the chain that matches tls' : 'must be unset on the chain that matches raw_buffer');
    }
    return p;
  });
  if (chains.length === 1) return chains[0].chain.transport_socket === undefined ? 'DISABLE' : 'STRICT';
  if (chains.length === 2 && protocols.includes('tls') && protocols.includes('raw_buffer')) return 'PERMISSIVE';
  const which = sniffed ? `${chains.length} of one protocol (filter_chains ${JSON.stringify(chains.map((c) => c.at))})` : `${chains.length} chains`;
  sink.add('filter_chains', `got ${which}; a Sluice listener has one (STRICT with TLS, DISABLE without) or two matching transport_protocol tls and raw_buffer (PERMISSIVE), for HTTP and, beside it, for TCP`);
  return undefined;
}

function networkFilter(chain: Pb, listener: string, ctx: Context, sink: Sink): NetworkFilter | undefined {
  const all: Pb[] = chain.filters ?? [];
  // A tcp_proxy may come after network RBAC filters (AuthorizationPolicy on a tcp port); nothing else stacks.
  const rbacCount = all.findIndex((f) => f.name !== NETWORK_RBAC_NAME);
  const rbacFilters = rbacCount < 0 ? all : all.slice(0, rbacCount);
  const filters = all.slice(rbacFilters.length);
  if (filters.length !== 1) {
    sink.add('filters', `needs exactly one filter (${HCM_NAME}, or ${TCP_PROXY_NAME} after any ${NETWORK_RBAC_NAME} filters); got ${filters.length} after ${rbacFilters.length} ${NETWORK_RBAC_NAME}`);
    if (filters.length === 0) return undefined;
  }
  const f = filters[0];
  const at = sink.at(`filters[${rbacFilters.length}]`);
  const typeUrl = String(f.typed_config?.type_url ?? '');
  const isHttp = f.name === HCM_NAME || (f.name !== TCP_PROXY_NAME && typeUrl === EMBEDDED_TYPE_URLS.HttpConnectionManager);
  const isTcp = f.name === TCP_PROXY_NAME || (f.name !== HCM_NAME && typeUrl === EMBEDDED_TYPE_URLS.TcpProxy);
  if (f.name !== HCM_NAME && f.name !== TCP_PROXY_NAME) at.add('name', `unknown network filter '${f.name ?? ''}'; a Sluice proxy runs ${HCM_NAME} or ${TCP_PROXY_NAME}`);
  const authorization = connectionPolicies(rbacFilters, sink);
  if (isHttp) {
    if (rbacFilters.length > 0) sink.add('filters[0]', `${NETWORK_RBAC_NAME} before ${HCM_NAME}: a Sluice proxy authorizes an HTTP port's requests (${RBAC_NAME} in http_filters), not its connections`);
    const hcm = readTyped(f.typed_config, EMBEDDED_TYPE_URLS.HttpConnectionManager, HCM, at, 'typed_config');
    return hcm === undefined ? undefined : httpFilter(hcm, listener, ctx, at.at('typed_config'));
  }
  if (isTcp) {
    const tcp = readTyped(f.typed_config, EMBEDDED_TYPE_URLS.TcpProxy, TCP_PROXY, at, 'typed_config');
    if (tcp === undefined) return undefined;
    const cluster = String(tcp.cluster ?? '');
    if (cluster === '') at.add('typed_config.cluster', 'required');
    else if (ctx.refs !== null && !ctx.refs.clusters.has(cluster)) at.add('typed_config.cluster', `no Cluster '${cluster}' was received`);
    return { kind: 'tcp', cluster, authorization };
  }
  if (f.typed_config !== undefined) unknownType(f.typed_config, at, 'typed_config');
  return undefined;
}

function httpFilter(hcm: Pb, listener: string, ctx: Context, sink: Sink): NetworkFilter {
  const filters: Pb[] = hcm.http_filters ?? [];
  const rbac: { filter: RbacFilter; at: string }[] = [];
  let jwt: JwtProvider[] = [];
  let jwtAt: string | undefined;
  let fault: number | undefined;
  if (hcm.normalize_path !== undefined && hcm.normalize_path.value !== true) sink.add('normalize_path', 'a Sluice proxy always normalizes the path: must be { value: true } or unset');
  if (hcm.merge_slashes === false) sink.add('merge_slashes', "a Sluice proxy always merges '//': must be true or unset");
  filters.forEach((h, i) => {
    const last = i === filters.length - 1;
    if (h.name === RBAC_NAME) {
      const config = readTyped(h.typed_config, EMBEDDED_TYPE_URLS.RBAC, RBAC_CONFIG, sink, `http_filters[${i}].typed_config`);
      const filter = config === undefined ? undefined : translateRbac(config, sink.at(`http_filters[${i}].typed_config`));
      if (filter !== undefined) rbac.push({ filter, at: `http_filters[${i}]` });
      // A Sluice proxy authorizes a request as it arrived, before it routes it and injects the route's faults.
      if (fault !== undefined) sink.add(`http_filters[${i}].name`, `${RBAC_NAME} after ${FAULT_NAME} (http_filters[${fault}]): a Sluice proxy authorizes a request before it injects faults`);
      return;
    }
    if (h.name === FAULT_NAME) {
      if (fault !== undefined) sink.add(`http_filters[${i}].name`, `a second ${FAULT_NAME}; the first is http_filters[${fault}]`);
      fault ??= i;
      const config = readTyped(h.typed_config, EMBEDDED_TYPE_URLS.HTTPFault, HTTP_FAULT, sink, `http_filters[${i}].typed_config`);
      if (config !== undefined) checkFilterConfig(config, sink.at(`http_filters[${i}].typed_config`));
      return;
    }
    if (h.name === JWT_AUTHN_FILTER) {
      // The engine reads the claims a token gave, so they must be verified before any RBAC filter runs.
      if (jwtAt !== undefined) sink.add(`http_filters[${i}]`, `a second ${JWT_AUTHN_FILTER} filter (after ${jwtAt}): put every provider in one`);
      else if (rbac.length > 0) sink.add(`http_filters[${i}]`, `must come before the ${RBAC_NAME} filters (${rbac[0].at}), which read the claims it verifies`);
      else if (fault !== undefined) sink.add(`http_filters[${i}]`, `${JWT_AUTHN_FILTER} after ${FAULT_NAME} (http_filters[${fault}]): a Sluice proxy authenticates a request before it injects faults`);
      jwtAt ??= `http_filters[${i}]`;
      const config = readTyped(h.typed_config, EMBEDDED_TYPE_URLS.JwtAuthentication, JWT_AUTHN_CONFIG, sink, `http_filters[${i}].typed_config`);
      if (config !== undefined) jwt = translateJwtAuthn(config, sink.at(`http_filters[${i}].typed_config`));
      return;
    }
    if (h.name !== ROUTER_NAME) {
      sink.add(`http_filters[${i}].name`, `unknown HTTP filter '${h.name ?? ''}'; a Sluice proxy runs ${JWT_AUTHN_FILTER}, ${RBAC_NAME}, ${FAULT_NAME} and ${ROUTER_NAME}`);
      if (h.typed_config !== undefined) unknownType(h.typed_config, sink, `http_filters[${i}].typed_config`);
      return;
    }
    if (!last) sink.add(`http_filters[${i}].name`, `${ROUTER_NAME} must be the last filter`);
    if (h.typed_config !== undefined) readTyped(h.typed_config, EMBEDDED_TYPE_URLS.Router, EMPTY, sink, `http_filters[${i}].typed_config`);
  });
  if (filters.at(-1)?.name !== ROUTER_NAME) sink.add('http_filters', `must end with ${ROUTER_NAME}`);
  const authorization = listenerPolicies(rbac, sink);
  const tracing = hcm.tracing === undefined ? undefined : translateTracing(hcm.tracing, sink.at('tracing'));
  const faultFilter = fault !== undefined;
  const base = { kind: 'http' as const, authorization, jwt, faultFilter, ...(tracing === undefined ? {} : { tracing }) };
  if (hcm.rds !== undefined) {
    requireAds(hcm.rds.config_source, sink, 'rds.config_source');
    const name = String(hcm.rds.route_config_name ?? '');
    if (name === '') sink.add('rds.route_config_name', 'required');
    else if (ctx.refs !== null && !ctx.refs.routes.has(name)) sink.add('rds.route_config_name', `no RouteConfiguration '${name}' was received`);
    return { ...base, rds: name };
  }
  if (hcm.route_config !== undefined) {
    const rc = { ...hcm.route_config, name: hcm.route_config.name || listener };
    const routes = translateRouteConfig(rc, ctx, sink.at('route_config'));
    return { ...base, inline: faultFilter ? routes : withoutFaults(routes) };
  }
  sink.add('', 'needs rds or route_config');
  return base;
}

/** The typed_config of an extension already reported by name: a type no Sluice proxy knows is a problem of its own. */
function unknownType(any: Pb, sink: Sink, path: string): void {
  const read = unpack(any);
  if (!read.ok) sink.add(path, read.error);
}

/**
 * The policies of a tcp chain's network RBAC filters (DENY, then ALLOW, as on an HTTP port).
 * A connection carries no method, path, host, header or token: a rule that reads one could
 * only be read some other way than Envoy's, so it is a NACK (the control plane sends the
 * connection form, kinds/authz-spec.ts forConnections).
 */
function connectionPolicies(filters: readonly Pb[], sink: Sink): AuthorizationPolicy[] {
  const read: { filter: RbacFilter; at: string }[] = [];
  filters.forEach((f, i) => {
    const config = readTyped(f.typed_config, EMBEDDED_TYPE_URLS.NetworkRBAC, NETWORK_RBAC_CONFIG, sink, `filters[${i}].typed_config`);
    if (config === undefined) return;
    if (typeof config.stat_prefix !== 'string' || config.stat_prefix === '') sink.add(`filters[${i}].typed_config.stat_prefix`, 'required (Envoy refuses the filter without it)');
    const { stat_prefix: _, ...rules } = config;
    const filter = translateRbac(rules, sink.at(`filters[${i}].typed_config`));
    if (filter === undefined) return;
    for (const p of filter.policies) {
      p.rules.forEach((r, k) => {
        const http = r.to.length > 0 || r.when.length > 0 || r.from.some((s) => s.requestPrincipals.length > 0 || s.notRequestPrincipals.length > 0);
        if (http) sink.add(`filters[${i}].typed_config.rules.policies['${p.name}']`, `rule ${k} reads a request (a method, path, host, header or token), and a connection has none: send the connection form of the policy`);
      });
    }
    read.push({ filter, at: `filters[${i}]` });
  });
  return listenerPolicies(read, sink);
}
