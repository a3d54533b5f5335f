// Checks end-user JWTs the way Istio's RequestAuthentication does: a Bearer token is
// optional, but one that is present must be valid. The token's (unverified) `iss` picks the
// provider; jose then checks signature, issuer, audience, exp and nbf with that provider's
// keys. Everything per provider (key sets, fetch state) is built once here; verify() only
// reads it, plus a small cache of recent valid results.

import assert from 'node:assert/strict';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { FetchImplementation, JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import { deepFreeze } from '../config/frozen.ts';
import type { JwksSource, JwtDeps, JwtProvider, JwtResult, JwtValid, JwtVerifier } from './model.ts';

/**
 * Asymmetric algorithms only. A symmetric (HS*) key in a JWKS would let whoever can verify
 * also mint tokens, and accepting HS256 beside RS256 lets an attacker sign with the public
 * key as the HMAC secret; `none` is no signature at all.
 */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const ACCEPTED_ALGS: ReadonlySet<string> = new Set(ALGORITHMS);

/** Three base64url parts; the signature may be empty so that `alg: none` gets its own reason. */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const BEARER = /^(\S+)(?:[ \t]+(.*))?$/;

// An uncached verify costs about 150 µs (RS256, mostly the signature); a client sends the same
// token on every request. Bounded so a flood of distinct tokens cannot grow memory; the TTL
// bounds how long a key the IdP removed still vouches for a token already seen.
const RESULT_CACHE_SIZE = 1000;
const RESULT_CACHE_TTL_MS = 60_000;
/** After a failed JWKS fetch, no new fetch for this long (Envoy's failed_refetch_duration). */
const FAILED_REFETCH_MS = 1000;

const NONE: JwtResult = Object.freeze({ kind: 'none' });
const invalid = (reason: string): JwtResult => ({ kind: 'invalid', reason });

type Provider = { readonly config: JwtProvider; readonly keys: JWTVerifyGetKey; readonly verifyOptions: Parameters<typeof jwtVerify>[2] };

export function createJwtVerifier(providers: readonly JwtProvider[], deps: JwtDeps): JwtVerifier {
  const byIssuer = new Map<string, Provider>();
  for (const config of providers) {
    const verifyOptions = {
      issuer: config.issuer,
      ...(config.audiences === null ? {} : { audience: [...config.audiences] }),
      clockTolerance: config.clockSkewMs / 1000,
      algorithms: [...ALGORITHMS],
    };
    // checkRequestAuthentication refuses an issuer in two rules: the iss picks one provider.
    assert(!byIssuer.has(config.issuer), `two JWT providers for issuer ${config.issuer}`);
    byIssuer.set(config.issuer, { config, keys: keySet(config, config.jwks, deps), verifyOptions });
  }
  const claimHeaderNames = Object.freeze([...new Set(providers.flatMap((p) => p.outputClaimToHeaders.map((o) => o.header)))]);
  const cache = new Map<string, { readonly result: JwtValid; readonly expiresAt: number }>();

  async function check(token: string, now: number): Promise<JwtResult> {
    let header: ProtectedHeaderParameters;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      return invalid('the Bearer token is not a JWT: its header or payload is not base64url-encoded JSON');
    }
    if (typeof header.alg !== 'string' || !ACCEPTED_ALGS.has(header.alg)) {
      return invalid(`algorithm '${String(header.alg)}' is not accepted; tokens must be signed with one of ${ALGORITHMS.join(', ')}`);
    }
    if (typeof claims.iss !== 'string') return invalid('the token has no iss claim (a string), so no jwtRule can check it');
    const provider = byIssuer.get(claims.iss);
    if (provider === undefined) return invalid(`issuer '${claims.iss}' is not accepted (no jwtRule names it)`);
    try {
      const { payload } = await jwtVerify(token, provider.keys, { ...provider.verifyOptions, currentDate: new Date(now) });
      return valid(provider.config, payload);
    } catch (err) {
      return invalid(describe(err, provider.config, header, claims, now));
    }
  }

  return {
    claimHeaderNames,
    async verify(authorization) {
      const token = bearerToken(authorization);
      if (typeof token !== 'string') return token;
      const now = deps.now();
      const hit = cache.get(token);
      cache.delete(token);
      if (hit !== undefined && hit.expiresAt > now) {
        cache.set(token, hit); // most recently used goes last; eviction takes the first
        return hit.result;
      }
      const result = await check(token, now);
      if (result.kind === 'valid') {
        const exp = typeof result.claims.exp === 'number' ? result.claims.exp * 1000 : Infinity;
        // Not past exp, even within the clock skew: a token that near its end is checked afresh.
        const expiresAt = Math.min(exp, now + RESULT_CACHE_TTL_MS);
        if (expiresAt > now) {
          if (cache.size >= RESULT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
          cache.set(token, { result, expiresAt });
        }
      }
      return result;
    },
  };
}

/** The token of a single `Bearer` credential, or the result when there is none or it is malformed. */
function bearerToken(authorization: string | readonly string[] | undefined): string | JwtResult {
  if (authorization === undefined) return NONE;
  if (typeof authorization !== 'string') {
    if (authorization.length > 1) return invalid(`the request has ${authorization.length} Authorization headers; send exactly one`);
    if (authorization.length === 0) return NONE;
    authorization = authorization[0];
  }
  const m = BEARER.exec(authorization.trim());
  if (m === null || m[1].toLowerCase() !== 'bearer') return NONE;
  const token = (m[2] ?? '').trim();
  if (token === '') return invalid('the Bearer token is empty');
  // A JWT has no comma: this is several Authorization headers a listener joined.
  if (token.includes(',')) return invalid('the request has several Authorization headers (joined with ","); send exactly one');
  if (!COMPACT_JWS.test(token)) return invalid('the Bearer token is not a JWT (expected three base64url parts: header.payload.signature)');
  return token;
}

function valid(p: JwtProvider, claims: JWTPayload): JwtValid {
  const subject = typeof claims.sub === 'string' ? claims.sub : '';
  const outputHeaders: (readonly [string, string])[] = [];
  for (const { header, claim } of p.outputClaimToHeaders) {
    const v = claims[claim];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
    const text = String(v);
    // A claim is attacker-chosen text as far as header syntax goes: CR/LF would split the header.
    if (/[^\t\x20-\x7e\x80-\xff]/.test(text)) continue;
    outputHeaders.push([header, text]);
  }
  return deepFreeze({
    kind: 'valid',
    issuer: p.issuer,
    subject,
    principal: `${p.issuer}/${subject}`,
    claims,
    outputHeaders,
    forwardOriginalToken: p.forwardOriginalToken,
  });
}

// --- key sets ---

/** Internal: a JWKS that could not be fetched; its message is the operator's reason. */
class JwksUnavailable extends Error {}

function keySet(p: JwtProvider, src: JwksSource, deps: JwtDeps): JWTVerifyGetKey {
  if (src.kind === 'inline') return createLocalJWKSet(src.jwks);
  const fields = { issuer: p.issuer, jwksUri: src.uri };
  let failing = false;
  let retryAt = 0;
  let lastReason = '';
  let stale: JWTVerifyGetKey | undefined;

  // Our fetch for jose: every outcome passes here, so logging happens once per failure
  // spell (not per request) and the reason names what went wrong.
  const fetchJwks: FetchImplementation = async (url, init) => {
    try {
      const res = await fetch(url, init);
      const body = await res.text();
      const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
      if (res.status !== 200) throw new JwksUnavailable(`JWKS ${src.uri} answered HTTP ${res.status}${redirect}`);
      if (!isJwkSet(body)) throw new JwksUnavailable(`JWKS ${src.uri} did not answer with a JSON Web Key Set ({"keys":[...]})`);
      stale = undefined;
      if (failing) deps.log('info', 'JWKS fetched again', fields);
      failing = false;
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      lastReason = err instanceof JwksUnavailable ? err.message : fetchFailure(err, src.uri, src.timeoutMs);
      retryAt = deps.now() + FAILED_REFETCH_MS;
      if (!failing) deps.log('warn', 'JWKS fetch failed; tokens of this issuer are checked against the keys fetched before, or refused if there are none', { ...fields, reason: lastReason });
      failing = true;
      throw new JwksUnavailable(lastReason, { cause: err });
    }
  };
  const remote = createRemoteJWKSet(new URL(src.uri), {
    cacheMaxAge: src.cacheMaxAgeMs,
    cooldownDuration: src.cooldownMs,
    timeoutDuration: src.timeoutMs,
    [customFetch]: fetchJwks,
  });

  // Like istiod, keep using the last keys fetched while the IdP is away: an IdP blip past
  // cacheDuration must not turn every request into a 401. With no keys yet there is
  // nothing to check against, and the token is invalid (Istio answers 401 too).
  const lastKnown: JWTVerifyGetKey = (header, token) => {
    const jwks = remote.jwks();
    if (jwks === undefined) throw new JwksUnavailable(`${lastReason}; no keys of ${p.issuer} fetched yet`);
    stale ??= createLocalJWKSet(jwks);
    return stale(header, token);
  };
  return async (header, token) => {
    if (failing && deps.now() < retryAt) return lastKnown(header, token);
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof JwksUnavailable) return lastKnown(header, token);
      throw err;
    }
  };
}

function isJwkSet(body: string): boolean {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys);
  } catch {
    return false;
  }
}

function fetchFailure(err: unknown, uri: string, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `JWKS ${uri} did not answer within ${timeoutMs}ms`;
  return `JWKS ${uri} is unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)}`;
}

// --- reasons ---

const iso = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : String(seconds));

/** jose's failure as a sentence an operator can act on. */
function describe(err: unknown, p: JwtProvider, header: ProtectedHeaderParameters, claims: JWTPayload, now: number): string {
  if (err instanceof JwksUnavailable) return err.message;
  const e = err as { code?: string; claim?: string; reason?: string; message?: string };
  const at = `now is ${new Date(now).toISOString()}, clock skew allowed ${p.clockSkewMs / 1000}s`;
  const kid = header.kid === undefined ? 'no kid' : `kid '${header.kid}'`;
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return `the token expired at ${iso(claims.exp)} (${at})`;
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return `the token is not valid before ${iso(claims.nbf)} (${at})`;
      if (e.claim === 'aud') {
        const accepted = `accepted audiences: ${p.audiences?.join(', ')}`;
        return e.reason === 'missing' ? `the token has no aud claim; ${accepted}` : `audience ${JSON.stringify(claims.aud)} not accepted; ${accepted}`;
      }
      return `claim '${e.claim}' is not valid: ${e.message}`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return `the signature does not verify with the key of ${p.issuer} (${kid}): the token was altered or signed by someone else`;
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return `unknown kid: no ${header.alg} signing key with ${kid} in the JWKS of ${p.issuer}${p.jwks.kind === 'remote' ? ` (refetched at most every ${p.jwks.cooldownMs / 1000}s)` : ''}`;
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return `the token has ${kid} and several ${header.alg} keys of the JWKS of ${p.issuer} fit it`;
    default:
      return `the token is not valid: ${e.message ?? String(err)}`;
  }
}
