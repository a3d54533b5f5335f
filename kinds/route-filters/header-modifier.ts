// RequestHeaderModifier and ResponseHeaderModifier (Gateway API HTTPHeaderFilter): set,
// add or remove headers of the request sent upstream or of the response sent back.

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../schema-kit.ts';
import { entries, isRecord, type RuleContext } from '../route-check.ts';
import { HeaderName, HeaderValue } from '../route-fields.ts';
import { defineFilter } from './filter.ts';

const Header = Type.Object({ name: HeaderName, value: HeaderValue }, closed);
export const HeaderModifierSchema = Type.Object(
  { set: Opt(Type.Array(Header, { maxItems: 16 })), add: Opt(Type.Array(Header, { maxItems: 16 })), remove: Opt(Type.Array(HeaderName, { maxItems: 16 })) },
  closed,
);
export type HeaderModifierSpec = Static<typeof HeaderModifierSchema>;

export const requestHeaderModifier = defineFilter({ type: 'RequestHeaderModifier', field: 'requestHeaderModifier', schema: HeaderModifierSchema, check: checkHeaderModifier });
export const responseHeaderModifier = defineFilter({ type: 'ResponseHeaderModifier', field: 'responseHeaderModifier', schema: HeaderModifierSchema, check: checkHeaderModifier });

function checkHeaderModifier(m: HeaderModifierSpec, path: string, ctx: RuleContext): void {
  // One header in two lists (set and remove, say) asks for two contradicting things.
  const seen = new Map<string, string>();
  for (const list of ['set', 'add', 'remove'] as const) {
    entries(m[list]).forEach((h, k) => {
      const [name, at] = isRecord(h) ? [h.name, `${path}.${list}[${k}].name`] : [h, `${path}.${list}[${k}]`];
      if (typeof name !== 'string' || !ctx.sound(at)) return;
      const first = seen.get(name.toLowerCase());
      if (first === undefined) seen.set(name.toLowerCase(), `${list}[${k}]`);
      else ctx.add(at, `header '${name}' is already modified by ${first} (header names ignore case); name each header once in a modifier`);
    });
  }
}

