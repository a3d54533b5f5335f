// End-user JWT validation, resolved: what a RequestAuthentication's jwtRules become once
// validated (kinds/jwt-spec.ts, resolved by proxy/config/jwt-spec.ts), and what the verifier answers per request. Plain
// readonly data; the verifier is built from it once and never mutates it.

import type { JSONWebKeySet, JWTPayload } from 'jose';
import { JWT_RULE_DEFAULTS_MS } from '../../kinds/jwt-defaults.ts';

/**
 * Where an issuer's public keys come from. For a remote JWKS, cacheMaxAgeMs and cooldownMs
 * run on the wall clock (jose reads Date.now), not on JwtDeps.now.
 */
export type JwksSource =
  | {
      readonly kind: 'remote';
      /** http(s) URL of the JWKS, e.g. Keycloak's `<issuer>/protocol/openid-connect/certs`. */
      readonly uri: string;
      /** A fetched JWKS is used this long, then fetched again on the next request (cacheDuration). */
      readonly cacheMaxAgeMs: number;
      /** After a successful fetch, a token with an unknown kid refetches only once this has passed. */
      readonly cooldownMs: number;
      /** A fetch that takes longer is abandoned. */
      readonly timeoutMs: number;
    }
  | { readonly kind: 'inline'; readonly jwks: JSONWebKeySet };

/** One jwtRule: the tokens of one issuer. */
export type JwtProvider = {
  /** Matched exactly against the token's `iss`; it also picks the provider. */
  readonly issuer: string;
  /** The token's `aud` (a string or a list) must name one of these; null: `aud` is not checked. */
  readonly audiences: readonly string[] | null;
  readonly jwks: JwksSource;
  /** Tolerance applied to `exp` and `nbf`. */
  readonly clockSkewMs: number;
  /** false: the filter removes the Authorization header before forwarding (Istio's default). */
  readonly forwardOriginalToken: boolean;
  /** Header names are lower-case; a claim is a top-level claim name. */
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
};

/** What a jwtRule gets for the fields it leaves out, and what no field sets. */
export const JWT_DEFAULTS = Object.freeze({
  cacheMaxAgeMs: JWT_RULE_DEFAULTS_MS.cacheDuration,
  clockSkewMs: JWT_RULE_DEFAULTS_MS.clockSkew,
  // jose's defaults, spelled out: an IdP's rotation is seen within 30s, and a flood of
  // tokens with made-up kids costs the IdP at most one fetch per 30s.
  cooldownMs: 30_000,
  timeoutMs: JWT_RULE_DEFAULTS_MS.fetchTimeout,
});

// --- what the verifier answers ---

export type JwtValid = {
  readonly kind: 'valid';
  readonly issuer: string;
  /** `sub`, or '' when the token has none. */
  readonly subject: string;
  /** Istio's request principal: `${iss}/${sub}`, what authorization policies match. */
  readonly principal: string;
  /** The verified claims, deep-frozen (a cached result is shared between requests). */
  readonly claims: Readonly<JWTPayload>;
  /** [lower-case name, value] from outputClaimToHeaders, for the claims that are a string, number or boolean. */
  readonly outputHeaders: readonly (readonly [string, string])[];
  /** The provider's forwardOriginalToken: false means drop Authorization before forwarding. */
  readonly forwardOriginalToken: boolean;
};

/**
 * `none`: the request carries no bearer token (no Authorization header, or another scheme);
 * authorization policies decide. `invalid`: answer 401 with bearerChallenge(); `reason` is
 * for the operator's log, in words they can act on.
 */
export type JwtResult = { readonly kind: 'none' } | JwtValid | { readonly kind: 'invalid'; readonly reason: string };

export interface JwtVerifier {
  /**
   * Checks the request's Authorization header. Called once per request, concurrently with
   * other requests; never rejects (failures are `invalid` results). Pass every value the
   * client sent: Node keeps only the first duplicate Authorization in `req.headers`, so use
   * `req.headersDistinct.authorization` (a listener that joins duplicates yields one string
   * with ", ", which is also recognised). The result may be a cached, shared object: do not
   * mutate it.
   */
  verify(authorization: string | readonly string[] | undefined): Promise<JwtResult>;
  /**
   * Every header name any provider's outputClaimToHeaders writes (lower-case). The filter
   * should remove these from every request before adding a valid result's outputHeaders,
   * or a client could send `x-jwt-sub` itself, with or without a token.
   */
  readonly claimHeaderNames: readonly string[];
}

export type JwtDeps = {
  /** ms since the epoch; drives exp / nbf checks, the result cache and the fetch-failure backoff. */
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
};

/** The WWW-Authenticate value of the 401 for an invalid token (RFC 6750 §3). */
export function bearerChallenge(realm: string): string {
  return `Bearer realm="${realm.replace(/["\\]/g, '\\$&')}", error="invalid_token"`;
}
