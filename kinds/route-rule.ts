// A route rule of Gateway API's HTTPRoute and GRPCRoute, defined once: its schema (matches,
// filters, backendRefs with weights and their own filters, timeouts) and the rules the
// schema cannot say (Gateway API's CEL rules, and the few Sluice adds). The API's route
// kinds and the proxy's static file each compose it with what only they have: what a
// backendRef names (a Service port; a `backends` entry), the route's parents, metadata.

import Type, { type Static, type TProperties, type TSchema } from 'typebox';
import { checkDurations, closed, Duration, Opt, parseDuration } from './schema-kit.ts';
import { entries, firstSeen, isRecord, type RuleContext } from './route-check.ts';
import { SectionName, Weight } from './route-fields.ts';
import { checkGrpcMatch, checkHttpMatch, GrpcMatchSchema, HttpMatchSchema } from './route-match.ts';
import { checkFilters, filterSchema, grpcRouteFilters, httpRouteFilters, REQUEST_REDIRECT, type RouteFilter } from './route-filters/index.ts';

export type { RuleContext } from './route-check.ts';

/** `request` bounds the whole exchange, retries included; `backendRequest` each try. "0s" means none. */
const Timeouts = Type.Object({ request: Opt(Duration), backendRequest: Opt(Duration) }, closed);

/**
 * HTTPRoute's rule. `refFields` are the fields of a backendRef besides weight and filters
 * (what the side calls a backend), `mirrorRef` the schema of a RequestMirror's backendRef.
 */
export function httpRuleSchema<const P extends TProperties, R extends TSchema>(refFields: P, mirrorRef: R) {
  const Filter = filterSchema(httpRouteFilters(mirrorRef));
  return Type.Object(
    {
      name: Opt(SectionName),
      /** Default one match: path prefix /. */
      matches: Opt(Type.Array(HttpMatchSchema, { maxItems: 64 })),
      filters: Opt(Type.Array(Filter, { maxItems: 16 })),
      backendRefs: Opt(Type.Array(Type.Object({ ...refFields, weight: Opt(Weight), filters: Opt(Type.Array(Filter, { maxItems: 16 })) }, closed), { maxItems: 16 })),
      timeouts: Opt(Timeouts),
    },
    closed,
  );
}

/** GRPCRoute's rule, composed as HTTPRoute's is. */
export function grpcRuleSchema<const P extends TProperties, R extends TSchema>(refFields: P, mirrorRef: R) {
  const Filter = filterSchema(grpcRouteFilters(mirrorRef));
  return Type.Object(
    {
      name: Opt(SectionName),
      /** None: every call. */
      matches: Opt(Type.Array(GrpcMatchSchema, { maxItems: 64 })),
      filters: Opt(Type.Array(Filter, { maxItems: 16 })),
      backendRefs: Opt(Type.Array(Type.Object({ ...refFields, weight: Opt(Weight), filters: Opt(Type.Array(Filter, { maxItems: 16 })) }, closed), { maxItems: 16 })),
    },
    closed,
  );
}

// The checks read only each filter's type, field and rules, never the mirror's backendRef schema.
const HTTP_FILTERS: readonly RouteFilter[] = httpRouteFilters(Type.Unknown());
const GRPC_FILTERS: readonly RouteFilter[] = grpcRouteFilters(Type.Unknown());

// --- rule lists ---

/** Gateway API's caps: 16 rules of up to 64 matches each, but at most 128 matches in a route. */
const MAX_ROUTE_MATCHES = 128;

/**
 * Unique rule names, and the route-wide cap on matches, for the rules at `path`.
 * `absentMatches` is what a rule without `matches` counts as: HTTPRoute defaults it to one
 * match, GRPCRoute to none.
 */
export function checkRuleList(rules: unknown, absentMatches: number, path: string, ctx: RuleContext): void {
  const names = new Map<string, number>();
  let matches = 0;
  entries(rules).forEach((rule, j) => {
    if (!isRecord(rule)) return;
    matches += Array.isArray(rule.matches) ? rule.matches.length : absentMatches;
    const first = typeof rule.name === 'string' && ctx.sound(`${path}[${j}].name`) ? firstSeen(names, rule.name, j) : undefined;
    if (first !== undefined) ctx.add(`${path}[${j}].name`, `rule name '${rule.name}' is already used by rules[${first}]`);
  });
  if (matches > MAX_ROUTE_MATCHES) ctx.add(path, `has ${matches} matches across its rules; a route may have at most ${MAX_ROUTE_MATCHES} (and 64 per rule): split it into two routes`);
}

// --- HTTPRoute ---

/** Checks one HTTPRoute rule at `path`; returns the index of the first filter of each type in its own filters. */
export function checkHttpRule(rule: Record<string, unknown>, path: string, ctx: RuleContext): Map<string, number> {
  entries(rule.matches).forEach((m, k) => isRecord(m) && checkHttpMatch(m, `${path}.matches[${k}]`, ctx));
  const types = checkFilters(rule.filters, `${path}.filters`, HTTP_FILTERS, ctx);
  const redirect = types.get(REQUEST_REDIRECT);
  if (redirect !== undefined && entries(rule.backendRefs).length > 0) {
    ctx.add(`${path}.backendRefs`, `must be empty when a RequestRedirect filter (filters[${redirect}]) answers the request: a redirected request is not forwarded`);
  }
  checkBackendRefs(rule.backendRefs, `${path}.backendRefs`, HTTP_FILTERS, ctx);
  checkPrefixReplacement(rule, path, ctx);
  if (isRecord(rule.timeouts) && ctx.sound(`${path}.timeouts`)) checkTimeouts(rule.timeouts as Static<typeof Timeouts>, `${path}.timeouts`, ctx);
  return types;
}

function checkBackendRefs(refs: unknown, path: string, filters: readonly RouteFilter[], ctx: RuleContext): void {
  entries(refs).forEach((b, k) => {
    const at = `${path}[${k}]`;
    if (!isRecord(b)) return;
    if (ctx.sound(at)) ctx.backendRef(b as never, at);
    checkFilters(b.filters, `${at}.filters`, filters, ctx);
  });
}

/** ReplacePrefixMatch replaces the prefix the rule matched, so the rule must have exactly one, a PathPrefix match (a CEL rule). */
function checkPrefixReplacement(rule: Record<string, unknown>, path: string, ctx: RuleContext): void {
  const matches = rule.matches;
  if (matches !== undefined && (!Array.isArray(matches) || !ctx.sound(`${path}.matches`))) return;
  const first: unknown = matches?.[0];
  const firstType = isRecord(first) && isRecord(first.path) ? (first.path.type ?? 'PathPrefix') : 'PathPrefix';
  // Without `matches` the rule gets the default single match, a PathPrefix one.
  const problem =
    matches === undefined ? undefined
    : matches.length !== 1 ? `this rule has ${matches.length === 0 ? 'no' : matches.length} matches`
    : firstType !== 'PathPrefix' ? `matches[0] has type ${String(firstType)}`
    : undefined;
  if (problem === undefined) return;
  const lists = [{ at: `${path}.filters`, filters: rule.filters }, ...entries(rule.backendRefs).map((b, k) => ({ at: `${path}.backendRefs[${k}].filters`, filters: isRecord(b) ? b.filters : undefined }))];
  for (const { at, filters } of lists) {
    entries(filters).forEach((f, k) => {
      const field = !isRecord(f) ? undefined : f.type === 'RequestRedirect' ? 'requestRedirect' : f.type === 'URLRewrite' ? 'urlRewrite' : undefined;
      const modifier = field === undefined ? undefined : (f as Record<string, unknown>)[field];
      const pathModifier = isRecord(modifier) ? modifier.path : undefined;
      if (isRecord(pathModifier) && pathModifier.type === 'ReplacePrefixMatch' && ctx.sound(`${at}[${k}].${field}.path.type`)) {
        ctx.add(`${at}[${k}].${field}.path.type`, `ReplacePrefixMatch needs the rule to have exactly one match, a PathPrefix match (the prefix it replaces); ${problem}`);
      }
    });
  }
}

function checkTimeouts(t: Static<typeof Timeouts>, path: string, ctx: RuleContext): void {
  checkDurations(ctx.add, path, { request: t.request, backendRequest: t.backendRequest });
  // A zero request timeout means none, so any backendRequest fits under it.
  if (t.request !== undefined && t.backendRequest !== undefined && parseDuration(t.request) !== 0 && parseDuration(t.backendRequest) > parseDuration(t.request)) {
    ctx.add(`${path}.backendRequest`, `must not be longer than the request timeout (${t.request}), which covers every try; got ${t.backendRequest}`);
  }
}

// --- GRPCRoute ---

/** Checks one GRPCRoute rule at `path`, a rule the schema accepted. */
export function checkGrpcRule(rule: Static<ReturnType<typeof grpcRuleSchema<{}, TSchema>>>, path: string, ctx: RuleContext): void {
  (rule.matches ?? []).forEach((m, k) => checkGrpcMatch(m, `${path}.matches[${k}]`, ctx));
  checkFilters(rule.filters, `${path}.filters`, GRPC_FILTERS, ctx);
  checkBackendRefs(rule.backendRefs, `${path}.backendRefs`, GRPC_FILTERS, ctx);
}
