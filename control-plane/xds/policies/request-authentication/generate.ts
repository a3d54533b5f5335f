// RequestAuthentication over xDS: Envoy's `envoy.filters.http.jwt_authn` filter
// (JwtAuthentication) on the inbound listeners of the Workloads its target Services select,
// port by port as AuthorizationPolicy (../authorization/generate.ts), and before that
// policy's RBAC filters, which read what it verified.
//
// Each jwtRule is a provider: issuer, audiences, the JWKS (remote_jwks with Istio's cluster
// name for the URI, xds/jwt-form.ts, or local_jwks inline), the Authorization header's Bearer
// token only, forward, claim_to_headers, clock_skew_seconds, and payload_in_metadata so RBAC
// can match requestPrincipals and claims. One rule for every path requires any provider or
// no token at all (`allow_missing`): a request without a token goes on (authorization
// decides), one with a token no provider verifies is answered 401 (Istio's translation).
// Several policies on one port add their rules; of two rules for one issuer, the first in
// namespace/name order is taken (a token's iss picks one provider).

import { JWT_RULE_DEFAULTS_MS, type RequestAuthenticationSpec } from '../../../../kinds/jwt-spec.ts';
import { parseDuration } from '../../../../kinds/schema-kit.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../../xds/index.ts';
import { FROM_HEADERS, JWT_AUTHN_FILTER, jwksCluster, PAYLOAD_KEY } from '../../../../xds/jwt-form.ts';
import type { Resource } from '../../../api/resource.ts';
import { duration, type Obj } from '../../generate/envoy.ts';
import { key, type MeshView } from '../../mesh-view.ts';
import type { InboundAt, XdsPolicy } from '../index.ts';

export type RequestAuthenticationPolicySpec = RequestAuthenticationSpec & { readonly targetRefs: readonly TargetRefLike[] };
export type RequestAuthenticationResource = Resource<RequestAuthenticationPolicySpec>;

type JwtRule = RequestAuthenticationSpec['jwtRules'][number];
type Named = { readonly id: string; readonly spec: RequestAuthenticationSpec };

export const requestAuthentication: XdsPolicy = {
  kind: 'RequestAuthentication',
  // indexOf reads nothing else of the view.
  inboundReads: (view) => [view.requestAuthentications],
  inboundHttp(hcm, at) {
    const filter = jwtFilter(at);
    // First of all: the RBAC filters (spliced in before it by AuthorizationPolicy's hook, which runs earlier) read the claims it verifies.
    if (filter !== undefined) (hcm.http_filters as Obj[]).splice(0, 0, filter);
  },
};

/** The packed filter for the policies governing `at`; the Workloads of one Service share it (built once per view). */
function jwtFilter(at: InboundAt): Obj | undefined {
  const { byService, filters } = indexOf(at.view);
  if (byService.size === 0) return undefined;
  const governing = new Map<string, Named>();
  for (const service of at.services) {
    for (const p of byService.get(key(service.namespace, service.name)) ?? []) governing.set(p.id, p);
  }
  if (governing.size === 0) return undefined;
  const ids = [...governing.keys()].sort();
  const id = ids.join(',');
  let filter = filters.get(id);
  if (filter === undefined) {
    filter = { name: JWT_AUTHN_FILTER, typed_config: pack(EMBEDDED_TYPE_URLS.JwtAuthentication, jwtAuthentication(ids.map((i) => governing.get(i)!))) };
    filters.set(id, filter);
  }
  return filter;
}

/** The JwtAuthentication config of the policies on one listener, in namespace/name order. */
export function jwtAuthentication(policies: readonly Named[]): Obj {
  const providers: Obj = {};
  const issuers = new Set<string>();
  for (const p of policies) {
    p.spec.jwtRules.forEach((rule, i) => {
      if (issuers.has(rule.issuer)) return;
      issuers.add(rule.issuer);
      providers[`${p.id}/jwtRules[${i}]`] = provider(rule);
    });
  }
  const requirements = [...Object.keys(providers).map((name) => ({ provider_name: name })), { allow_missing: {} }];
  return { providers, rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements } } }] };
}

function provider(rule: JwtRule): Obj {
  const jwks =
    rule.jwks !== undefined
      ? { local_jwks: { inline_string: rule.jwks } }
      : {
          remote_jwks: {
            http_uri: { uri: rule.jwksUri, cluster: jwksCluster(rule.jwksUri!), timeout: duration(JWT_RULE_DEFAULTS_MS.fetchTimeout) },
            // Envoy's default is 5 minutes, a Sluice proxy's 10: always say which.
            cache_duration: duration(rule.cacheDuration === undefined ? JWT_RULE_DEFAULTS_MS.cacheDuration : parseDuration(rule.cacheDuration)),
          },
        };
  return {
    issuer: rule.issuer,
    ...(rule.audiences === undefined ? {} : { audiences: rule.audiences }),
    ...jwks,
    forward: rule.forwardOriginalToken ?? false,
    from_headers: FROM_HEADERS,
    payload_in_metadata: PAYLOAD_KEY,
    // api/carried.ts refuses a clockSkew that is not whole seconds, Envoy's only unit here.
    clock_skew_seconds: (rule.clockSkew === undefined ? JWT_RULE_DEFAULTS_MS.clockSkew : parseDuration(rule.clockSkew)) / 1000,
    ...(rule.outputClaimToHeaders === undefined ? {} : { claim_to_headers: rule.outputClaimToHeaders.map((o) => ({ header_name: o.header, claim_name: o.claim })) }),
  };
}

// Built once per view: every proxy's every inbound port looks its Services up here.
type Index = { readonly byService: ReadonlyMap<string, readonly Named[]>; readonly filters: Map<string, Obj> };
const indexes = new WeakMap<MeshView, Index>();

function indexOf(view: MeshView): Index {
  let index = indexes.get(view);
  if (index === undefined) {
    const byService = new Map<string, Named[]>();
    for (const r of view.requestAuthentications) {
      const namespace = r.metadata.namespace ?? 'default';
      if (r.spec === undefined) continue;
      const named: Named = { id: `${namespace}/${r.metadata.name}`, spec: r.spec };
      for (const t of r.spec.targetRefs) {
        if (t.kind !== 'Service') continue;
        const k = key(namespace, t.name);
        byService.set(k, [...(byService.get(k) ?? []), named]);
      }
    }
    indexes.set(view, (index = { byService, filters: new Map() }));
  }
  return index;
}
