// Authorization (AuthorizationPolicy): the listener's compiled policies decide on the
// request as it arrived, before routing: the mTLS peer, method, normalized path, Host,
// headers, and the claims of a verified token. A denied request is answered 403 with
// Envoy's RBAC flag and never reaches a backend.

import type { AuthzRequest, Authorizer } from '../../authz/index.ts';
import { SluiceError } from '../../errors.ts';
import type { RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { headerValues } from './jwt-authn.ts';
import { notesOf } from '../../telemetry/failure-notes.ts';

export function rbacFilter(authorize: Authorizer): Filter {
  return (next) => (ctx) => {
    const decision = authorize(new RequestView(ctx));
    if (decision.allowed) return next(ctx);
    notesOf(ctx).rbac = { policy: decision.policy, reason: decision.reason };
    // The client learns only that it was denied; which policy is in the details (access log).
    return Promise.reject(new SluiceError('RBAC_DENIED', undefined, { details: `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]` }));
  };
}

/** The context as the authorization engine reads it; one small object per request. */
class RequestView implements AuthzRequest {
  #ctx: RequestContext;
  readonly peer: string | null;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly claims: Readonly<Record<string, unknown>> | null;
  readonly principal: string | null;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
    this.peer = ctx.peer?.identity ?? null;
    this.method = ctx.method;
    this.path = ctx.path;
    this.host = ctx.authority;
    this.claims = ctx.jwt?.claims ?? null;
    this.principal = ctx.jwt?.principal ?? null;
  }

  headerValues(name: string): readonly string[] {
    return headerValues(this.#ctx, name);
  }
}
