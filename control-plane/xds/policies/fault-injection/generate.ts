// FaultInjectionPolicy -> Envoy's fault filter (xds/SUBSET.md, "FaultInjectionPolicy"), so a
// Sluice proxy, an Envoy or a proxyless gRPC client reading the same resources inject the
// same faults:
//
// - each Envoy route of a targeted route (or of the one rule `sectionName` names) gets its
//   policy as `typed_per_filter_config["envoy.filters.http.fault"]`, an HTTPFault with the
//   delay (`fixed_delay`, `percentage`) and the abort (`http_status` or `grpc_status`,
//   `percentage`). A fault policy is not merged: the rule's replaces the route's, as in the
//   static file;
// - the filter itself, with no fault of its own, sits in the http_filters of every
//   HttpConnectionManager that routes calls to a Service such a route belongs to (a Sluice
//   proxy's outbound listener, a proxyless client's api_listener), just before the router:
//   an injected delay does not count against the route's timeout, and an abort is not retried.
//
// Envoy's abort is one status: `grpc_status` when the policy names one (the API refuses it
// on an HTTPRoute, whose requests need not be gRPC calls), else `http_status`.

import { PolicyAttachments } from '../../../../kinds/policy-attachment.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import type { FaultSpec } from '../../../../kinds/resilience-specs.ts';
import { parseDuration } from '../../../../kinds/schema-kit.ts';
import { EMBEDDED_TYPE_URLS, pack, type PackedAny } from '../../../../xds/index.ts';
import type { Resource } from '../../../api/resource.ts';
import { duration, type Obj } from '../../generate/envoy.ts';
import { key, type MeshView, type RouteResource } from '../../mesh-view.ts';
import type { OutboundAt, XdsPolicy } from '../index.ts';

export type FaultInjectionPolicyResource = Resource<FaultSpec & { readonly targetRefs: readonly TargetRefLike[] }>;

export const FAULT_FILTER = 'envoy.filters.http.fault';
/** What an omitted status means (the static file's default too). */
const DEFAULT_ABORT_STATUS = 503;

export const faultInjectionPolicy: XdsPolicy = {
  kind: 'FaultInjectionPolicy',

  route(route, at) {
    const r = at.route;
    if (r === undefined) return;
    const { attachments, packed } = indexOf(at.view);
    if (attachments.size === 0) return;
    // Policies attach in their own namespace; a producer route is in its Service's.
    const spec = attachments.layers({ namespace: r.resource.metadata.namespace ?? 'default', route: { kind: r.kind, name: r.resource.metadata.name, rule: r.rule.name } }).at(-1);
    if (spec === undefined) return;
    let config = packed.get(spec);
    if (config === undefined) packed.set(spec, (config = httpFault(spec)));
    if (config === null) return;
    route.typed_per_filter_config = { ...(route.typed_per_filter_config as Obj | undefined), [FAULT_FILTER]: config };
  },

  outboundHttp(hcm, at) {
    if (!routesFaults(at)) return;
    const filters = hcm.http_filters as Obj[];
    // Last before the router: after any filter that decides on the request as it came.
    filters.splice(filters.length - 1, 0, { name: FAULT_FILTER, typed_config: pack(EMBEDDED_TYPE_URLS.HTTPFault, {}) });
  },
};

/** The packed per-route HTTPFault of a policy; null when it injects nothing Envoy can say (a 0s delay alone). */
function httpFault(spec: FaultSpec): PackedAny | null {
  const fault: Obj = {};
  const delayMs = spec.delay === undefined ? 0 : parseDuration(spec.delay.fixedDelay);
  // Envoy requires fixed_delay above 0; the API refuses 0s, and a 0s delay waits for nothing.
  if (spec.delay !== undefined && delayMs > 0) fault.delay = { fixed_delay: duration(delayMs), percentage: fractionalPercent(spec.delay.percent ?? 100) };
  const abort = spec.abort;
  if (abort !== undefined) {
    const status = abort.grpcStatus !== undefined ? { grpc_status: abort.grpcStatus } : { http_status: abort.httpStatus ?? DEFAULT_ABORT_STATUS };
    fault.abort = { ...status, percentage: fractionalPercent(abort.percent ?? 100) };
  }
  return Object.keys(fault).length === 0 ? null : pack(EMBEDDED_TYPE_URLS.HTTPFault, fault);
}

const DENOMINATORS = [
  ['HUNDRED', 100],
  ['TEN_THOUSAND', 10_000],
  ['MILLION', 1_000_000],
] as const;

/** A percentage (0-100) as Envoy's FractionalPercent: the smallest denominator that says it exactly, else a millionth, rounded. */
export function fractionalPercent(percent: number): Obj {
  for (const [denominator, d] of DENOMINATORS) {
    const numerator = (percent * d) / 100;
    if (Math.abs(numerator - Math.round(numerator)) < 1e-9) return { numerator: Math.round(numerator), denominator };
  }
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/** Whether some route of the HCM's Services carries a fault: only then is the filter added. */
function routesFaults(at: OutboundAt): boolean {
  const { services } = indexOf(at.view);
  if (at.target === undefined) return services.size > 0;
  return services.has(key(at.target.service.namespace, at.target.service.name));
}

// Built once per view: every route and every outbound HCM of the view looks its policy up here.
type Index = {
  readonly attachments: PolicyAttachments<FaultSpec>;
  /** The Services (`ns/name`) that a route some policy targets names as its parent. */
  readonly services: ReadonlySet<string>;
  readonly packed: Map<FaultSpec, PackedAny | null>;
};
const indexes = new WeakMap<MeshView, Index>();

function indexOf(view: MeshView): Index {
  let index = indexes.get(view);
  if (index === undefined) {
    const policies = view.faultInjectionPolicies.map((p) => ({ namespace: p.metadata.namespace ?? 'default', targetRefs: p.spec?.targetRefs ?? [], spec: p.spec! }));
    const targeted = new Set(policies.flatMap((p) => p.targetRefs.map((t) => `${p.namespace}/${t.kind}/${t.name}`)));
    const services = new Set<string>();
    const visit = (kind: string, r: RouteResource) => {
      const ns = r.metadata.namespace ?? 'default';
      if (!targeted.has(`${ns}/${kind}/${r.metadata.name}`)) return;
      for (const p of r.spec?.parentRefs ?? []) if (p.kind === 'Service') services.add(key(p.namespace ?? ns, p.name));
    };
    view.httpRoutes.forEach((r) => visit('HTTPRoute', r));
    view.grpcRoutes.forEach((r) => visit('GRPCRoute', r));
    indexes.set(view, (index = { attachments: new PolicyAttachments(policies), services, packed: new Map() }));
  }
  return index;
}
