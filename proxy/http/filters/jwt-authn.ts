// End-user authentication (RequestAuthentication): a bearer token is checked before the
// request is routed. No token: the request goes on without claims, and authorization
// decides. A token that does not check out: 401, never forwarded. A good one: its claims
// and principal go on the context for authorization, chosen claims into headers.

import type { JwtVerifier } from '../../jwt/model.ts';
import { bearerChallenge } from '../../jwt/model.ts';
import type { HeaderMap, RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { DETAILS_HEADER } from '../rescue.ts';

export function jwtAuthnFilter(verifier: JwtVerifier): Filter {
  const claimHeaders = verifier.claimHeaderNames;
  return (next) => (ctx) => {
    // A client must never set what only a verified token may say.
    for (const name of claimHeaders) delete ctx.headers[name];
    return verifier.verify(headerValues(ctx, 'authorization')).then((result) => {
      if (result.kind === 'none') return next(ctx);
      if (result.kind === 'invalid') {
        // The reason is the caller's to fix (expired, wrong audience...): it says so, as Envoy does.
        const body = `Jwt verification fails: ${result.reason}\n`;
        ctx.details = 'jwt_authn_access_denied';
        return {
          status: 401,
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': String(Buffer.byteLength(body)),
            'www-authenticate': bearerChallenge(`http://${ctx.authority}${ctx.path}`),
            [DETAILS_HEADER]: 'jwt_authn_access_denied',
          } satisfies HeaderMap,
          body,
        };
      }
      ctx.jwt = { principal: result.principal, claims: result.claims };
      if (!result.forwardOriginalToken) delete ctx.headers.authorization;
      for (const [name, value] of result.outputHeaders) ctx.headers[name] = value;
      return next(ctx);
    });
  };
}

/** Every value a client sent for `name` (lower-case), as separate strings: duplicates are not joined. */
export function headerValues(ctx: RequestContext, name: string): string[] {
  const raw = ctx.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}
