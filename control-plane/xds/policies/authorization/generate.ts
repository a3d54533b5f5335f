// AuthorizationPolicy over xDS: which policies govern a proxy's inbound port, and the
// `envoy.filters.http.rbac` filters (rbac.ts) set on that listener's HttpConnectionManager.
//
// targetRefs name Services (api/kinds/policies.ts allows no other kind), in the policy's
// namespace. A Workload takes requests for a Service on the port its endpoint names, so a
// policy governs the inbound listener on that port of every Workload the Service selects;
// a port two Services share gets the policies of both. A policy on a Service that does not
// exist, or selects nothing, governs nothing. On a tcp port the same policies decide on each
// connection by its peer, as `envoy.filters.network.rbac` filters before the tcp_proxy, in
// their connection form (kinds/authz-spec.ts forConnections: Istio's reading of HTTP-only
// fields on TCP), which the static file's tcp listeners use too.

import { EMBEDDED_TYPE_URLS, pack } from '../../../../xds/index.ts';
import { forConnections, type AuthorizationSpec } from '../../../../kinds/authz-spec.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import type { Resource } from '../../../api/resource.ts';
import type { Obj } from '../../generate/envoy.ts';
import { key, type MeshView } from '../../mesh-view.ts';
import type { InboundAt, XdsPolicy } from '../index.ts';
import { rbacConfigs, type NamedSpec } from './rbac.ts';

export type AuthorizationPolicySpec = AuthorizationSpec & { readonly targetRefs: readonly TargetRefLike[] };
export type AuthorizationPolicyResource = Resource<AuthorizationPolicySpec>;

export const RBAC_FILTER = 'envoy.filters.http.rbac';
export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';

export const authorizationPolicy: XdsPolicy = {
  kind: 'AuthorizationPolicy',
  // indexOf reads nothing else of the view.
  inboundReads: (view) => [view.authorizationPolicies],
  inboundHttp(hcm, at) {
    const rbac = rbacFilters(at);
    if (rbac.length === 0) return;
    // Before the router, and before any filter another policy put there: a request is decided on as it arrived.
    (hcm.http_filters as Obj[]).splice(0, 0, ...rbac);
    // Envoy matches url_path on the path as sent unless told to normalize it; a Sluice proxy
    // always does (README, "Authorization"), so say it for an Envoy reading the same listener.
    Object.assign(hcm, { normalize_path: { value: true }, merge_slashes: true, path_with_escaped_slashes_action: 'REJECT_REQUEST' });
  },
  inboundTcp(filters, at) {
    const policies = governing(at);
    if (policies.length === 0) return;
    const built = indexOf(at.view).connections;
    const id = policies.map((p) => key(p.namespace, p.name)).sort().join(',');
    let rbac = built.get(id);
    if (rbac === undefined) {
      const reduced = policies.map((p) => ({ ...p, spec: forConnections(p.spec) }));
      built.set(id, (rbac = rbacConfigs(reduced).map((c) => ({ name: NETWORK_RBAC_FILTER, typed_config: pack(EMBEDDED_TYPE_URLS.NetworkRBAC, { stat_prefix: 'tcp_rbac.', ...c }) }))));
    }
    // Before the tcp_proxy: a connection is decided on before a byte is forwarded.
    filters.splice(0, 0, ...rbac);
  },
};

/** The packed filters for the policies governing `at`; the Workloads of one Service share them (built once per view). */
function rbacFilters(at: InboundAt): readonly Obj[] {
  const policies = governing(at);
  if (policies.length === 0) return [];
  const built = indexOf(at.view).filters;
  const id = policies.map((p) => key(p.namespace, p.name)).sort().join(',');
  let filters = built.get(id);
  if (filters === undefined) built.set(id, (filters = rbacConfigs(policies).map((c) => ({ name: RBAC_FILTER, typed_config: pack(EMBEDDED_TYPE_URLS.RBAC, c) }))));
  return filters;
}

/** The policies on the Services a proxy's Workload serves on `at.port`, each once, as rbac.ts takes them. */
function governing(at: InboundAt): NamedSpec[] {
  const { byService } = indexOf(at.view);
  if (byService.size === 0) return [];
  const out = new Map<string, NamedSpec>();
  for (const service of at.services) {
    for (const p of byService.get(key(service.namespace, service.name)) ?? []) out.set(key(p.namespace, p.name), p);
  }
  return [...out.values()];
}

// Built once per view: every proxy's every inbound port looks its Services up here.
type Index = { readonly byService: ReadonlyMap<string, readonly NamedSpec[]>; readonly filters: Map<string, readonly Obj[]>; readonly connections: Map<string, readonly Obj[]> };
const indexes = new WeakMap<MeshView, Index>();

function indexOf(view: MeshView): Index {
  let index = indexes.get(view);
  if (index === undefined) {
    const byService = new Map<string, NamedSpec[]>();
    for (const r of view.authorizationPolicies) {
      const namespace = r.metadata.namespace ?? 'default';
      const named: NamedSpec = { namespace, name: r.metadata.name, spec: r.spec ?? { targetRefs: [] } };
      for (const t of r.spec?.targetRefs ?? []) {
        if (t.kind !== 'Service') continue;
        const k = key(namespace, t.name);
        byService.set(k, [...(byService.get(k) ?? []), named]);
      }
    }
    indexes.set(view, (index = { byService, filters: new Map(), connections: new Map() }));
  }
  return index;
}
