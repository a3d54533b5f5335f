// Envoy's route fields for Gateway API's filters -> the proxy's RouteFilter model, the one
// a static file's `filters` give (xds/SUBSET.md, "Route filters"): header fields of a
// route or weighted cluster entry, the action's rewrites and mirrors, a route's redirect.
// What a Sluice proxy cannot do the way Envoy would is a problem with its path.

import type { BackendFilter, HeaderModifier, HeaderValue, PathModifier, RequestRedirect, RouteFilter, RouteMatch, UrlRewrite } from '../config/model.ts';
import { enumOf, message, scalar, type Pb, type Shape, type Sink } from './shape.ts';
import type { Context } from './translate.ts';

const HEADER_OPTION = message({ header: message({ key: scalar, value: scalar }), append_action: enumOf('APPEND_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS_OR_ADD') });

/** On a route and on a weighted cluster entry alike. */
export const HEADER_FIELDS: Readonly<Record<string, Shape>> = {
  request_headers_to_add: HEADER_OPTION,
  request_headers_to_remove: scalar,
  response_headers_to_add: HEADER_OPTION,
  response_headers_to_remove: scalar,
};

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** RouteAction fields. */
export const ACTION_FILTER_FIELDS: Readonly<Record<string, Shape>> = {
  host_rewrite_literal: scalar,
  prefix_rewrite: scalar,
  regex_rewrite: message({ pattern: message({ regex: scalar }), substitution: scalar }),
  request_mirror_policies: message({
    cluster: scalar,
    runtime_fraction: message({ default_value: message({ numerator: scalar, denominator: enumOf(...Object.keys(DENOMINATORS)) }) }),
  }),
};

const RESPONSE_CODES = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 } as const;

export const REDIRECT = message({
  scheme_redirect: scalar,
  host_redirect: scalar,
  port_redirect: scalar,
  path_redirect: scalar,
  prefix_rewrite: scalar,
  response_code: enumOf(...Object.keys(RESPONSE_CODES)),
});

/** Envoy Gateway's pattern for a whole-path rewrite: the one regex_rewrite a Sluice proxy reads. */
const WHOLE_PATH = '^/.*$';

/** A route's filters: its header fields, its action's rewrites and mirrors, or its redirect. */
export function routeFilters(r: Pb, match: RouteMatch, ctx: Context, sink: Sink): RouteFilter[] {
  const filters: RouteFilter[] = [];
  const request = headerModifier(r, 'request', sink);
  if (request !== undefined) filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: request });
  const response = headerModifier(r, 'response', sink);
  if (response !== undefined) filters.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: response });
  if (r.redirect !== undefined) filters.push({ type: 'RequestRedirect', requestRedirect: redirect(r.redirect, match, sink.at('redirect')) });
  const action: Pb | undefined = r.route;
  if (action === undefined) return filters;
  const rewrite = urlRewrite(action, match, sink.at('route'));
  if (rewrite !== undefined) filters.push({ type: 'URLRewrite', urlRewrite: rewrite });
  ((action.request_mirror_policies ?? []) as Pb[]).forEach((m, i) => {
    const at = sink.at(`route.request_mirror_policies[${i}]`);
    const cluster = String(m.cluster ?? '');
    if (cluster === '') at.add('cluster', 'required');
    else if (ctx.refs !== null && !ctx.refs.clusters.has(cluster)) at.add('cluster', `no Cluster '${cluster}' was received`);
    filters.push({ type: 'RequestMirror', requestMirror: { backendRef: { name: cluster }, percent: mirrorPercent(m.runtime_fraction, at) } });
  });
  return filters;
}

/**
 * A weighted cluster entry's header fields; undefined when it has none. A header its route
 * changes too is a problem: Envoy applies the route's change last, a Sluice proxy the
 * backend's (unless most_specific_header_mutations_wins, which it does not read).
 */
export function backendFilters(cw: Pb, route: readonly RouteFilter[], sink: Sink): BackendFilter[] | undefined {
  const filters: BackendFilter[] = [];
  for (const direction of ['request', 'response'] as const) {
    const where = new Map<string, string>();
    const mod = headerModifier(cw, direction, sink, where);
    if (mod === undefined) continue;
    const filter: BackendFilter = direction === 'request' ? { type: 'RequestHeaderModifier', requestHeaderModifier: mod } : { type: 'ResponseHeaderModifier', responseHeaderModifier: mod };
    const onRoute = new Set(route.flatMap((f) => (f.type === filter.type ? names(modifierOf(f)!) : [])));
    for (const name of names(mod)) {
      if (onRoute.has(name)) sink.add(where.get(name)!, `header '${name}' is changed by the route too: Envoy would apply the route's change after this one, a Sluice proxy applies them the other way round; change it in one place`);
    }
    filters.push(filter);
  }
  return filters.length === 0 ? undefined : filters;
}

// --- headers ---

const modifierOf = (f: RouteFilter): HeaderModifier | undefined => (f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.type === 'ResponseHeaderModifier' ? f.responseHeaderModifier : undefined);
const names = (m: HeaderModifier): string[] => [...m.set.map((h) => h.name), ...m.add.map((h) => h.name), ...m.remove];

/**
 * `<direction>_headers_to_add` / `_to_remove` as a Gateway API header modifier: each header
 * once, as Gateway API allows, so Envoy's remove-then-add and the proxy's order agree.
 * `seen` gets each header's field path.
 */
function headerModifier(target: Pb, direction: 'request' | 'response', sink: Sink, seen = new Map<string, string>()): HeaderModifier | undefined {
  const addField = `${direction}_headers_to_add`;
  const removeField = `${direction}_headers_to_remove`;
  const toAdd = (target[addField] ?? []) as Pb[];
  const toRemove = (target[removeField] ?? []) as unknown[];
  if (toAdd.length === 0 && toRemove.length === 0) return undefined;
  const name = (raw: unknown, at: string): string => {
    const n = String(raw ?? '').toLowerCase();
    if (n === '') sink.add(at, 'required');
    else if (n.startsWith(':') || n === 'host') sink.add(at, `'${n}': Envoy does not let a route's header fields change pseudo-headers or Host`);
    const first = seen.get(n);
    if (first !== undefined) sink.add(at, `header '${n}' is already changed at ${first}: a Sluice proxy changes each header once per route or backend, as a Gateway API modifier does`);
    seen.set(n, at);
    return n;
  };
  const set: HeaderValue[] = [];
  const add: HeaderValue[] = [];
  toAdd.forEach((o, i) => {
    const at = `${addField}[${i}]`;
    const value = commandFree(String(o.header?.value ?? ''), sink, `${at}.header.value`);
    const h = { name: name(o.header?.key, `${at}.header.key`), value };
    (o.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD' ? set : add).push(h);
  });
  const remove = toRemove.map((n, i) => name(n, `${removeField}[${i}]`));
  return { set, add, remove };
}

/** A header value with Envoy's `%%` read as '%'; any other '%' starts a command (%DOWNSTREAM_REMOTE_ADDRESS%) a Sluice proxy does not evaluate. */
function commandFree(value: string, sink: Sink, path: string): string {
  if (/%(?!%)/.test(value.replaceAll('%%', ''))) sink.add(path, `'${value}': a Sluice proxy does not evaluate Envoy's %COMMAND% substitutions; a literal '%' is written '%%'`);
  return value.replaceAll('%%', '%');
}

// --- paths ---

function urlRewrite(action: Pb, match: RouteMatch, sink: Sink): UrlRewrite | undefined {
  const host = action.host_rewrite_literal;
  let path: PathModifier | undefined;
  if (action.prefix_rewrite !== undefined) path = prefixRewrite(String(action.prefix_rewrite), match, sink, 'prefix_rewrite');
  if (action.regex_rewrite !== undefined) {
    if (path !== undefined) sink.add('regex_rewrite', 'does not go with prefix_rewrite');
    path = wholePath(action.regex_rewrite, sink.at('regex_rewrite'));
  }
  if (host !== undefined && String(host) === '') sink.add('host_rewrite_literal', 'must not be empty');
  if (host === undefined && path === undefined) return undefined;
  return { ...(host === undefined ? {} : { hostname: String(host) }), ...(path === undefined ? {} : { path }) };
}

/**
 * Envoy's prefix_rewrite replaces the matched prefix as a string; Gateway API's
 * ReplacePrefixMatch, as the proxy applies it, replaces whole segments. They agree when
 * the match is a whole path (it becomes the rewrite), or a prefix that is '/' or ends in
 * '/' rewritten to a value ending in '/' (how the control plane sends a PathPrefix).
 */
function prefixRewrite(value: string, match: RouteMatch, sink: Sink, path: string): PathModifier | undefined {
  if (!value.startsWith('/')) return void sink.add(path, `must start with '/'; got '${value}'`);
  if (match.path.type === 'Exact') return { type: 'ReplaceFullPath', replaceFullPath: value };
  if (match.path.type === 'RegularExpression') return void sink.add(path, 'a Sluice proxy rewrites the prefix of a prefix or path match, not of a safe_regex match');
  const prefix = match.path.value;
  if (!(prefix.endsWith('/') && value.endsWith('/'))) {
    return void sink.add(path, `'${value}' after prefix '${prefix}': a Sluice proxy replaces whole path segments, so the prefix and its rewrite both end in '/' (Gateway API's PathPrefix /foo is sent as path /foo and prefix /foo/)`);
  }
  return { type: 'ReplacePrefixMatch', replacePrefixMatch: value };
}

/** regex_rewrite over the whole path, the substitution a literal path ('\\' doubled, no group references). */
function wholePath(r: Pb, sink: Sink): PathModifier | undefined {
  if (r.pattern?.regex !== WHOLE_PATH) return void sink.add('pattern.regex', `'${r.pattern?.regex ?? ''}': a Sluice proxy rewrites the whole path only, with pattern '${WHOLE_PATH}'`);
  const substitution = String(r.substitution ?? '');
  if (/\\(?!\\)/.test(substitution.replaceAll('\\\\', ''))) return void sink.add('substitution', `'${substitution}': a Sluice proxy takes a literal path ('\\\\' for a backslash), no group references`);
  const value = substitution.replaceAll('\\\\', '\\');
  if (!value.startsWith('/')) return void sink.add('substitution', `must start with '/'; got '${value}'`);
  return { type: 'ReplaceFullPath', replaceFullPath: value };
}

// --- redirect and mirror ---

function redirect(r: Pb, match: RouteMatch, sink: Sink): RequestRedirect {
  const scheme = r.scheme_redirect;
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') sink.add('scheme_redirect', `a Sluice proxy redirects to http or https; got '${scheme}'`);
  const port = r.port_redirect === undefined ? undefined : Number(r.port_redirect);
  if (port !== undefined && !(port >= 1 && port <= 65535)) sink.add('port_redirect', `must be a port (1-65535); got ${port}`);
  if (r.host_redirect !== undefined && String(r.host_redirect) === '') sink.add('host_redirect', 'must not be empty');
  let path: PathModifier | undefined;
  if (r.path_redirect !== undefined) {
    const value = String(r.path_redirect);
    // Envoy lets a query in path_redirect replace the request's; a Sluice proxy keeps the request's.
    if (!value.startsWith('/') || value.includes('?')) sink.add('path_redirect', `must be a path starting with '/', without a query; got '${value}'`);
    path = { type: 'ReplaceFullPath', replaceFullPath: value };
  } else if (r.prefix_rewrite !== undefined) path = prefixRewrite(String(r.prefix_rewrite), match, sink, 'prefix_rewrite');
  return {
    ...(scheme === 'http' || scheme === 'https' ? { scheme } : {}),
    ...(r.host_redirect === undefined ? {} : { hostname: String(r.host_redirect) }),
    ...(path === undefined ? {} : { path }),
    ...(port === undefined ? {} : { port }),
    // Envoy's default when unset (enum 0) is 301.
    statusCode: RESPONSE_CODES[(r.response_code ?? 'MOVED_PERMANENTLY') as keyof typeof RESPONSE_CODES],
  };
}

/** runtime_fraction.default_value as a percent; unset, every request (Envoy's default). */
function mirrorPercent(fraction: Pb | undefined, sink: Sink): number {
  if (fraction === undefined) return 100;
  const d: Pb = fraction.default_value ?? {};
  if (fraction.default_value === undefined) sink.add('runtime_fraction.default_value', 'required');
  const denominator = DENOMINATORS[(d.denominator ?? 'HUNDRED') as keyof typeof DENOMINATORS];
  // Envoy caps a numerator above its denominator at every request.
  return Math.min(100, (Number(d.numerator ?? 0) * 100) / denominator);
}
