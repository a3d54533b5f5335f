// GRPCRoute: Gateway API's v1 gRPC routing resource (standard channel), attached to a
// Service as Sluice routes mesh traffic (GAMMA). It matches on the gRPC service and method
// and on headers; parents, backends, header filters and mirroring are HTTPRoute's
// (gateway-common.ts), so both kinds read and fail alike.

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind, type Add } from '../kind.ts';
import { backendRefSchema, checkFilters, checkHeaderMatches, checkHostnames, checkParentRefs, checkRegExp, checkRules, checkServiceRef, COMMON_FILTER_FIELDS, COMMON_FILTERS, COMMON_ROUTE_FIELDS, HeaderMatch, MatchType, ROUTE_COLUMNS, SectionName } from './gateway-common.ts';

const Match = Type.Object(
  {
    /** The gRPC method: `service` is the fully qualified service (helloworld.Greeter), `method` its method (SayHello). */
    method: Opt(Type.Object({ type: Opt(MatchType), service: Opt(Type.String({ maxLength: 1024 })), method: Opt(Type.String({ maxLength: 1024 })) }, closed)),
    headers: Opt(Type.Array(HeaderMatch, { maxItems: 16 })),
  },
  closed,
);

// GRPCRoute has exactly the filter types both route kinds share.
const Filter = Type.Object({ type: Type.Enum(Object.keys(COMMON_FILTERS) as (keyof typeof COMMON_FILTERS)[]), ...COMMON_FILTER_FIELDS }, closed);

const Rule = Type.Object(
  {
    name: Opt(SectionName),
    /** None: every call. */
    matches: Opt(Type.Array(Match, { maxItems: 64 })),
    filters: Opt(Type.Array(Filter, { maxItems: 16 })),
    backendRefs: Opt(Type.Array(backendRefSchema(Filter), { maxItems: 16 })),
  },
  closed,
);

const GRPCRouteSpec = Type.Object({ ...COMMON_ROUTE_FIELDS, rules: Opt(Type.Array(Rule, { maxItems: 16 })) }, closed);

export type GRPCRouteSpec = Static<typeof GRPCRouteSpec>;
type MethodMatch = NonNullable<Static<typeof Match>['method']>;

export const grpcRouteKind = defineKind({
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  kind: 'GRPCRoute',
  plural: 'grpcroutes',
  singular: 'grpcroute',
  shortNames: [],
  scope: 'Namespaced',
  spec: GRPCRouteSpec,
  // kubectl prints the route's status (its parents' conditions); a document copied from it still applies.
  extraFields: ['status'],
  // Gateway API ships its own CRDs; Sluice serves the kind, it does not define it.
  crd: false,
  description: 'Gateway API gRPC routing for the traffic to a Service (GAMMA): matches on service, method and headers; header changes and mirroring; weighted backends.',
  check(spec, add) {
    checkParentRefs(spec.parentRefs, add);
    checkHostnames(spec.hostnames ?? [], add);
    const rules = spec.rules ?? [];
    checkRules(rules, 0, add);
    rules.forEach((rule, j) => {
      const path = `spec.rules[${j}]`;
      (rule.matches ?? []).forEach((m, k) => {
        if (m.method !== undefined) checkMethodMatch(m.method, `${path}.matches[${k}].method`, add);
        checkHeaderMatches(m.headers ?? [], `${path}.matches[${k}].headers`, add);
      });
      checkFilters(rule.filters ?? [], `${path}.filters`, COMMON_FILTERS, add);
      (rule.backendRefs ?? []).forEach((b, k) => {
        checkServiceRef(b, `${path}.backendRefs[${k}]`, add);
        checkFilters(b.filters ?? [], `${path}.backendRefs[${k}].filters`, COMMON_FILTERS, add);
      });
    });
  },
  columns: ROUTE_COLUMNS,
});

/** Protobuf names: a package-qualified service (a leading '.' allowed) and a method identifier. */
const SERVICE_NAME = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const METHOD_NAME = /^[A-Za-z_][A-Za-z_0-9]*$/;

function checkMethodMatch(m: MethodMatch, path: string, add: Add): void {
  if (m.service === undefined && m.method === undefined) return add(path, 'needs service, method or both: a method match without either matches nothing in particular (leave out method to match every call)');
  if (m.type === 'RegularExpression') {
    if (m.service !== undefined) checkRegExp(m.service, `${path}.service`, add);
    if (m.method !== undefined) checkRegExp(m.method, `${path}.method`, add);
    return;
  }
  // The usual slip is the whole :path, /helloworld.Greeter/SayHello, in one field.
  const split = 'write the service and the method in their own fields, as in service: helloworld.Greeter, method: SayHello';
  if (m.service !== undefined && !SERVICE_NAME.test(m.service)) {
    add(`${path}.service`, `'${m.service}' is not a gRPC service name: ${m.service.includes('/') ? split : 'dot-separated identifiers such as helloworld.Greeter'}`);
  }
  if (m.method !== undefined && !METHOD_NAME.test(m.method)) {
    add(`${path}.method`, `'${m.method}' is not a gRPC method name: ${m.method.includes('/') ? split : 'an identifier such as SayHello'}`);
  }
}
