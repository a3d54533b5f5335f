// What the API accepts is what every proxy enforces. A resource can be valid and still be
// something a proxy that follows this control plane would not do: a kind, field or route
// filter the xDS pipeline does not carry yet, or settings that contradict the control
// plane itself (a Mesh whose trust domain is not the CA's). Those are refused at apply, 422
// with the field path and why, checked after validation and before any write; never stored
// and quietly ignored while every proxy shows SYNCED.
//
// Each entry here is lifted when its part is carried over xDS and a test through joined
// proxies shows it enforced (README, "The mesh over xDS"). The proxy's static file takes
// all of them today.

import { parseDuration, type Violation } from '../../kinds/schema-kit.ts';
import type { Resource } from './resource.ts';

/** What the running control plane is, for the checks that compare a resource with it. */
export type ControlPlaneFacts = {
  /** The trust domain of the control plane's CA: every SVID it signs is in it. */
  readonly trustDomain: string;
};

const STATIC_ONLY = 'it is enforced by a proxy run from a static file (sluice-proxy --config), not yet by proxies that follow the control plane';

/** Policy kinds no generator carries yet, and where to read about them. */
const UNCARRIED_KINDS: Readonly<Record<string, string>> = {
  CircuitBreakerPolicy: 'Resilience',
  RequestAuthentication: 'End-user JWT',
};

type RouteRule = { filters?: unknown[]; backendRefs?: { filters?: unknown[] }[] };
type RouteSpec = { parentRefs?: { group?: string; kind?: string; namespace?: string; name?: string }[]; hostnames?: string[]; rules?: RouteRule[] };
type MeshSpec = { trustDomain?: string };
type AuthorizationSpec = { rules?: { from?: Record<string, unknown>[]; when?: unknown[] }[] };
type RetrySpec = { budget?: { percent?: number; ttl?: string } };
type FaultSpec = { targetRefs?: { kind?: string }[]; delay?: { fixedDelay?: string }; abort?: { httpStatus?: number; grpcStatus?: number } };

/** Why this valid resource cannot be accepted by this control plane; empty when it can. */
export function notCarried(resource: Resource, facts: ControlPlaneFacts): Violation[] {
  const out: Violation[] = [];
  const kind = resource.kind;
  const section = UNCARRIED_KINDS[kind];
  if (section !== undefined) {
    out.push({ path: 'kind', message: `a ${kind} is valid but not carried to proxies over xDS yet, so no joined proxy would enforce it: refused rather than stored and ignored; ${STATIC_ONLY} (README, "${section}")` });
    return out;
  }
  if (kind === 'HTTPRoute' || kind === 'GRPCRoute') routeFields(resource as Resource<RouteSpec>, out);
  if (kind === 'AuthorizationPolicy') authorizationFields(resource as Resource<AuthorizationSpec>, out);
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
  }
  return out;
}

function routeFields(route: Resource<RouteSpec>, out: Violation[]): void {
  const ns = route.metadata.namespace ?? 'default';
  (route.spec?.parentRefs ?? []).forEach((p, i) => {
    if ((p.kind ?? 'Gateway') === 'Service' && p.namespace !== undefined && p.namespace !== ns) {
      out.push({
        path: `spec.parentRefs[${i}].namespace`,
        message: `a route in namespace '${ns}' for Service '${p.namespace}/${p.name}' is a consumer route (GAMMA), not carried over xDS yet: only routes in the Service's own namespace reach proxies; refused rather than stored and ignored`,
      });
    }
  });
  if ((route.spec?.hostnames?.length ?? 0) > 0) {
    out.push({ path: 'spec.hostnames', message: 'hostnames are not carried over xDS: a mesh route applies to every call to its parent Service, whatever the Host, so they would be ignored; refused rather than stored and ignored (leave them out)' });
  }
  (route.spec?.rules ?? []).forEach((rule, r) => {
    if ((rule.filters?.length ?? 0) > 0) out.push({ path: `spec.rules[${r}].filters`, message: `route filters are not carried over xDS yet, so no joined proxy would apply them: refused rather than stored and ignored; ${STATIC_ONLY}` });
    (rule.backendRefs ?? []).forEach((b, k) => {
      if ((b.filters?.length ?? 0) > 0) out.push({ path: `spec.rules[${r}].backendRefs[${k}].filters`, message: 'per-backend filters are not carried over xDS yet: refused rather than stored and ignored' });
    });
  });
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
 * An AuthorizationPolicy is carried as Envoy's RBAC filter (control-plane/xds/policies/authorization/),
 * except what reads a verified JWT: RequestAuthentication is not carried, so no joined proxy has one.
 */
function authorizationFields(policy: Resource<AuthorizationSpec>, out: Violation[]): void {
  const why = `reads a verified JWT, and RequestAuthentication is not carried over xDS yet, so no joined proxy has one to match: refused rather than stored and ignored; ${STATIC_ONLY} (README, "End-user JWT")`;
  (policy.spec?.rules ?? []).forEach((rule, r) => {
    (rule.from ?? []).forEach((source, j) => {
      for (const field of ['requestPrincipals', 'notRequestPrincipals']) {
        if (source[field] !== undefined) out.push({ path: `spec.rules[${r}].from[${j}].${field}`, message: `${field} ${why}` });
      }
    });
    if (rule.when !== undefined) out.push({ path: `spec.rules[${r}].when`, message: `a claim condition ${why}` });
  });
}
