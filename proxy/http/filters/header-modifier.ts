// Gateway API RequestHeaderModifier / ResponseHeaderModifier: set, add, remove — in that
// order, as Envoy applies them, so `remove` wins over an `add` of the same name.

import type { HeaderModifier } from '../../config/model.ts';
import type { HeaderMap } from '../context.ts';
import type { Filter } from '../filter.ts';

export function applyHeaderModifier(headers: HeaderMap, mod: HeaderModifier): void {
  for (const { name, value } of mod.set) headers[name] = value;
  for (const { name, value } of mod.add) {
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else if (Array.isArray(had)) headers[name] = [...had, value];
    else headers[name] = [had, value];
  }
  for (const name of mod.remove) delete headers[name];
}

export function requestHeaderModifierFilter(mod: HeaderModifier): Filter {
  return (next) => (ctx) => {
    applyHeaderModifier(ctx.headers, mod);
    return next(ctx);
  };
}

/** Applies to upstream responses and to this route's local replies alike. */
export function responseHeaderModifierFilter(mod: HeaderModifier): Filter {
  return (next) => async (ctx) => {
    const res = await next(ctx);
    applyHeaderModifier(res.headers, mod);
    return res;
  };
}
