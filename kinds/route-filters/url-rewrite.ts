// URLRewrite (Gateway API HTTPURLRewriteFilter): changes the Host and path of the request
// sent upstream; HTTPRoute only.

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../schema-kit.ts';
import type { RuleContext } from '../route-check.ts';
import { PreciseHostname } from '../route-fields.ts';
import { defineFilter } from './filter.ts';
import { checkPathModifier, PathModifierSchema } from './path-modifier.ts';

const URLRewriteSchema = Type.Object({ hostname: Opt(PreciseHostname), path: Opt(PathModifierSchema) }, closed);
export type URLRewriteSpec = Static<typeof URLRewriteSchema>;

export const urlRewrite = defineFilter({ type: 'URLRewrite', field: 'urlRewrite', schema: URLRewriteSchema, check: checkRewrite });

function checkRewrite(r: URLRewriteSpec, path: string, ctx: RuleContext): void {
  if (r.hostname === undefined && r.path === undefined) ctx.add(path, 'rewrites nothing: give hostname, path or both');
  checkPathModifier(r, path, ctx);
}
