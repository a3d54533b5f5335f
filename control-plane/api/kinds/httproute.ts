// HTTPRoute: Gateway API's v1 HTTP routing resource (standard channel), attached to a
// Service as Sluice routes mesh traffic (GAMMA). The schema is Gateway API's, so a route
// written for any GAMMA mesh applies unchanged. Its rules (and the checks the upstream CRD
// states as CEL) are kinds/route-rule.ts, shared with the proxy's static file; a backendRef
// here names a Service port (gateway-common.ts).

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../../../kinds/schema-kit.ts';
import { checkHttpRule, checkRuleList, httpRuleSchema } from '../../../kinds/route-rule.ts';
import { defineKind, type Add } from '../kind.ts';
import { httpRouteNames } from '../kind-names.ts';
import { apiRuleContext, BACKEND_OBJECT_FIELDS, BackendObjectReference, checkHostnames, checkParentRefs, COMMON_ROUTE_FIELDS } from './gateway-common.ts';

const Rule = httpRuleSchema(BACKEND_OBJECT_FIELDS, BackendObjectReference);

const HTTPRouteSpec = Type.Object({ ...COMMON_ROUTE_FIELDS, rules: Opt(Type.Array(Rule, { minItems: 1, maxItems: 16 })) }, closed);

export type HTTPRouteSpec = Static<typeof HTTPRouteSpec>;
export type HTTPRouteRule = Static<typeof Rule>;
export type { HttpMatchSpec as HTTPRouteMatch } from '../../../kinds/route-match.ts';

export const httpRouteKind = defineKind(httpRouteNames, { spec: HTTPRouteSpec, check: checkHTTPRoute });

function checkHTTPRoute(spec: HTTPRouteSpec, add: Add): void {
  checkParentRefs(spec.parentRefs, add);
  checkHostnames(spec.hostnames ?? [], add);
  const ctx = apiRuleContext(add);
  // A rule without matches gets one by default (path prefix /), and it counts toward the cap.
  checkRuleList(spec.rules, 1, 'spec.rules', ctx);
  (spec.rules ?? []).forEach((rule, j) => checkHttpRule(rule, `spec.rules[${j}]`, ctx));
}
