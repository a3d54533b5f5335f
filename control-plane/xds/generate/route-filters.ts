// Gateway API route filters -> the Envoy fields of the routes they are on (xds/SUBSET.md,
// "Route filters"), one entry per filter type, each in its own file under filters/: a
// filter is a file and a line below. A rule's filters go on every Envoy route of its
// matches; a backendRef's on its `weighted_clusters` entry, where Envoy has fields for them.
// Envoy applies each field at its own fixed step, whatever the list's order, as the
// proxy's rule chain (proxy/http/chain.ts) does.

import type { MeshView } from '../mesh-view.ts';
import type { Obj } from './envoy.ts';
import { requestHeaderModifier, responseHeaderModifier } from './filters/header-modifier.ts';
import { requestMirror } from './filters/request-mirror.ts';
import { requestRedirect } from './filters/request-redirect.ts';
import { urlRewrite } from './filters/url-rewrite.ts';

/** A filter as the route resource writes it (kinds/route-filters/). */
export type FilterSpec = { readonly type: string; readonly [field: string]: unknown };

/** What a filter on one Envoy route may need to know. */
export type FilterAt = {
  readonly view: MeshView;
  /** The route's namespace: where a Service reference without one points. */
  readonly namespace: string;
  /** The Envoy match of this route: a ReplacePrefixMatch replaces what it matched. */
  readonly match: Obj;
};

export type RouteFilterGenerator = {
  /** Gateway API's filter `type`. */
  readonly type: string;
  /**
   * Sets the filter's fields on one Envoy route of its rule, after the route's action
   * (`route.route`, absent when the rule redirects) is built and before policies run.
   * Called once per Envoy route; what it sets depends only on `filter` and `at`.
   */
  readonly route: (route: Obj, filter: FilterSpec, at: FilterAt) => void;
  /** Sets its fields on one `weighted_clusters.clusters[]` entry; absent when Envoy has none there (carried.ts refuses it at apply). */
  readonly backend?: (cluster: Obj, filter: FilterSpec) => void;
};

export const ROUTE_FILTERS: readonly RouteFilterGenerator[] = [
  requestHeaderModifier,
  responseHeaderModifier,
  urlRewrite,
  requestRedirect, // replaces the route's action: nothing is forwarded
  requestMirror,
];

/** The filter types a backendRef may carry over xDS. */
export const BACKEND_FILTER_TYPES: readonly string[] = ROUTE_FILTERS.filter((f) => f.backend !== undefined).map((f) => f.type);

const byType = new Map(ROUTE_FILTERS.map((f) => [f.type, f]));

/** True when the rule answers with a redirect instead of forwarding. */
export function redirects(filters: readonly FilterSpec[]): boolean {
  return filters.some((f) => f.type === requestRedirect.type);
}

/** A rule's filters on one of its Envoy routes. */
export function applyRouteFilters(route: Obj, filters: readonly FilterSpec[], at: FilterAt): void {
  for (const f of filters) byType.get(f.type)?.route(route, f, at);
}

/** A backendRef's filters on its weighted cluster entry. */
export function applyBackendFilters(cluster: Obj, filters: readonly FilterSpec[]): void {
  for (const f of filters) byType.get(f.type)?.backend?.(cluster, f);
}
