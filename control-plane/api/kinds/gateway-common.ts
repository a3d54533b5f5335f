// What HTTPRoute and GRPCRoute share, after Gateway API's CommonRouteSpec, BackendRef,
// HTTPHeaderFilter and HTTPRequestMirrorFilter: one schema and one set of checks each, so
// both kinds accept and refuse the same things in the same words. Sluice routes mesh
// traffic (GEP-1294, "GAMMA"): a route's parents are the Services whose traffic it routes,
// and its backends are Services too.

import Type, { type Static, type TSchema } from 'typebox';
import { API_GROUP_PATTERN, closed, describeValue, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN, KIND_PATTERN, Opt, WILDCARD_HOSTNAME_PATTERN } from '../../../kinds/schema-kit.ts';
import type { Add, Column } from '../kind.ts';
import { firstSeen, ipFamilyOf } from './kube-names.ts';

// --- schema ---

const Group = Type.String({ pattern: API_GROUP_PATTERN, maxLength: 253 });
const Kind = Type.String({ pattern: KIND_PATTERN, minLength: 1, maxLength: 63 });
const ObjectName = Type.String({ minLength: 1, maxLength: 253 });
const Namespace = Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63 });
export const PortNumber = Type.Integer({ minimum: 1, maximum: 65535 });
/** Gateway API SectionName: rule names, and a parent's section (for a Service, a port name). */
export const SectionName = Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, minLength: 1, maxLength: 253 });
export const HeaderName = Type.String({ pattern: HEADER_NAME_PATTERN, minLength: 1, maxLength: 256 });
export const MatchType = Type.Enum(['Exact', 'RegularExpression']);

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

const BACKEND_OBJECT_FIELDS = {
  /** Default "" (the core group). */
  group: Opt(Group),
  /** Default Service. */
  kind: Opt(Kind),
  name: ObjectName,
  namespace: Opt(Namespace),
  /** Required for a Service: the Service port to send to. */
  port: Opt(PortNumber),
};
const BackendObjectReference = Type.Object(BACKEND_OBJECT_FIELDS, closed);

/** The spec fields of Gateway API's CommonRouteSpec, plus hostnames, which both route kinds have. */
export const COMMON_ROUTE_FIELDS = {
  parentRefs: Opt(Type.Array(ParentRef, { maxItems: 32 })),
  hostnames: Opt(Type.Array(Type.String({ pattern: WILDCARD_HOSTNAME_PATTERN, minLength: 1, maxLength: 253 }), { maxItems: 16 })),
};

export const HeaderMatch = Type.Object({ type: Opt(MatchType), name: HeaderName, value: Type.String({ minLength: 1, maxLength: 4096 }) }, closed);

const Header = Type.Object({ name: HeaderName, value: Type.String({ minLength: 1, maxLength: 4096, pattern: HEADER_VALUE_PATTERN }) }, closed);
const HeaderModifier = Type.Object(
  { set: Opt(Type.Array(Header, { maxItems: 16 })), add: Opt(Type.Array(Header, { maxItems: 16 })), remove: Opt(Type.Array(HeaderName, { maxItems: 16 })) },
  closed,
);

const RequestMirror = Type.Object(
  {
    backendRef: BackendObjectReference,
    /** Share of requests to mirror, 0-100; or `fraction`. Default: all of them. */
    percent: Opt(Type.Integer({ minimum: 0, maximum: 100 })),
    fraction: Opt(Type.Object({ numerator: Type.Integer({ minimum: 0 }), denominator: Opt(Type.Integer({ minimum: 1 })) }, closed)),
  },
  closed,
);

/** The filter fields both route kinds have; each route kind adds its own. */
export const COMMON_FILTER_FIELDS = {
  requestHeaderModifier: Opt(HeaderModifier),
  responseHeaderModifier: Opt(HeaderModifier),
  requestMirror: Opt(RequestMirror),
  extensionRef: Opt(Type.Object({ group: Group, kind: Kind, name: ObjectName }, closed)),
};

/** A rule's backendRef: a Service port, its weight, and filters of the route's own kind. */
export function backendRefSchema<F extends TSchema>(filter: F) {
  return Type.Object({ ...BACKEND_OBJECT_FIELDS, weight: Opt(Type.Integer({ minimum: 0, maximum: 1_000_000 })), filters: Opt(Type.Array(filter, { maxItems: 16 })) }, closed);
}

type ParentRef = Static<typeof ParentRef>;
type ObjectRef = Static<typeof BackendObjectReference>;
type HeaderModifier = Static<typeof HeaderModifier>;
type RequestMirror = Static<typeof RequestMirror>;
type HeaderMatch = Static<typeof HeaderMatch>;

// --- filters ---

/** How a route kind's filter `type` is checked: the one field that must sit beside it, and that field's own rules. */
export type FilterRule = {
  readonly field: string;
  readonly check?: (value: never, path: string, add: Add) => void;
  /** Gateway API lets only these repeat in one list. */
  readonly repeatable?: boolean;
  /** Why Sluice refuses the type. */
  readonly unsupported?: string;
};

/** The filter types both route kinds have. */
export const COMMON_FILTERS = {
  RequestHeaderModifier: { field: 'requestHeaderModifier', check: checkHeaderModifier },
  ResponseHeaderModifier: { field: 'responseHeaderModifier', check: checkHeaderModifier },
  RequestMirror: { field: 'requestMirror', check: checkMirror, repeatable: true },
  ExtensionRef: { field: 'extensionRef', unsupported: 'Sluice has no extension filters' },
} as const satisfies Record<string, FilterRule>;

type FilterLike = { readonly type: string; readonly [field: string]: unknown };

/**
 * Checks one filter list (a rule's or a backendRef's) against the route kind's filter
 * rules; returns the index of the first filter of each type, for rules across filters.
 */
export function checkFilters(filters: readonly FilterLike[], path: string, rules: Readonly<Record<string, FilterRule>>, add: Add): Map<string, number> {
  const seen = new Map<string, number>();
  filters.forEach((f, k) => {
    const at = `${path}[${k}]`;
    const rule = rules[f.type];
    const first = firstSeen(seen, f.type, k);
    if (rule.unsupported !== undefined) {
      const supported = Object.keys(rules).filter((t) => rules[t].unsupported === undefined);
      return add(`${at}.type`, `${f.type} filters are not supported: ${rule.unsupported}; use ${supported.join(', ')}`);
    }
    if (first !== undefined && rule.repeatable !== true) {
      const repeatable = Object.keys(rules).filter((t) => rules[t].repeatable === true);
      add(`${at}.type`, `${f.type} appears more than once in this list (first at filters[${first}]); only ${repeatable.join(' and ')} may repeat`);
    }
    for (const [type, other] of Object.entries(rules)) {
      if (other.field !== rule.field && f[other.field] !== undefined) add(`${at}.${other.field}`, `does not go with type ${f.type}; put it in a filter of its own with type ${type}`);
    }
    const value = f[rule.field];
    if (value === undefined) add(`${at}.${rule.field}`, `is required when type is ${f.type}`);
    else rule.check?.(value as never, `${at}.${rule.field}`, add);
  });
  return seen;
}

function checkHeaderModifier(m: HeaderModifier, path: string, add: Add): void {
  // One header in two lists (set and remove, say) asks for two contradicting things.
  const seen = new Map<string, string>();
  for (const list of ['set', 'add', 'remove'] as const) {
    (m[list] ?? []).forEach((h, k) => {
      const name = typeof h === 'string' ? h : h.name;
      const at = typeof h === 'string' ? `${path}.${list}[${k}]` : `${path}.${list}[${k}].name`;
      const first = seen.get(name.toLowerCase());
      if (first === undefined) seen.set(name.toLowerCase(), `${list}[${k}]`);
      else add(at, `header '${name}' is already modified by ${first} (header names ignore case); name each header once in a modifier`);
    });
  }
}

function checkMirror(m: RequestMirror, path: string, add: Add): void {
  checkServiceRef(m.backendRef, `${path}.backendRef`, add);
  if (m.percent !== undefined && m.fraction !== undefined) add(`${path}.fraction`, 'does not go with percent: give the share of requests to mirror as percent or as fraction, not both');
  const denominator = m.fraction?.denominator ?? 100;
  if (m.fraction !== undefined && m.fraction.numerator > denominator) {
    add(`${path}.fraction.numerator`, `must not be greater than the denominator (${denominator}): at most every request can be mirrored`);
  }
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

// --- rules and matches ---

/** Gateway API's caps: 16 rules of up to 64 matches each, but at most 128 matches in a route. */
const MAX_ROUTE_MATCHES = 128;

/**
 * Unique rule names, and the route-wide cap on matches. `absentMatches` is what a rule
 * without `matches` counts as: HTTPRoute defaults it to one match, GRPCRoute to none.
 */
export function checkRules(rules: readonly { readonly name?: string; readonly matches?: readonly unknown[] }[], absentMatches: number, add: Add): void {
  const names = new Map<string, number>();
  let matches = 0;
  rules.forEach((rule, j) => {
    matches += rule.matches?.length ?? absentMatches;
    const first = rule.name === undefined ? undefined : firstSeen(names, rule.name, j);
    if (first !== undefined) add(`spec.rules[${j}].name`, `rule name '${rule.name}' is already used by rules[${first}]`);
  });
  if (matches > MAX_ROUTE_MATCHES) add('spec.rules', `has ${matches} matches across its rules; a route may have at most ${MAX_ROUTE_MATCHES} (and 64 per rule): split it into two routes`);
}

/** Header names are case-insensitive, so `Foo` and `foo` name one header: matching it twice is a mistake. */
export function checkHeaderMatches(headers: readonly HeaderMatch[], path: string, add: Add): void {
  const seen = new Map<string, number>();
  headers.forEach((h, k) => {
    const first = firstSeen(seen, h.name.toLowerCase(), k);
    if (first !== undefined) add(`${path}[${k}].name`, `header '${h.name}' is already matched by headers[${first}] (header names ignore case); match each header once`);
    if (h.type === 'RegularExpression') checkRegExp(h.value, `${path}[${k}].value`, add);
  });
}

export function checkRegExp(source: string, path: string, add: Add): void {
  try {
    new RegExp(source);
  } catch (err) {
    add(path, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

// --- columns ---

type RouteLike = {
  readonly parentRefs?: readonly ParentRef[];
  readonly hostnames?: readonly string[];
  readonly rules?: readonly { readonly backendRefs?: readonly (ObjectRef & { readonly weight?: number })[] }[];
};

/** PARENTS, HOSTNAMES and BACKENDS, as `sluicectl get httproutes` and `get grpcroutes` print them. */
export const ROUTE_COLUMNS: readonly Column<RouteLike>[] = [
  { name: 'PARENTS', value: (r) => (r.spec?.parentRefs ?? []).map(parentText).join(',') || '<none>' },
  { name: 'HOSTNAMES', value: (r) => (r.spec?.hostnames ?? []).join(',') || '*', jsonPath: '.spec.hostnames' },
  { name: 'BACKENDS', value: (r) => (r.spec?.rules ?? []).map(backendsText).filter((t) => t !== '').join('; ') || '<none>' },
];

/** `orders`, `orders:http` (a port by name), `orders:8080`, `shop/orders` (another namespace). */
function parentText(p: ParentRef): string {
  const section = p.sectionName ?? p.port;
  return `${p.namespace === undefined ? '' : `${p.namespace}/`}${p.name}${section === undefined ? '' : `:${section}`}`;
}

/** One rule's backends, `orders-v1:8080 (90), orders-v2:8080 (10)`; a lone backend without its weight. */
function backendsText(rule: NonNullable<RouteLike['rules']>[number]): string {
  const refs = rule.backendRefs ?? [];
  return refs.map((b) => `${b.namespace === undefined ? '' : `${b.namespace}/`}${b.name}${b.port === undefined ? '' : `:${b.port}`}${refs.length > 1 ? ` (${b.weight ?? 1})` : ''}`).join(', ');
}
