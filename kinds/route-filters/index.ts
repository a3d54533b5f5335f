// Gateway API's route filter types, one list per route kind, each entry a file of this
// folder: a new filter is a file and a line below. The API's HTTPRoute and GRPCRoute and
// the proxy's static file build their filter schema and run their filter checks from these
// lists, so a filter is accepted and refused alike everywhere. The order is Gateway API's,
// and it is the order `type`'s allowed values are listed in an error.

import Type, { type TObject, type TOptional, type TSchema, type TEnum } from 'typebox';
import { closed, Opt } from '../schema-kit.ts';
import { entries, firstSeen, isRecord, type RuleContext } from '../route-check.ts';
import type { RouteFilter } from './filter.ts';
import { extensionRef } from './extension-ref.ts';
import { requestHeaderModifier, responseHeaderModifier } from './header-modifier.ts';
import { requestMirror } from './request-mirror.ts';
import { requestRedirect } from './request-redirect.ts';
import { urlRewrite } from './url-rewrite.ts';

export type { RouteFilter } from './filter.ts';
export { mirrorPercent } from './request-mirror.ts';

/** HTTPRoute's filters; `mirrorRef` is the side's schema of a mirror's backendRef. */
export function httpRouteFilters<R extends TSchema>(mirrorRef: R) {
  return [
    requestHeaderModifier,
    responseHeaderModifier,
    requestMirror(mirrorRef), // the only type that may repeat in a list
    requestRedirect, // answers the request: the rule forwards nothing
    urlRewrite,
    extensionRef, // refused, with why
  ] as const;
}

/** GRPCRoute's filters: HTTPRoute's but the redirect and the rewrite, which a gRPC call has no use for. */
export function grpcRouteFilters<R extends TSchema>(mirrorRef: R) {
  return [requestHeaderModifier, responseHeaderModifier, requestMirror(mirrorRef), extensionRef] as const;
}

type FilterProperties<L extends readonly RouteFilter[]> = { type: TEnum<L[number]['type'][]> } & { [D in L[number] as D['field']]: TOptional<D['schema']> };

/** One filter object: `type` and an optional field per type (which one goes with `type` is checked, not a oneOf, so a slip gets one message). */
export function filterSchema<const L extends readonly RouteFilter[]>(filters: L): TObject<FilterProperties<L>> {
  const fields = Object.fromEntries(filters.map((f) => [f.field, Opt(f.schema)]));
  return Type.Object({ type: Type.Enum(filters.map((f) => f.type)), ...fields }, closed) as unknown as TObject<FilterProperties<L>>;
}

/**
 * Checks one filter list (a rule's or a backendRef's) against a route kind's filters:
 * the field beside `type`, each type's own rules, repetition, and a redirect never with
 * a rewrite. Returns the index of the first filter of each type, for the rule's checks.
 */
export function checkFilters(filters: unknown, path: string, registry: readonly RouteFilter[], ctx: RuleContext): Map<string, number> {
  const seen = new Map<string, number>();
  entries(filters).forEach((f, k) => {
    const at = `${path}[${k}]`;
    if (!isRecord(f) || !ctx.sound(`${at}.type`)) return;
    const filter = registry.find((d) => d.type === f.type);
    if (filter === undefined) return;
    const first = firstSeen(seen, filter.type, k);
    if (filter.unsupported !== undefined) {
      const supported = registry.filter((d) => d.unsupported === undefined).map((d) => d.type);
      return ctx.add(`${at}.type`, `${filter.type} filters are not supported: ${filter.unsupported}; use ${supported.join(', ')}`);
    }
    if (first !== undefined && filter.repeatable !== true) {
      const repeatable = registry.filter((d) => d.repeatable === true).map((d) => d.type);
      ctx.add(`${at}.type`, `${filter.type} appears more than once in this list (first at filters[${first}]); only ${repeatable.join(' and ')} may repeat`);
    }
    for (const other of registry) {
      if (other.field !== filter.field && f[other.field] !== undefined) ctx.add(`${at}.${other.field}`, `does not go with type ${filter.type}; put it in a filter of its own with type ${other.type}`);
    }
    const value = f[filter.field];
    if (value === undefined) ctx.add(`${at}.${filter.field}`, `is required when type is ${filter.type}`);
    else if (isRecord(value)) filter.check?.(value as never, `${at}.${filter.field}`, ctx);
  });
  const redirect = seen.get(requestRedirect.type);
  const rewrite = seen.get(urlRewrite.type);
  if (redirect !== undefined && rewrite !== undefined) {
    ctx.add(`${path}[${Math.max(redirect, rewrite)}].type`, `RequestRedirect (filters[${redirect}]) and URLRewrite (filters[${rewrite}]) cannot be combined: a redirect answers the request, so nothing is forwarded to rewrite`);
  }
  return seen;
}

/** Whether every filter's type in the list is known (a broken one might have been a redirect). */
export function filterTypesKnown(filters: unknown, path: string, ctx: RuleContext): boolean {
  if (filters !== undefined && !Array.isArray(filters)) return false;
  return entries(filters).every((f, k) => isRecord(f) && typeof f.type === 'string' && ctx.sound(`${path}[${k}].type`));
}

export const REQUEST_REDIRECT = requestRedirect.type;
