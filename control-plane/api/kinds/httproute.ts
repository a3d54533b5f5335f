// HTTPRoute: Gateway API's v1 HTTP routing resource (standard channel), attached to a
// Service as Sluice routes mesh traffic (GAMMA). The schema is Gateway API's, so a route
// written for any GAMMA mesh applies unchanged; httproute-checks.ts holds the rules the
// upstream CRD states as CEL, and the few Sluice adds.

import Type, { type Static } from 'typebox';
import { closed, DNS_SUBDOMAIN_PATTERN, Duration, HTTP_METHODS, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind } from '../kind.ts';
import { backendRefSchema, COMMON_FILTER_FIELDS, COMMON_ROUTE_FIELDS, HeaderMatch, HeaderName, MatchType, PortNumber, ROUTE_COLUMNS, SectionName } from './gateway-common.ts';
import { checkHTTPRoute } from './httproute-checks.ts';

export const PATH_MATCH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;

const Match = Type.Object(
  {
    /** Default {type: PathPrefix, value: /}. */
    path: Opt(Type.Object({ type: Opt(Type.Enum(PATH_MATCH_TYPES)), value: Opt(Type.String({ maxLength: 1024 })) }, closed)),
    headers: Opt(Type.Array(HeaderMatch, { maxItems: 16 })),
    queryParams: Opt(Type.Array(Type.Object({ type: Opt(MatchType), name: HeaderName, value: Type.String({ minLength: 1, maxLength: 1024 }) }, closed), { maxItems: 16 })),
    method: Opt(Type.Enum(HTTP_METHODS)),
  },
  closed,
);

const PathModifier = Type.Object(
  {
    type: Type.Enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
    replaceFullPath: Opt(Type.String({ maxLength: 1024 })),
    replacePrefixMatch: Opt(Type.String({ maxLength: 1024 })),
  },
  closed,
);

/** Gateway API PreciseHostname: no wildcard, since it is written into the request. */
const PreciseHostname = Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, minLength: 1, maxLength: 253 });

const RequestRedirect = Type.Object(
  {
    scheme: Opt(Type.Enum(['http', 'https'])),
    hostname: Opt(PreciseHostname),
    path: Opt(PathModifier),
    port: Opt(PortNumber),
    /** Default 302. */
    statusCode: Opt(Type.Enum([301, 302, 303, 307, 308])),
  },
  closed,
);

const URLRewrite = Type.Object({ hostname: Opt(PreciseHostname), path: Opt(PathModifier) }, closed);

/** HTTPRoute's filter types, in Gateway API's order; httproute-checks.ts says what each needs. */
export const HTTP_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef'] as const;

const Filter = Type.Object(
  {
    type: Type.Enum(HTTP_FILTER_TYPES),
    ...COMMON_FILTER_FIELDS,
    requestRedirect: Opt(RequestRedirect),
    urlRewrite: Opt(URLRewrite),
  },
  closed,
);

const Rule = Type.Object(
  {
    name: Opt(SectionName),
    /** Default one match: path prefix /. */
    matches: Opt(Type.Array(Match, { maxItems: 64 })),
    filters: Opt(Type.Array(Filter, { maxItems: 16 })),
    backendRefs: Opt(Type.Array(backendRefSchema(Filter), { maxItems: 16 })),
    /** `request` bounds the whole exchange, retries included; `backendRequest` each try. "0s" means none. */
    timeouts: Opt(Type.Object({ request: Opt(Duration), backendRequest: Opt(Duration) }, closed)),
  },
  closed,
);

const HTTPRouteSpec = Type.Object({ ...COMMON_ROUTE_FIELDS, rules: Opt(Type.Array(Rule, { minItems: 1, maxItems: 16 })) }, closed);

export type HTTPRouteSpec = Static<typeof HTTPRouteSpec>;
export type HTTPRouteRule = Static<typeof Rule>;
export type HTTPRouteMatch = Static<typeof Match>;
export type HTTPRouteFilter = Static<typeof Filter>;
export type HTTPPathModifier = Static<typeof PathModifier>;
export type HTTPRequestRedirect = Static<typeof RequestRedirect>;
export type HTTPURLRewrite = Static<typeof URLRewrite>;

export const httpRouteKind = defineKind({
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  kind: 'HTTPRoute',
  plural: 'httproutes',
  singular: 'httproute',
  shortNames: [],
  scope: 'Namespaced',
  spec: HTTPRouteSpec,
  // kubectl prints the route's status (its parents' conditions); a document copied from it still applies.
  extraFields: ['status'],
  // Gateway API ships its own CRDs; Sluice serves the kind, it does not define it.
  crd: false,
  description: 'Gateway API HTTP routing for the traffic to a Service (GAMMA): matches on path, headers, query and method; header changes, redirects, rewrites and mirroring; weighted backends and timeouts.',
  check: checkHTTPRoute,
  columns: ROUTE_COLUMNS,
});
