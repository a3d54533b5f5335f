// Builds the handler for a listener: end-user authentication and authorization first (as
// Envoy's jwt_authn and rbac filters sit before its router), then the route step, then
// each rule's own chain, compiled once per config so the per-request work only reads ctx
// (Envoy's per-route FilterConfig).

import type { Authorizer } from '../authz/index.ts';
import type { RouteRule } from '../config/model.ts';
import type { JwtVerifier } from '../jwt/index.ts';
import { SluiceError } from '../errors.ts';
import type { Filter, Handler } from './filter.ts';
import { compose } from './filter.ts';
import { faultFilter } from './filters/fault.ts';
import { requestHeaderModifierFilter, responseHeaderModifierFilter } from './filters/header-modifier.ts';
import { jwtAuthnFilter } from './filters/jwt-authn.ts';
import { requestMirrorFilter } from './filters/mirror.ts';
import { rbacFilter } from './filters/rbac.ts';
import { redirectHandler } from './filters/redirect.ts';
import { routerHandler, type RouterDeps } from './filters/router.ts';
import { timeoutFilter } from './filters/timeout.ts';
import { urlRewriteFilter } from './filters/url-rewrite.ts';
import type { RouteTable } from './route-table.ts';

/** What a listener checks before routing; null: nothing of that kind targets it. */
export type ListenerSecurity = { readonly jwt: JwtVerifier | null; readonly authorize: Authorizer | null };

const OPEN: ListenerSecurity = { jwt: null, authorize: null };

export function buildListenerHandler(table: RouteTable, deps: RouterDeps, security: ListenerSecurity = OPEN): Handler {
  const rules = new Map<RouteRule, Handler>();
  const router = routerHandler(deps);
  const ruleHandler = (rule: RouteRule): Handler => {
    let h = rules.get(rule);
    if (h === undefined) rules.set(rule, (h = buildRuleHandler(rule, router, deps)));
    return h;
  };
  const route: Handler = (ctx) => {
    const matched = table.match(ctx);
    if (matched === undefined) return Promise.reject(new SluiceError('ROUTE_NOT_FOUND'));
    ctx.route = matched;
    return ruleHandler(matched.rule)(ctx);
  };
  const filters: Filter[] = [];
  // Claims first: authorization rules may read them.
  if (security.jwt !== null) filters.push(jwtAuthnFilter(security.jwt));
  if (security.authorize !== null) filters.push(rbacFilter(security.authorize));
  return compose(route, filters);
}

function buildRuleHandler(rule: RouteRule, router: Handler, deps: RouterDeps): Handler {
  const filters: Filter[] = [];
  let terminal = router;
  // Response headers wrap everything after them, local replies of this rule included.
  for (const f of rule.filters) if (f.type === 'ResponseHeaderModifier') filters.push(responseHeaderModifierFilter(f.responseHeaderModifier));
  // An injected delay is not the backend's fault: like Envoy's fault filter, it runs
  // before the request timeout starts.
  if (rule.fault !== undefined) filters.push(faultFilter(rule.fault, deps.random));
  // The timeout clock starts before anything else that may wait (mirrors, the tries).
  // `backendRequest` is each try's own limit, applied by the router.
  if (rule.timeouts.request !== undefined) filters.push(timeoutFilter(rule.timeouts.request));
  // Request headers first: a rewrite or a mirror sees the request as the operator shaped it.
  for (const f of rule.filters) if (f.type === 'RequestHeaderModifier') filters.push(requestHeaderModifierFilter(f.requestHeaderModifier));
  for (const f of rule.filters) if (f.type === 'URLRewrite') filters.push(urlRewriteFilter(f.urlRewrite));
  // Mirrors copy the request exactly as the real backend will get it.
  for (const f of rule.filters) if (f.type === 'RequestMirror') filters.push(requestMirrorFilter(f.requestMirror, deps));
  // A redirect answers here; validation forbids backendRefs beside it.
  for (const f of rule.filters) if (f.type === 'RequestRedirect') terminal = redirectHandler(f.requestRedirect);
  return compose(terminal, filters);
}
