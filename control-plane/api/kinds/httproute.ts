// HTTPRoute: Gateway API's v1 HTTP routing resource (standard channel), attached to a
// Service as Sluice routes mesh traffic (GAMMA). The schema is Gateway API's, so a route
// written for any GAMMA mesh applies unchanged. Its rules (and the checks the upstream CRD
// states as CEL) are kinds/route-rule.ts, shared with the proxy's static file; a backendRef
// here names a Service port (gateway-common.ts).

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../../../kinds/schema-kit.ts';
import { checkHttpRule, checkRuleList, httpRuleSchema } from '../../../kinds/route-rule.ts';
import { defineKind, type Add } from '../kind.ts';
import { apiRuleContext, BACKEND_OBJECT_FIELDS, BackendObjectReference, checkHostnames, checkParentRefs, COMMON_ROUTE_FIELDS, ROUTE_COLUMNS } from './gateway-common.ts';

const Rule = httpRuleSchema(BACKEND_OBJECT_FIELDS, BackendObjectReference);

const HTTPRouteSpec = Type.Object({ ...COMMON_ROUTE_FIELDS, rules: Opt(Type.Array(Rule, { minItems: 1, maxItems: 16 })) }, closed);

export type HTTPRouteSpec = Static<typeof HTTPRouteSpec>;
export type HTTPRouteRule = Static<typeof Rule>;
export type { HttpMatchSpec as HTTPRouteMatch } from '../../../kinds/route-match.ts';

export const httpRouteKind = defineKind({
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  kind: 'HTTPRoute',
  plural: 'httproutes',
  singular: 'httproute',
  shortNames: [],
  scope: 'Namespaced',
  spec: HTTPRouteSpec,
  // kubectl prints the route's status (its parents' conditions); a document copied from it still applies.
  extraFields: ['status'],
  // Gateway API ships its own CRDs; Sluice serves the kind, it does not define it.
  crd: false,
  description: 'Gateway API HTTP routing for the traffic to a Service (GAMMA): matches on path, headers, query and method; header changes, redirects, rewrites and mirroring; weighted backends and timeouts.',
  check: checkHTTPRoute,
  columns: ROUTE_COLUMNS,
});

function checkHTTPRoute(spec: HTTPRouteSpec, add: Add): void {
  checkParentRefs(spec.parentRefs, add);
  checkHostnames(spec.hostnames ?? [], add);
  const ctx = apiRuleContext(add);
  // A rule without matches gets one by default (path prefix /), and it counts toward the cap.
  checkRuleList(spec.rules, 1, 'spec.rules', ctx);
  (spec.rules ?? []).forEach((rule, j) => checkHttpRule(rule, `spec.rules[${j}]`, ctx));
}
