// What HTTPRoute and GRPCRoute share as API resources, after Gateway API's CommonRouteSpec
// and BackendRef: parents, hostnames, Service references and the columns `get` prints.
// Their rules (matches, filters, backendRefs, timeouts) are kinds/route-rule.ts, which the
// proxy's static file uses too. Sluice routes mesh
// traffic (GEP-1294, "GAMMA"): a route's parents are the Services whose traffic it routes,
// and its backends are Services too.

import Type, { type Static } from 'typebox';
import { closed, describeValue, DNS_LABEL_PATTERN, Opt, WILDCARD_HOSTNAME_PATTERN } from '../../../kinds/schema-kit.ts';
import { ALL_SOUND, type RuleContext } from '../../../kinds/route-check.ts';
import { Group, Kind, ObjectName, PortNumber, SectionName } from '../../../kinds/route-fields.ts';
import type { Add } from '../kind.ts';
import { firstSeen, ipFamilyOf } from './kube-names.ts';

// --- schema ---

const Namespace = Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63 });

const ParentRef = Type.Object(
  {
    /** Default gateway.networking.k8s.io; a Service parent needs "" (the core group). */
    group: Opt(Group),
    /** Default Gateway; Sluice has none, so Service. */
    kind: Opt(Kind),
    namespace: Opt(Namespace),
    name: ObjectName,
    /** For a Service parent: the name of the port the route applies to. */
    sectionName: Opt(SectionName),
    port: Opt(PortNumber),
  },
  closed,
);

/** What a backendRef (and a mirror's) names in the API: a Service port. */
export const BACKEND_OBJECT_FIELDS = {
  /** Default "" (the core group). */
  group: Opt(Group),
  /** Default Service. */
  kind: Opt(Kind),
  name: ObjectName,
  namespace: Opt(Namespace),
  /** Required for a Service: the Service port to send to. */
  port: Opt(PortNumber),
};
export const BackendObjectReference = Type.Object(BACKEND_OBJECT_FIELDS, closed);

/** The spec fields of Gateway API's CommonRouteSpec, plus hostnames, which both route kinds have. */
export const COMMON_ROUTE_FIELDS = {
  parentRefs: Opt(Type.Array(ParentRef, { maxItems: 32 })),
  hostnames: Opt(Type.Array(Type.String({ pattern: WILDCARD_HOSTNAME_PATTERN, minLength: 1, maxLength: 253 }), { maxItems: 16 })),
};

type ParentRef = Static<typeof ParentRef>;
type ObjectRef = Static<typeof BackendObjectReference>;

/** How the API's route kinds run the shared rule checks (kinds/route-rule.ts): on a spec the schema accepted, with Service backends. */
export function apiRuleContext(add: Add): RuleContext {
  return { add, sound: ALL_SOUND, backendRef: (ref: ObjectRef, path: string) => checkServiceRef(ref, path, add) };
}

// --- references ---

const CORE_GROUPS = ['', 'core'];

/** A backend (or mirror) reference: Sluice sends traffic to Service ports only. */
export function checkServiceRef(ref: ObjectRef, path: string, add: Add): void {
  if ((ref.kind ?? 'Service') !== 'Service') {
    return add(`${path}.kind`, `must be Service: Sluice sends traffic to Services (and to Workloads through the Services that select them); got ${describeValue(ref.kind)}`);
  }
  if (!CORE_GROUPS.includes(ref.group ?? '')) return add(`${path}.group`, `must be "" (the core group) for a Service; got ${describeValue(ref.group)}`);
  // Gateway API's own rule: a Service has several ports, and a backendRef must say which.
  if (ref.port === undefined) add(`${path}.port`, 'is required for a Service backendRef: it names the Service port to send to');
}

/** Reports a parent that is not a Service; true when it is one. */
function isServiceParent(p: ParentRef, path: string, add: Add): boolean {
  const attach = 'attach the route to a Service (the GAMMA pattern) with group: "" and kind: Service';
  if (p.kind === undefined || p.kind === 'Gateway') {
    add(`${path}.kind`, `${p.kind === undefined ? 'defaults to Gateway, but ' : 'cannot be Gateway: '}Sluice routes mesh traffic and has no Gateway; ${attach}`);
  } else if (p.kind !== 'Service') add(`${path}.kind`, `must be Service: Sluice attaches routes to Services only; got ${describeValue(p.kind)}; ${attach}`);
  else if (p.group === undefined) add(`${path}.group`, 'is required for a Service parent: it defaults to gateway.networking.k8s.io, which has no Service; write group: "" (the core group)');
  else if (!CORE_GROUPS.includes(p.group)) add(`${path}.group`, `must be "" (the core group) for a Service parent; got ${describeValue(p.group)}`);
  else return true;
  return false;
}

/** GAMMA parents, and Gateway API's rules on naming one parent twice (its two CEL rules on parentRefs). */
export function checkParentRefs(refs: readonly ParentRef[] | undefined, add: Add): void {
  if (refs === undefined || refs.length === 0) {
    return add('spec.parentRefs', 'is required: a mesh route attaches to the Service whose traffic it routes, as in parentRefs: [{group: "", kind: Service, name: <service>}]');
  }
  const byService = new Map<string, number[]>();
  refs.forEach((p, i) => {
    if (!isServiceParent(p, `spec.parentRefs[${i}]`, add)) return;
    const key = `${p.namespace ?? ''}/${p.name}`;
    byService.set(key, [...(byService.get(key) ?? []), i]);
  });
  for (const indices of byService.values()) {
    if (indices.length < 2) continue;
    const name = refs[indices[0]].name;
    const sectioned = indices.find((i) => refs[i].sectionName !== undefined);
    const sections = new Map<string, number>();
    for (const i of indices) {
      const section = refs[i].sectionName;
      if (section === undefined && sectioned !== undefined) {
        add(`spec.parentRefs[${i}].sectionName`, `is required: parentRefs[${sectioned}] names a port of the same Service '${name}'; name a port in every reference to it, or refer to it once`);
        continue;
      }
      const first = firstSeen(sections, section ?? '', i);
      if (first === undefined) continue;
      add(`spec.parentRefs[${i}]`, section === undefined
        ? `refers to Service '${name}' as parentRefs[${first}] does; to attach to several of its ports, give each reference a sectionName (the port's name)`
        : `refers to port '${section}' of Service '${name}' as parentRefs[${first}] does; list each parent once`);
    }
  }
}

export function checkHostnames(hostnames: readonly string[], add: Add): void {
  hostnames.forEach((h, i) => {
    if (ipFamilyOf(h) !== 0) add(`spec.hostnames[${i}]`, `must be a DNS name, not an IP address: hostnames are matched against the Host header by name; got ${describeValue(h)}`);
  });
}
