// End-user authentication (RequestAuthentication): a bearer token is checked before the
// request is routed. No token: the request goes on without claims, and authorization
// decides. A token that does not check out: 401, never forwarded. A good one: its claims
// and principal go on the context for authorization, chosen claims into headers.

import type { JwtVerifier } from '../../jwt/model.ts';
import { bearerChallenge } from '../../jwt/model.ts';
import { SluiceError } from '../../errors.ts';
import type { RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';

const NONE: readonly string[] = Object.freeze([]);

export function jwtAuthnFilter(verifier: JwtVerifier): Filter {
  const claimHeaders = verifier.claimHeaderNames;
  return (next) => (ctx) => {
    // A client must never set what only a verified token may say; authorization reads
    // these headers as this filter leaves them, not as the client sent them.
    for (const name of claimHeaders) delete ctx.headers[name];
    ctx.rewrittenHeaders = claimHeaders;
    return verifier.verify(headerValues(ctx, 'authorization')).then((result) => {
      if (result.kind === 'none') return next(ctx);
      if (result.kind === 'invalid') {
        // The reason is the caller's to fix (expired, wrong audience...): it says so, as Envoy does.
        const challenge = { 'www-authenticate': bearerChallenge(`http://${ctx.authority}${ctx.path}`) };
        return Promise.reject(new SluiceError('JWT_INVALID', `Jwt verification fails: ${result.reason}`, { headers: challenge }));
      }
      ctx.jwt = { principal: result.principal, claims: result.claims };
      if (!result.forwardOriginalToken) delete ctx.headers.authorization;
      for (const [name, value] of result.outputHeaders) ctx.headers[name] = value;
      return next(ctx);
    });
  };
}

/**
 * Every value of header `name` (lower-case) as separate strings, duplicates not joined: as
 * the client sent them, except for headers a filter rewrote, which are read as rewritten.
 */
export function headerValues(ctx: RequestContext, name: string): readonly string[] {
  if (ctx.rewrittenHeaders.includes(name)) {
    const v = ctx.headers[name];
    return v === undefined ? NONE : Array.isArray(v) ? v : [v];
  }
  const raw = ctx.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}
