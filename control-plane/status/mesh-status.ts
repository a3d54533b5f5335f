// The status of routes, policies and Services, computed from one MeshView: what the
// generators made of each resource, in Gateway API's words.
//
// - HTTPRoute / GRPCRoute: `Accepted` (each parentRef names a Service port of the route's
//   namespace: NoMatchingParent otherwise) and `ResolvedRefs` (each backendRef names a
//   Service port that exists: BackendNotFound otherwise, and that share is answered 500);
//   the policies attached to it.
// - A policy: `Accepted`, or TargetNotFound (a target that does not exist), or Conflicted
//   (a kind where two on one target do not add up, and an older one holds the target).
// - Service: how many Workloads it selects (and which), the routes and policies attached.

import type { TargetRefLike } from '../../kinds/policy-targets.ts';
import type { Resource } from '../api/resource.ts';
import type { ServiceSpec } from '../api/kinds/service.ts';
import { attaches, resolveBackend, type BackendRef, type ParentRef } from '../xds/generate/route-rules.ts';
import { key, selectWorkloads, type MeshView, type RouteResource, type ServiceView, type WorkloadSpec } from '../xds/mesh-view.ts';
import { statusKey, type Computed, type ConditionInput } from './conditions.ts';

type PolicyResource = Resource<{ readonly targetRefs: readonly TargetRefLike[] }>;

/** A policy kind the view holds, and whether two of it on one target conflict. */
export type PolicyKindStatus = {
  readonly kind: string;
  readonly of: (view: MeshView) => readonly PolicyResource[];
  /** True: two on one target do not add up, the oldest holds it (kinds/policy-attachment.ts); false: every one applies. */
  readonly exclusive: boolean;
};

/** One row per policy kind the control plane carries (a new kind is a new row). */
export const POLICY_KINDS: readonly PolicyKindStatus[] = [
  // Of two on one target, the oldest holds it whole (kinds/policy-attachment.ts).
  { kind: 'RetryPolicy', of: (v) => v.retryPolicies as readonly PolicyResource[], exclusive: true },
  { kind: 'CircuitBreakerPolicy', of: (v) => v.circuitBreakerPolicies as readonly PolicyResource[], exclusive: true },
  { kind: 'FaultInjectionPolicy', of: (v) => v.faultInjectionPolicies as readonly PolicyResource[], exclusive: true },
  { kind: 'LoadBalancingPolicy', of: (v) => v.loadBalancingPolicies as readonly PolicyResource[], exclusive: true },
  // DENY and ALLOW policies all apply where they target.
  { kind: 'AuthorizationPolicy', of: (v) => v.authorizationPolicies as readonly PolicyResource[], exclusive: false },
  // Every one applies: their jwtRules are merged on the port (the first for an issuer wins, by namespace/name).
  { kind: 'RequestAuthentication', of: (v) => v.requestAuthentications as readonly PolicyResource[], exclusive: false },
];

const ns = (r: Resource<unknown>) => r.metadata.namespace ?? 'default';
const condition = (type: string, ok: boolean, reason: string, message: string): ConditionInput => ({ type, status: ok ? 'True' : 'False', reason, message });
const computed = (r: Resource<unknown>, conditions: ConditionInput[], fields?: Record<string, unknown>): Computed => ({ uid: r.metadata.uid, generation: r.metadata.generation ?? 1, conditions, ...(fields === undefined ? {} : { fields }) });
const targetLabel = (t: TargetRefLike) => `${t.kind}/${t.name}${t.sectionName === undefined ? '' : `#${t.sectionName}`}`;

export function meshStatus(view: MeshView): Map<string, Computed> {
  const out = new Map<string, Computed>();
  const routes: { kind: 'HTTPRoute' | 'GRPCRoute'; r: RouteResource }[] = [
    ...view.httpRoutes.map((r) => ({ kind: 'HTTPRoute' as const, r })),
    ...view.grpcRoutes.map((r) => ({ kind: 'GRPCRoute' as const, r })),
  ];
  const attached = policyAttachments(view, routes, out);
  for (const { kind, r } of routes) {
    out.set(statusKey(kind, ns(r), r.metadata.name), computed(r, routeConditions(view, r), { policies: attached.get(statusKey(kind, ns(r), r.metadata.name)) ?? [] }));
  }
  // Indexed once, so a mesh of thousands of Services is not walked once per Service.
  const workloadsIn = new Map<string, Resource<WorkloadSpec>[]>();
  for (const w of view.workloads.values()) workloadsIn.set(ns(w), [...(workloadsIn.get(ns(w)) ?? []), w]);
  const routesOn = new Map<string, string[]>();
  for (const { kind, r } of routes) {
    const parents = new Set((r.spec?.parentRefs ?? []).filter((p) => p.kind === 'Service' && (p.namespace ?? ns(r)) === ns(r)).map((p) => key(ns(r), p.name)));
    for (const k of parents) routesOn.set(k, [...(routesOn.get(k) ?? []), `${kind}/${r.metadata.name}`]);
  }
  for (const s of view.serviceResources) {
    const namespace = ns(s);
    const selected = selectWorkloads(s.spec?.selector, workloadsIn.get(namespace) ?? []).map((w) => w.metadata.name);
    const routeNames = routesOn.get(key(namespace, s.metadata.name)) ?? [];
    const zones = zonesServing(view, view.services.get(key(namespace, s.metadata.name)));
    out.set(statusKey('Service', namespace, s.metadata.name), computed(s, [workloadsCondition(s, selected.length)], { selectedWorkloads: selected.length, workloads: selected, routes: routeNames, policies: attached.get(statusKey('Service', namespace, s.metadata.name)) ?? [], ...(zones === undefined ? {} : { zones }) }));
  }
  return out;
}

/**
 * Which zones serve a Service, with how many instances, and through which ingress for
 * another zone's (issue 18); undefined where no endpoint has a zone (one site, as before).
 */
function zonesServing(view: MeshView, svc: ServiceView | undefined): { zone: string; instances: number; via: string }[] | undefined {
  if (svc === undefined) return undefined;
  const zones = new Map<string, { instances: Set<string> | number; via: string }>();
  for (const port of svc.ports) {
    for (const e of port.endpoints) {
      const zone = e.zone ?? view.localZone;
      if (zone === undefined) continue;
      if (e.remote !== undefined) {
        // One endpoint per zone and port: its ingress, weighted by that zone's instances.
        const had = zones.get(zone)?.instances;
        zones.set(zone, { instances: Math.max(typeof had === 'number' ? had : 0, e.weight), via: `ingress ${e.address}:${e.port}` });
      } else {
        const had = zones.get(zone)?.instances;
        const set = had instanceof Set ? had : new Set<string>();
        set.add(key(e.namespace, e.workload));
        zones.set(zone, { instances: set, via: zone === view.localZone ? 'local' : 'direct' });
      }
    }
  }
  if (zones.size === 0) return undefined;
  return [...zones].sort(([a], [b]) => (a < b ? -1 : 1)).map(([zone, z]) => ({ zone, instances: typeof z.instances === 'number' ? z.instances : z.instances.size, via: z.via }));
}

function workloadsCondition(s: Resource<ServiceSpec>, n: number): ConditionInput {
  if (Object.keys(s.spec?.selector ?? {}).length === 0) return condition('WorkloadsSelected', false, 'NoSelector', 'the Service has no selector, so it selects no Workload and calls to it have no endpoint');
  if (n === 0) return condition('WorkloadsSelected', false, 'NoWorkloads', `no Workload in namespace ${ns(s)} has the labels ${JSON.stringify(s.spec?.selector)}: calls to it have no endpoint (503 UH)`);
  return condition('WorkloadsSelected', true, 'WorkloadsSelected', `selects ${n} Workload${n === 1 ? '' : 's'}`);
}

// --- routes ---

function routeConditions(view: MeshView, r: RouteResource): ConditionInput[] {
  const namespace = ns(r);
  const unmatched: string[] = [];
  (r.spec?.parentRefs ?? []).forEach((p, i) => {
    const ref = p as ParentRef;
    const svc = view.services.get(key(ref.namespace ?? namespace, ref.name));
    if (svc === undefined) unmatched.push(`spec.parentRefs[${i}]: Service ${ref.namespace ?? namespace}/${ref.name} does not exist`);
    else if (!svc.ports.some((sp) => attaches(ref, namespace, svc, sp))) unmatched.push(`spec.parentRefs[${i}]: Service ${svc.namespace}/${svc.name} has no port ${ref.sectionName ?? ref.port ?? ''} this route can attach to`);
  });
  const missing: string[] = [];
  (r.spec?.rules ?? []).forEach((rule, i) => {
    ((rule.backendRefs ?? []) as BackendRef[]).forEach((b, k) => {
      const found = resolveBackend(view, namespace, b);
      if (found.missing !== undefined) missing.push(`spec.rules[${i}].backendRefs[${k}]: ${found.missing}${(b.weight ?? 1) === 0 ? '' : '; its share of the calls is answered 500'}`);
    });
  });
  return [
    unmatched.length === 0 ? condition('Accepted', true, 'Accepted', 'attached to every parent Service') : condition('Accepted', false, 'NoMatchingParent', unmatched.join('; ')),
    missing.length === 0 ? condition('ResolvedRefs', true, 'ResolvedRefs', 'every backendRef names a Service port that exists') : condition('ResolvedRefs', false, 'BackendNotFound', missing.join('; ')),
  ];
}

// --- policies ---

/** Writes every policy's status into `out`; returns, by the key of each Service and route, the policies attached to it. */
function policyAttachments(view: MeshView, routes: readonly { kind: string; r: RouteResource }[], out: Map<string, Computed>): Map<string, string[]> {
  const attached = new Map<string, string[]>();
  const byName = new Map(routes.map((x) => [statusKey(x.kind, ns(x.r), x.r.metadata.name), x.r]));
  const routeOf = (namespace: string, kind: string, name: string) => byName.get(statusKey(kind, namespace, name));
  for (const pk of POLICY_KINDS) {
    /** Target -> the policy holding it, for exclusive kinds. */
    const holders = new Map<string, string>();
    for (const p of pk.of(view)) {
      const namespace = ns(p);
      const notFound: string[] = [];
      const conflicts: string[] = [];
      for (const t of p.spec?.targetRefs ?? []) {
        let found: string | undefined;
        let why = `${t.kind} ${namespace}/${t.name} does not exist`;
        if (t.kind === 'Service') found = view.services.has(key(namespace, t.name)) ? statusKey('Service', namespace, t.name) : undefined;
        else {
          const route = routeOf(namespace, t.kind, t.name);
          const ruleNames = ((route?.spec?.rules ?? []) as { name?: string }[]).map((x) => x.name);
          if (route !== undefined && t.sectionName !== undefined && !ruleNames.includes(t.sectionName)) why = `${t.kind} ${namespace}/${t.name} has no rule named '${t.sectionName}'`;
          else if (route !== undefined) found = statusKey(t.kind, namespace, t.name);
        }
        if (found === undefined) {
          notFound.push(`${targetLabel(t)}: ${why}`);
          continue;
        }
        const target = `${found}#${t.sectionName ?? ''}`;
        const holder = holders.get(target);
        if (pk.exclusive && holder !== undefined) {
          conflicts.push(`${targetLabel(t)}: ${pk.kind} ${namespace}/${holder} (older) holds it, so this one does not apply there`);
          continue;
        }
        if (pk.exclusive) holders.set(target, p.metadata.name);
        attached.set(found, [...(attached.get(found) ?? []), `${pk.kind}/${p.metadata.name}${t.sectionName === undefined ? '' : ` (rule ${t.sectionName})`}`]);
      }
      const accepted =
        notFound.length > 0
          ? condition('Accepted', false, 'TargetNotFound', notFound.join('; '))
          : conflicts.length > 0
            ? condition('Accepted', false, 'Conflicted', conflicts.join('; '))
            : condition('Accepted', true, 'Accepted', `applies to ${(p.spec?.targetRefs ?? []).map(targetLabel).join(', ')}`);
      out.set(statusKey(pk.kind, namespace, p.metadata.name), computed(p, [accepted]));
    }
  }
  return attached;
}
