// HTTPRoute and GRPCRoute rules (GAMMA: a Service port is the parent) -> the Envoy routes
// of that Service port's virtual host, ordered by Gateway API precedence, because Envoy
// and gRPC take the first route that matches. The Service's own namespace's routes
// (producer routes) serve every caller but those in a namespace with routes of its own
// for that Service (consumer routes), which get those instead (GEP-1294).

import { parseDuration } from '../../../kinds/schema-kit.ts';
import type { Resource } from '../../api/resource.ts';
import type { GRPCRouteSpec } from '../../api/kinds/grpcroute.ts';
import type { HTTPRouteMatch, HTTPRouteSpec } from '../../api/kinds/httproute.ts';
import { key, type MeshView, type RouteResource, type ServicePortView, type ServiceView } from '../mesh-view.ts';
import { POLICIES, type RouteAt } from '../policies/index.ts';
import { duration, outboundCluster, type Obj } from './envoy.ts';
import type { Flavor } from './resources.ts';
import { applyBackendFilters, applyRouteFilters, redirects, type FilterSpec } from './route-filters.ts';

export type ParentRef = { group?: string; kind?: string; namespace?: string; name: string; sectionName?: string; port?: number };
export type BackendRef = { group?: string; kind?: string; name: string; namespace?: string; port?: number; weight?: number; filters?: FilterSpec[] };
type HeaderMatch = { type?: 'Exact' | 'RegularExpression'; name: string; value: string };

/** One Envoy route before ordering, with the Gateway API precedence it sorts by. */
type Candidate = { rank: number[]; route: Obj };

/** True when `ref` names this Service port as the route's parent. */
export function attaches(ref: ParentRef, routeNamespace: string, svc: ServiceView, sp: ServicePortView): boolean {
  if ((ref.group ?? 'gateway.networking.k8s.io') !== '' && ref.group !== 'core') return false;
  if ((ref.kind ?? 'Gateway') !== 'Service') return false;
  if (ref.name !== svc.name || (ref.namespace ?? routeNamespace) !== svc.namespace) return false;
  if (ref.port !== undefined && ref.port !== sp.port) return false;
  return ref.sectionName === undefined || ref.sectionName === sp.name;
}

/**
 * Whose routes govern calls to `svc`:`sp` from a caller in namespace `caller` (GEP-1294):
 * the caller's own namespace when a route there attaches to this port (consumer routes),
 * else the Service's namespace (producer routes). A caller of unknown namespace (a
 * proxyless client that did not say) gets the producer's.
 */
export function routeNamespaceFor(view: MeshView, svc: ServiceView, sp: ServicePortView, caller: string | undefined): string {
  if (caller === undefined || caller === svc.namespace || view.consumers.get(caller)?.has(key(svc.namespace, svc.name)) !== true) return svc.namespace;
  const attachesHere = (r: RouteResource) => (r.metadata.namespace ?? 'default') === caller && (r.spec?.parentRefs ?? []).some((p) => attaches(p as ParentRef, caller, svc, sp));
  return view.httpRoutes.some(attachesHere) || view.grpcRoutes.some(attachesHere) ? caller : svc.namespace;
}

/**
 * The routes for calls to `svc`:`sp` from callers whose routes are those of namespace
 * `routeNamespace` (routeNamespaceFor). With no route attached, every call goes to the
 * Service itself; with routes attached, a call no rule matches gets 404 (GAMMA). Each
 * route gets its rule's filters (route-filters.ts), then is handed to the policies
 * (control-plane/xds/policies/) before it is sorted; a redirect forwards nothing, so no
 * policy applies to it.
 */
export function serviceRoutes(view: MeshView, svc: ServiceView, sp: ServicePortView, flavor: Flavor, routeNamespace = svc.namespace): Obj[] {
  const candidates: Candidate[] = [];
  let attached = 0;
  const visit = (r: Resource<HTTPRouteSpec> | Resource<GRPCRouteSpec>, grpc: boolean, routeIndex: number) => {
    const ns = r.metadata.namespace ?? 'default';
    if (ns !== routeNamespace || !(r.spec?.parentRefs ?? []).some((p) => attaches(p as ParentRef, ns, svc, sp))) return;
    attached++;
    (r.spec?.rules ?? []).forEach((rule, ruleIndex) => {
      // A backendRef with no namespace is in the route's: the consumer's, for a consumer route.
      const filters = (rule.filters ?? []) as FilterSpec[];
      const redirect = redirects(filters);
      const action = redirect ? null : routeAction(view, ns, (rule.backendRefs ?? []) as BackendRef[], grpc ? undefined : (rule as { timeouts?: { request?: string } }).timeouts?.request);
      // Every backend weighted 0: the rule routes nowhere, so it is left out (404). A backend
      // that does not exist still takes its share, answered 500 (routeAction).
      if (action === null && !redirect) return;
      // grpc-js-xds refuses a whole RouteConfiguration with a route that is not `route`, and a gRPC call cannot follow a redirect.
      if (redirect && flavor === 'generic') return;
      const matches = grpc ? grpcMatches(rule.matches as GrpcMatch[] | undefined) : httpMatches(rule.matches as HTTPRouteMatch[] | undefined);
      const at: RouteAt = { view, flavor, service: svc, port: sp, route: { kind: grpc ? 'GRPCRoute' : 'HTTPRoute', resource: r, rule } };
      matches.forEach(({ match, rank }, matchIndex) => {
        const name = `${ns}/${r.metadata.name}/${(rule as { name?: string }).name ?? ruleIndex}`;
        // Each match is its own Envoy route, with its own copy of the action for the filters and policies to set.
        const route: Obj = action === null ? { name, match } : { name, match, route: { ...action } };
        applyRouteFilters(route, filters, { view, namespace: ns, match });
        if (route.route !== undefined) for (const p of POLICIES) p.route?.(route, at);
        candidates.push({ rank: [...rank, routeIndex, ruleIndex, matchIndex], route });
      });
    });
  };
  view.httpRoutes.forEach((r, i) => visit(r, false, i));
  view.grpcRoutes.forEach((r, i) => visit(r, true, view.httpRoutes.length + i));
  if (attached === 0) {
    const route: Obj = { name: 'default', match: { prefix: '' }, route: { cluster: outboundCluster(svc.host, sp.port) } };
    for (const p of POLICIES) p.route?.(route, { view, flavor, service: svc, port: sp });
    return [route];
  }
  candidates.sort((a, b) => compare(a.rank, b.rank));
  return candidates.map((c) => c.route);
}

function routeAction(view: MeshView, ns: string, refs: readonly BackendRef[], timeout: string | undefined): Obj | null {
  const clusters: Obj[] = [];
  let filtered = false;
  let missing = false;
  for (const ref of refs) {
    const weight = ref.weight ?? 1;
    if (weight === 0) continue;
    const backend = resolveBackend(view, ns, ref);
    if (backend.missing !== undefined) missing = true;
    const cluster: Obj = { name: backend.cluster, weight: { value: weight } };
    applyBackendFilters(cluster, ref.filters ?? []);
    filtered ||= Object.keys(cluster).length > 2;
    clusters.push(cluster);
  }
  if (clusters.length === 0) return null;
  // A backend's own filters live on its weighted_clusters entry, even when it is the only one.
  const action: Obj = clusters.length === 1 && !filtered ? { cluster: clusters[0].name } : { weighted_clusters: { clusters } };
  // Gateway API: the share of a backend that does not exist is answered 500, not given to
  // the others. Its cluster is named as the Service would have it and never generated;
  // Envoy answers a cluster it does not have with this code (a Sluice proxy too, flag NC).
  if (missing) action.cluster_not_found_response_code = 'INTERNAL_SERVER_ERROR';
  // Envoy's default is 15 s; Gateway API's is none, which 0s says.
  action.timeout = duration(timeout === undefined ? 0 : parseDuration(timeout));
  return action;
}

/**
 * The cluster a Service backendRef of a route in `ns` sends to, and why it does not exist
 * when it does not (the route's ResolvedRefs=False BackendNotFound says the same).
 */
export function resolveBackend(view: MeshView, ns: string, ref: BackendRef): { readonly cluster: string; readonly missing?: string } {
  const namespace = ref.namespace ?? ns;
  const svc = view.services.get(key(namespace, ref.name));
  const port = ref.port ?? 0;
  if (svc === undefined) return { cluster: outboundCluster(`${ref.name}.${namespace}.svc.${view.mesh.dnsDomain}`, port), missing: `Service ${namespace}/${ref.name} does not exist` };
  if (!svc.ports.some((p) => p.port === port)) return { cluster: outboundCluster(svc.host, port), missing: `Service ${namespace}/${ref.name} has no TCP port ${port}` };
  return { cluster: outboundCluster(svc.host, port) };
}

type Matched = { match: Obj; rank: number[] };

// Ranks, smaller first: [path kind (exact 0, regex 1, prefix 2), -path length, has method ? 0 : 1, -headers, -query params].
function httpMatches(matches: readonly HTTPRouteMatch[] | undefined): Matched[] {
  const list = matches === undefined || matches.length === 0 ? [{} as HTTPRouteMatch] : matches;
  return list.flatMap((m) => {
    const path = m.path ?? { type: 'PathPrefix', value: '/' };
    const headers = headerMatchers((m.headers ?? []) as HeaderMatch[]);
    if (m.method !== undefined) headers.push({ name: ':method', string_match: { exact: m.method } });
    const query = (m.queryParams ?? []).map((q) => ({ name: q.name, string_match: stringMatch(q as HeaderMatch) }));
    const tail = [m.method === undefined ? 1 : 0, -(m.headers?.length ?? 0), -query.length];
    const extra = (spec: Obj): Obj => ({ ...spec, ...(headers.length > 0 ? { headers } : {}), ...(query.length > 0 ? { query_parameters: query } : {}) });
    const value = path.value ?? '/';
    if (path.type === 'Exact') return [{ match: extra({ path: value }), rank: [0, -value.length, ...tail] }];
    if (path.type === 'RegularExpression') return [{ match: extra({ safe_regex: { regex: value } }), rank: [1, -value.length, ...tail] }];
    // Gateway's PathPrefix matches whole segments: /foo is /foo and /foo/..., never /foobar.
    const trimmed = value.replace(/\/+$/, '');
    if (trimmed === '') return [{ match: extra({ prefix: '/' }), rank: [2, 0, ...tail] }];
    return [
      { match: extra({ path: trimmed }), rank: [2, -trimmed.length, ...tail] },
      { match: extra({ prefix: `${trimmed}/` }), rank: [2, -trimmed.length, ...tail] },
    ];
  });
}

type GrpcMatch = { method?: { type?: 'Exact' | 'RegularExpression'; service?: string; method?: string }; headers?: HeaderMatch[] };

/** gRPC calls are POSTs to /<service>/<method>, so a method match is a path match. */
function grpcMatches(matches: readonly GrpcMatch[] | undefined): Matched[] {
  const list = matches === undefined || matches.length === 0 ? [{} as GrpcMatch] : matches;
  return list.map((m) => {
    const headers = headerMatchers(m.headers ?? []);
    const withHeaders = (spec: Obj): Obj => (headers.length > 0 ? { ...spec, headers } : spec);
    const tail = [1, -headers.length, 0];
    const method = m.method;
    if (method === undefined || (method.service === undefined && method.method === undefined)) return { match: withHeaders({ prefix: '/' }), rank: [2, 0, ...tail] };
    if ((method.type ?? 'Exact') === 'RegularExpression') {
      const regex = `/${method.service ?? '[^/]+'}/${method.method ?? '[^/]+'}`;
      return { match: withHeaders({ safe_regex: { regex } }), rank: [1, -regex.length, ...tail] };
    }
    if (method.method === undefined) return { match: withHeaders({ prefix: `/${method.service}/` }), rank: [2, -(method.service!.length + 1), ...tail] };
    if (method.service === undefined) {
      const regex = `/[^/]+/${escapeRegex(method.method)}`;
      return { match: withHeaders({ safe_regex: { regex } }), rank: [1, -regex.length, ...tail] };
    }
    const path = `/${method.service}/${method.method}`;
    return { match: withHeaders({ path }), rank: [0, -path.length, ...tail] };
  });
}

function headerMatchers(headers: readonly HeaderMatch[]): Obj[] {
  return headers.map((h) => ({ name: h.name.toLowerCase(), string_match: stringMatch(h) }));
}

function stringMatch(m: { type?: string; value: string }): Obj {
  return (m.type ?? 'Exact') === 'Exact' ? { exact: m.value } : { safe_regex: { regex: m.value } };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
