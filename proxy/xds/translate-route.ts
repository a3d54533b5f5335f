// RouteConfiguration -> HTTPRoute-shaped routes: each virtual host is one route (its
// domains the hostnames), each Envoy route one rule with one match.
//
// Envoy takes the first route of a virtual host that matches; the proxy's route table
// orders matches by Gateway API precedence (exact, regex, longest prefix, method, headers,
// query). The control plane generates routes from Gateway API in that precedence, so both
// pick the same rule.

import type { BackendRef, HeaderMatch, HttpRoute, PathMatch, QueryParamMatch, RetryPolicy, RouteFilter, RouteMatch, RouteRule } from '../config/model.ts';
import { anyValue, DURATION, durationMs, enumOf, mapOf, message, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';
import { routeFault } from './translate-fault.ts';
import type { Context } from './translate.ts';
import { ACTION_FILTER_FIELDS, backendFilters, HEADER_FIELDS, REDIRECT, routeFilters } from './translate-filters.ts';
import { HASH_POLICY, translateHashPolicy } from './translate-lb.ts';
import { bufferLimit, RETRY_POLICY, translateRetryPolicy } from './translate-retry.ts';

const REGEX = message({ regex: scalar });
const STRING_MATCH = message({ exact: scalar, safe_regex: REGEX });

const ROUTE = message({
  name: scalar,
  match: message({
    prefix: scalar,
    path: scalar,
    safe_regex: REGEX,
    headers: message({ name: scalar, string_match: STRING_MATCH }),
    query_parameters: message({ name: scalar, string_match: STRING_MATCH }),
  }),
  route: message({
    cluster: scalar,
    weighted_clusters: message({ clusters: message({ name: scalar, weight: WRAPPED, ...HEADER_FIELDS }) }),
    timeout: DURATION,
    retry_policy: RETRY_POLICY,
    ...ACTION_FILTER_FIELDS,
    hash_policy: HASH_POLICY,
    // Only Gateway API's answer for a backend that does not exist: 500 for its share.
    cluster_not_found_response_code: enumOf('INTERNAL_SERVER_ERROR'),
  }),
  redirect: REDIRECT,
  per_request_buffer_limit_bytes: WRAPPED,
  ...HEADER_FIELDS,
  // By HTTP filter name; a Sluice proxy reads the fault filter's (translate-fault.ts).
  typed_per_filter_config: mapOf(anyValue),
});

export const ROUTE_CONFIG = message({
  name: scalar,
  virtual_hosts: message({ name: scalar, domains: scalar, routes: ROUTE, retry_policy: RETRY_POLICY, per_request_buffer_limit_bytes: WRAPPED }),
});

/** Envoy's route timeout when `timeout` is unset (RouteAction.timeout); an explicit 0s means none. */
const ENVOY_DEFAULT_TIMEOUT_MS = 15_000;

export type UnattachedRoute = Omit<HttpRoute, 'parentRefs'>;

/** One route per virtual host, named `<route config>/<virtual host>`. */
export function translateRouteConfig(rc: Pb, ctx: Context, sink: Sink): UnattachedRoute[] {
  const seenNames = new Set<string>();
  const seenDomains = new Map<string, number>();
  return ((rc.virtual_hosts ?? []) as Pb[]).map((vh, i) => {
    const at = sink.at(`virtual_hosts[${i}]`);
    const name = String(vh.name ?? '');
    if (name === '') at.add('name', 'required');
    else if (seenNames.has(name)) at.add('name', `another virtual host is named '${name}'`);
    seenNames.add(name);
    const domains: string[] = vh.domains ?? [];
    if (domains.length === 0) at.add('domains', 'needs at least one domain (* for any)');
    domains.forEach((d, j) => {
      const other = seenDomains.get(d.toLowerCase());
      if (other !== undefined && other !== i) at.add(`domains[${j}]`, `'${d}' is a domain of virtual_hosts[${other}] too`);
      seenDomains.set(d.toLowerCase(), i);
    });
    // A route's retry_policy replaces the virtual host's whole, as in Envoy; its buffer limit is its own field.
    const vhLimit = bufferLimit(vh.per_request_buffer_limit_bytes);
    const inherited: Inherited = { retry: vh.retry_policy === undefined ? undefined : translateRetryPolicy(vh.retry_policy, vhLimit, at.at('retry_policy')), bufferLimit: vhLimit };
    return {
      name: `${rc.name}/${name}`,
      hostnames: hostnames(domains, at),
      rules: ((vh.routes ?? []) as Pb[]).map((r, k) => rule(r, ctx, at.at(`routes[${k}]`), inherited)),
    };
  });
}

/**
 * Domains lower-cased and deduplicated; `*` anywhere means any host (no hostnames). A
 * `host:port` domain stays whole: it matches a request whose authority has that port, and
 * wins over the same host without a port, which matches whatever the port (README, "The
 * mesh over xDS": the port in Host picks the Service port).
 */
function hostnames(domains: readonly string[], sink: Sink): string[] {
  const out = new Set<string>();
  let any = false;
  domains.forEach((d, j) => {
    const lower = d.toLowerCase();
    const port = /:(\d+)$/.exec(lower);
    const host = port === null ? lower : lower.slice(0, port.index);
    if (host === '*' && port === null) any = true;
    else if (host === '' || host.slice(host.startsWith('*.') ? 2 : 0).includes('*')) {
      sink.add(`domains[${j}]`, `'${d}': a Sluice proxy matches exact hosts, *.suffix wildcards and *`);
    } else if (port !== null && host.startsWith('*')) {
      sink.add(`domains[${j}]`, `'${d}': a Sluice proxy matches a port on an exact host only (svc.ns.svc.cluster.local:8080), not on a wildcard`);
    } else if (port !== null && !(Number(port[1]) >= 1 && Number(port[1]) <= 65535)) {
      sink.add(`domains[${j}]`, `'${d}': the port must be 1-65535`);
    } else out.add(port === null ? host : `${host}:${Number(port[1])}`);
  });
  return any ? [] : [...out];
}

/** What a virtual host gives its routes. */
type Inherited = { readonly retry: RetryPolicy | undefined; readonly bufferLimit: number | undefined };

/** Route fields beside its action: a route with none of `route` and `redirect` has nothing to do. */
const NOT_ACTIONS = new Set(['name', 'match', 'per_request_buffer_limit_bytes', 'typed_per_filter_config', ...Object.keys(HEADER_FIELDS)]);

function rule(r: Pb, ctx: Context, sink: Sink, inherited: Inherited): RouteRule {
  const actions = Object.keys(r).filter((k) => !NOT_ACTIONS.has(k));
  if (r.match === undefined) sink.add('match', 'required');
  if (actions.length === 0) sink.add('route', 'required: the cluster(s) to send matching requests to, or a redirect');
  const action: Pb = r.route ?? {};
  const timeouts: { request?: number } = {};
  // A redirect forwards nothing: no timeout, no retries.
  const timeout = r.route === undefined ? 0 : action.timeout === undefined ? ENVOY_DEFAULT_TIMEOUT_MS : durationMs(action.timeout, sink, 'route.timeout');
  if (timeout !== undefined && timeout > 0) timeouts.request = timeout;
  const retry = r.route === undefined ? undefined : retryOf(action, bufferLimit(r.per_request_buffer_limit_bytes), sink, inherited);
  const matched = match(r.match ?? {}, sink.at('match'));
  const filters = routeFilters(r, matched, ctx, sink);
  const hashOn = action.hash_policy === undefined ? [] : translateHashPolicy(action.hash_policy, sink.at('route.hash_policy'));
  const fault = r.typed_per_filter_config === undefined ? undefined : routeFault(r.typed_per_filter_config, sink.at('typed_per_filter_config'));
  return {
    ...(typeof r.name === 'string' && r.name !== '' ? { name: r.name } : {}),
    matches: [matched],
    filters,
    backendRefs: r.route === undefined ? [] : backendRefs(action, filters, ctx, sink.at('route')),
    timeouts,
    ...(retry === undefined ? {} : { retry }),
    ...(hashOn.length === 0 ? {} : { hashOn }),
    ...(fault === undefined ? {} : { fault }),
  };
}

/**
 * The rule's retry policy: the route's retry_policy, else its virtual host's, read whole
 * (the router lays it over the backend's defaults, which it then replaces entirely). With
 * neither, the backend's no-policy defaults hold, as for a static route with no RetryPolicy;
 * a buffer limit alone changes only that.
 */
function retryOf(action: Pb, limit: number | undefined, sink: Sink, inherited: Inherited): Partial<RetryPolicy> | undefined {
  const buffer = limit ?? inherited.bufferLimit;
  if (action.retry_policy !== undefined) return translateRetryPolicy(action.retry_policy, buffer, sink.at('route.retry_policy'));
  if (inherited.retry !== undefined) return limit === undefined ? inherited.retry : { ...inherited.retry, bufferLimitBytes: limit };
  return buffer === undefined ? undefined : { bufferLimitBytes: buffer };
}

function match(m: Pb, sink: Sink): RouteMatch {
  let path: PathMatch = { type: 'PathPrefix', value: '/' };
  if (m.prefix !== undefined) {
    // Envoy's '' (everything) is Gateway API's '/'.
    if (m.prefix !== '' && !String(m.prefix).startsWith('/')) sink.add('prefix', `must start with '/'; got '${m.prefix}'`);
    path = { type: 'PathPrefix', value: m.prefix === '' ? '/' : m.prefix };
  } else if (m.path !== undefined) {
    if (!String(m.path).startsWith('/')) sink.add('path', `must start with '/'; got '${m.path}'`);
    path = { type: 'Exact', value: m.path };
  } else if (m.safe_regex !== undefined) {
    path = { type: 'RegularExpression', value: regex(m.safe_regex, sink, 'safe_regex') };
  } else {
    sink.add('', 'needs one of prefix, path or safe_regex');
  }
  let method: string | undefined;
  const headers: HeaderMatch[] = [];
  ((m.headers ?? []) as Pb[]).forEach((h, i) => {
    const at = sink.at(`headers[${i}]`);
    const name = String(h.name ?? '').toLowerCase();
    if (name === ':method') {
      if (h.string_match?.exact === undefined) at.add('string_match', 'the :method header is matched with exact only');
      else if (method !== undefined) at.add('name', 'a second :method match: a route matches one method');
      else method = String(h.string_match.exact).toUpperCase();
      return;
    }
    if (name === '') at.add('name', 'required');
    else if (name.startsWith(':')) at.add('name', `'${name}': the only pseudo-header a Sluice proxy matches is :method`);
    const value = stringMatch(h, at);
    if (value !== undefined) headers.push({ type: value.type, name, value: value.value });
  });
  const queryParams: QueryParamMatch[] = [];
  ((m.query_parameters ?? []) as Pb[]).forEach((q, i) => {
    const at = sink.at(`query_parameters[${i}]`);
    if (typeof q.name !== 'string' || q.name === '') at.add('name', 'required');
    const value = stringMatch(q, at);
    if (value !== undefined) queryParams.push({ type: value.type, name: String(q.name ?? ''), value: value.value });
  });
  return { path, headers, queryParams, ...(method === undefined ? {} : { method }) };
}

function stringMatch(h: Pb, sink: Sink): { type: 'Exact' | 'RegularExpression'; value: string } | undefined {
  const sm: Pb | undefined = h.string_match;
  if (sm === undefined) {
    // Another matcher (present_match, ...) is reported by the shape check already.
    if (Object.keys(h).every((k) => k === 'name')) sink.add('string_match', 'required: exact or safe_regex');
    return undefined;
  }
  if (sm.exact !== undefined) return { type: 'Exact', value: String(sm.exact) };
  if (sm.safe_regex !== undefined) return { type: 'RegularExpression', value: regex(sm.safe_regex, sink, 'string_match.safe_regex') };
  if (Object.keys(sm).length === 0) sink.add('string_match', 'required: exact or safe_regex');
  return undefined;
}

/** The pattern, after checking JavaScript compiles it as the route table will (anchored, no flags). */
function regex(r: Pb, sink: Sink, path: string): string {
  const source = String(r.regex ?? '');
  if (r.regex === undefined) sink.add(`${path}.regex`, 'required');
  try {
    new RegExp(`^(?:${source})$`);
  } catch (err) {
    sink.add(`${path}.regex`, `JavaScript cannot compile it: ${(err as Error).message}`);
  }
  return source;
}

/**
 * A cluster not received is a dangling reference (NACK), unless the route says to answer
 * it 500 (Envoy's cluster_not_found_response_code): then it stays a backend the router
 * does not have, whose share of the requests is answered 500, flagged NC.
 */
function backendRefs(action: Pb, filters: readonly RouteFilter[], ctx: Context, sink: Sink): BackendRef[] {
  const answered500 = action.cluster_not_found_response_code === 'INTERNAL_SERVER_ERROR';
  const known = (name: string, path: string) => {
    if (name === '') sink.add(path, 'required');
    else if (ctx.refs !== null && !ctx.refs.clusters.has(name) && !answered500) {
      sink.add(path, `no Cluster '${name}' was received (a route may name a missing one only with cluster_not_found_response_code: INTERNAL_SERVER_ERROR)`);
    }
  };
  if (action.cluster !== undefined) {
    known(String(action.cluster), 'cluster');
    return [{ name: String(action.cluster), weight: 1 }];
  }
  const weighted: Pb[] | undefined = action.weighted_clusters?.clusters;
  if (weighted === undefined) {
    if (action.weighted_clusters === undefined) sink.add('', 'needs cluster or weighted_clusters');
    else sink.add('weighted_clusters.clusters', 'needs at least one cluster');
    return [];
  }
  const refs = weighted.map((w, i) => {
    known(String(w.name ?? ''), `weighted_clusters.clusters[${i}].name`);
    const own = backendFilters(w, filters, sink.at(`weighted_clusters.clusters[${i}]`));
    return { name: String(w.name ?? ''), weight: Number(w.weight?.value ?? 0), ...(own === undefined ? {} : { filters: own }) };
  });
  if (refs.reduce((s, r) => s + r.weight, 0) === 0) sink.add('weighted_clusters', 'the weights add up to 0: nothing would be sent');
  return refs;
}
