// What the API accepts is what every proxy enforces. A resource can be valid and still be
// something a proxy that follows this control plane would not do: a kind, field or route
// filter the xDS pipeline does not carry yet, or settings that contradict the control
// plane itself (a Mesh whose trust domain is not the CA's). Those are refused at apply, 422
// with the field path and why, checked after validation and before any write; never stored
// and quietly ignored while every proxy shows SYNCED.
//
// Every kind is carried over xDS now (control-plane/xds/policies/, one folder each); what
// is left here are the fields Envoy's own fields cannot say, each with why. The proxy's
// static file takes them (README, "The mesh over xDS").

import { parseDuration, type Violation } from '../../kinds/schema-kit.ts';
import { BACKEND_FILTER_TYPES } from '../xds/generate/route-filters.ts';
import type { Resource } from './resource.ts';

/** What the running control plane is, for the checks that compare a resource with it. */
export type ControlPlaneFacts = {
  /** The trust domain of the control plane's CA: every SVID it signs is in it. */
  readonly trustDomain: string;
  /** sluice-cp --role; absent: standalone. A global's Mesh reaches zones that cross sites only through zone ingresses. */
  readonly role?: 'standalone' | 'global' | 'zone';
};

const STATIC_ONLY = 'a proxy run from a static file (sluice-proxy --config) takes it; proxies that follow the control plane cannot be told it in Envoy\'s fields';

type HeaderModifier = { set?: { name: string }[]; add?: { name: string }[]; remove?: string[] };
type RouteFilter = { type: string; requestHeaderModifier?: HeaderModifier; responseHeaderModifier?: HeaderModifier };
type RouteRule = { filters?: RouteFilter[]; backendRefs?: { filters?: RouteFilter[] }[] };
type RouteSpec = { hostnames?: string[]; rules?: RouteRule[] };
type MeshSpec = { trustDomain?: string; mtls?: { mode?: string } };
type JwtSpec = { jwtRules?: { clockSkew?: string; outputClaimToHeaders?: { claim: string }[] }[] };
type RetrySpec = { budget?: { percent?: number; ttl?: string } };
type FaultSpec = { targetRefs?: { kind?: string }[]; delay?: { fixedDelay?: string }; abort?: { httpStatus?: number; grpcStatus?: number } };

/** Why this valid resource cannot be accepted by this control plane; empty when it can. */
export function notCarried(resource: Resource, facts: ControlPlaneFacts): Violation[] {
  const out: Violation[] = [];
  const kind = resource.kind;
  if (kind === 'HTTPRoute' || kind === 'GRPCRoute') routeFields(resource as Resource<RouteSpec>, out);
  if (kind === 'RequestAuthentication') jwtFields(resource as Resource<JwtSpec>, out);
  if (kind === 'RetryPolicy') retryFields(resource as Resource<RetrySpec>, out);
  if (kind === 'FaultInjectionPolicy') faultFields(resource as Resource<FaultSpec>, out);
  if (kind === 'Mesh') {
    const td = (resource.spec as MeshSpec | undefined)?.trustDomain;
    if (td !== undefined && td !== facts.trustDomain) {
      out.push({
        path: 'spec.trustDomain',
        message: `'${td}' is not the trust domain of this control plane's CA ('${facts.trustDomain}'): every workload certificate it signs names spiffe://${facts.trustDomain}/..., so peers would refuse each other; set trustDomain: ${facts.trustDomain}, or start sluice-cp on a data folder whose CA is for ${td}`,
      });
    }
    // A zone ingress forwards by the SNI of the caller's TLS and never terminates it
    // (issue 18): with mTLS off every proxy calls in plaintext, and no call could cross sites.
    if (facts.role === 'global' && (resource.spec as MeshSpec | undefined)?.mtls?.mode === 'DISABLE') {
      out.push({
        path: 'spec.mtls.mode',
        message: 'DISABLE cannot hold in a mesh of zones: a call reaches another zone only through its zone ingress, which routes by the SNI of the caller\'s mTLS connection and passes it through, so with mTLS off no call could cross sites; use PERMISSIVE to accept plaintext callers while proxies still call each other with mTLS',
      });
    }
  }
  return out;
}

function routeFields(route: Resource<RouteSpec>, out: Violation[]): void {
  // A parent in another namespace is a GAMMA consumer route: carried, to callers in the route's namespace (control-plane/xds/generate/route-rules.ts).
  if ((route.spec?.hostnames?.length ?? 0) > 0) {
    out.push({ path: 'spec.hostnames', message: 'hostnames are not carried over xDS: a mesh route applies to every call to its parent Service, whatever the Host, so they would be ignored; refused rather than stored and ignored (leave them out)' });
  }
  (route.spec?.rules ?? []).forEach((rule, r) => routeFilters(rule, `spec.rules[${r}]`, out));
}

const MODIFIERS = ['requestHeaderModifier', 'responseHeaderModifier'] as const;

/**
 * Route filters are carried in Envoy's route fields (control-plane/xds/generate/route-filters.ts),
 * a backendRef's only where Envoy's weighted cluster entry has fields for them; and Envoy
 * refuses a route whose header fields name Host.
 */
function routeFilters(rule: RouteRule, path: string, out: Violation[]): void {
  const ruleNames = (field: (typeof MODIFIERS)[number]) => new Map(modified(rule.filters ?? [], field).map(([name, at]) => [name, `filters${at}`]));
  const onRule = { requestHeaderModifier: ruleNames('requestHeaderModifier'), responseHeaderModifier: ruleNames('responseHeaderModifier') };
  hostHeader(rule.filters ?? [], `${path}.filters`, out);
  (rule.backendRefs ?? []).forEach((b, k) => {
    const at = `${path}.backendRefs[${k}].filters`;
    (b.filters ?? []).forEach((f, j) => {
      if (!BACKEND_FILTER_TYPES.includes(f.type)) {
        out.push({ path: `${at}[${j}].type`, message: `a backendRef's ${f.type} has no field in Envoy's weighted cluster entry, where a backend's own filters go over xDS, so no joined proxy would apply it: refused rather than stored and ignored (a backendRef carries ${BACKEND_FILTER_TYPES.join(' and ')}; put ${f.type} on the rule)` });
      }
    });
    hostHeader(b.filters ?? [], at, out);
    // Envoy applies a route's header changes after its weighted cluster's, a Sluice proxy before: the same header at both would end differently.
    for (const field of MODIFIERS) {
      for (const [name, where] of modified(b.filters ?? [], field)) {
        const first = onRule[field].get(name);
        if (first !== undefined) out.push({ path: `${at}${where}`, message: `header '${name}' is also modified by the rule's ${first}: Envoy and a Sluice proxy apply a rule's and a backend's header changes in opposite orders, so the result would depend on the proxy; refused rather than carried ambiguously (modify each header in one place)` });
      }
    }
  });
}

/** Each header a list's modifiers of `field` name, lower-cased, with where: `[k].requestHeaderModifier.set[i].name`. */
function modified(filters: readonly RouteFilter[], field: (typeof MODIFIERS)[number]): [string, string][] {
  const out: [string, string][] = [];
  filters.forEach((f, k) => {
    const m = f[field];
    if (m === undefined) return;
    for (const list of ['set', 'add'] as const) (m[list] ?? []).forEach((h, i) => out.push([h.name.toLowerCase(), `[${k}].${field}.${list}[${i}].name`]));
    (m.remove ?? []).forEach((name, i) => out.push([name.toLowerCase(), `[${k}].${field}.remove[${i}]`]));
  });
  return out;
}

function hostHeader(filters: readonly RouteFilter[], path: string, out: Violation[]): void {
  for (const field of MODIFIERS) {
    for (const [name, where] of modified(filters, field)) {
      if (name === 'host') out.push({ path: `${path}${where}`, message: "Envoy refuses a route whose header fields change Host, so no joined proxy would take it: refused (a URLRewrite filter's hostname rewrites Host)" });
    }
  }
}

/** A RetryPolicy's budget goes to Envoy's retry_budget (control-plane/xds/policies/retry/), which has no window and at most 100 %. */
function retryFields(policy: Resource<RetrySpec>, out: Violation[]): void {
  const budget = policy.spec?.budget;
  if (budget?.ttl !== undefined) {
    out.push({ path: 'spec.budget.ttl', message: `Envoy's retry_budget has no window, so proxies that follow the control plane count retries over their fixed 10s: refused rather than stored and ignored (leave it out); ${STATIC_ONLY}` });
  }
  if (budget?.percent !== undefined && budget.percent > 100) {
    out.push({ path: 'spec.budget.percent', message: `Envoy's retry_budget.budget_percent is at most 100; got ${budget.percent}: refused rather than stored and ignored; ${STATIC_ONLY}` });
  }
}

/**
 * A FaultInjectionPolicy is carried as Envoy's fault filter (control-plane/xds/policies/fault-injection/),
 * whose abort is one status (http_status or grpc_status, not one for gRPC calls and another
 * for the rest) and whose fixed_delay is above 0.
 */
function faultFields(policy: Resource<FaultSpec>, out: Violation[]): void {
  const spec = policy.spec;
  const abort = spec?.abort;
  const onHttpRoute = (spec?.targetRefs ?? []).some((t) => t.kind === 'HTTPRoute');
  if (abort?.grpcStatus !== undefined && onHttpRoute) {
    out.push({
      path: 'spec.abort.grpcStatus',
      message: `Envoy's abort is one status: an HTTPRoute's requests need not be gRPC calls, and with grpc_status Envoy would answer the others 200, not ${abort.httpStatus ?? 503}; over xDS a policy on an HTTPRoute aborts with httpStatus only (a gRPC client reads 503 as UNAVAILABLE), or put grpcStatus in a policy on a GRPCRoute: refused rather than stored and ignored; ${STATIC_ONLY}`,
    });
  } else if (abort?.grpcStatus !== undefined && abort.httpStatus !== undefined) {
    out.push({ path: 'spec.abort.httpStatus', message: `Envoy's abort is one status, and a GRPCRoute's calls get grpcStatus: httpStatus would be ignored, so it is refused rather than stored (leave it out)` });
  }
  const delay = spec?.delay?.fixedDelay;
  if (delay !== undefined && parseDuration(delay) === 0) {
    out.push({ path: 'spec.delay.fixedDelay', message: `Envoy's fixed_delay must be above 0, and a 0s delay delays nothing: refused rather than stored and ignored (leave delay out)` });
  }
}

/**
 * A RequestAuthentication is carried as Envoy's jwt_authn filter (control-plane/xds/policies/request-authentication/),
 * which counts clock skew in whole seconds and walks a dotted claim name into nested claims.
 */
function jwtFields(policy: Resource<JwtSpec>, out: Violation[]): void {
  (policy.spec?.jwtRules ?? []).forEach((rule, i) => {
    if (rule.clockSkew !== undefined && parseDuration(rule.clockSkew) % 1000 !== 0) {
      out.push({ path: `spec.jwtRules[${i}].clockSkew`, message: `Envoy's jwt_authn counts clock skew in whole seconds (clock_skew_seconds); got ${rule.clockSkew}: refused rather than rounded (write whole seconds); ${STATIC_ONLY}` });
    }
    (rule.outputClaimToHeaders ?? []).forEach((o, k) => {
      if (o.claim.includes('.')) {
        out.push({ path: `spec.jwtRules[${i}].outputClaimToHeaders[${k}].claim`, message: `Envoy's claim_to_headers reads '${o.claim}' as a path into nested claims, where a Sluice proxy reads a top-level claim of that name: refused rather than read two ways; ${STATIC_ONLY}` });
      }
    });
  });
}
