// RequestRedirect (Gateway API HTTPRequestRedirectFilter): answers the request with a
// redirect instead of forwarding it; HTTPRoute only.

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../schema-kit.ts';
import type { RuleContext } from '../route-check.ts';
import { PortNumber, PreciseHostname } from '../route-fields.ts';
import { defineFilter } from './filter.ts';
import { checkPathModifier, PathModifierSchema } from './path-modifier.ts';

const RequestRedirectSchema = Type.Object(
  {
    scheme: Opt(Type.Enum(['http', 'https'])),
    hostname: Opt(PreciseHostname),
    path: Opt(PathModifierSchema),
    port: Opt(PortNumber),
    /** Default 302. */
    statusCode: Opt(Type.Enum([301, 302, 303, 307, 308])),
  },
  closed,
);
export type RequestRedirectSpec = Static<typeof RequestRedirectSchema>;

export const requestRedirect = defineFilter({ type: 'RequestRedirect', field: 'requestRedirect', schema: RequestRedirectSchema, check: checkRedirect });

function checkRedirect(r: RequestRedirectSpec, path: string, ctx: RuleContext): void {
  // Gateway API allows an empty redirect, but it sends the client back to the very URL it asked for.
  if (r.scheme === undefined && r.hostname === undefined && r.path === undefined && r.port === undefined) {
    ctx.add(path, 'redirects to the URL that was requested, a loop: give scheme, hostname, path or port');
  }
  checkPathModifier(r, path, ctx);
}
