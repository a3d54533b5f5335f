// What a route filter type is, in one place (grpc-js-xds's registerHttpFilter): Gateway
// API's `type`, the one field that sits beside it, that field's schema and the rules the
// schema cannot say. index.ts lists them; both the API's route kinds and the proxy's static
// file build their filter schema and checks from that list.

import type { Static, TSchema } from 'typebox';
import type { RuleContext } from '../route-check.ts';

export type RouteFilter<T extends string = string, F extends string = string, S extends TSchema = TSchema> = {
  /** Gateway API's filter `type`. */
  readonly type: T;
  /** The field that must sit beside `type`, holding the filter's settings. */
  readonly field: F;
  readonly schema: S;
  /**
   * The rules `schema` cannot say, on a value of the filter's field that is an object;
   * `path` is that field's. Called once per filter, on every side; it reads `ctx.sound`
   * before reading a part the schema may have refused, and never mutates `value`.
   */
  check?(value: Static<S>, path: string, ctx: RuleContext): void;
  /** Gateway API lets this type repeat in one list. */
  readonly repeatable?: boolean;
  /** Why Sluice refuses the type (it stays in the schema, so the refusal says why). */
  readonly unsupported?: string;
};

export function defineFilter<const T extends string, const F extends string, S extends TSchema>(d: RouteFilter<T, F, S>): RouteFilter<T, F, S> {
  return Object.freeze(d);
}
