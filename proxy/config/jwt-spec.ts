// RequestAuthentication: a spec that passed the shared schema and checks
// (kinds/jwt-spec.ts) resolved into the JwtProvider[] proxy/jwt verifies with.

import type { JSONWebKeySet } from 'jose';
import type { RequestAuthenticationSpec } from '../../kinds/jwt-spec.ts';
import { JWT_DEFAULTS, type JwtProvider } from '../jwt/model.ts';
import { deepFreeze } from './frozen.ts';
import { parseDuration } from './schema.ts';

type JwtRule = RequestAuthenticationSpec['jwtRules'][number];

/** The providers of a spec that passed the schema and checkRequestAuthentication, deep-frozen. */
export function resolveRequestAuthentication(spec: RequestAuthenticationSpec, _baseDir?: string): JwtProvider[] {
  // _baseDir: the loader passes every kind the document's folder; no field of this kind names a file.
  return deepFreeze(spec.jwtRules.map(provider));
}

function provider(rule: JwtRule): JwtProvider {
  const ms = (d: string | undefined, dflt: number) => (d === undefined ? dflt : parseDuration(d));
  return {
    issuer: rule.issuer,
    audiences: rule.audiences === undefined ? null : [...rule.audiences],
    jwks:
      rule.jwks !== undefined
        ? { kind: 'inline', jwks: JSON.parse(rule.jwks) as JSONWebKeySet }
        : {
            kind: 'remote',
            uri: rule.jwksUri as string,
            cacheMaxAgeMs: ms(rule.cacheDuration, JWT_DEFAULTS.cacheMaxAgeMs),
            cooldownMs: JWT_DEFAULTS.cooldownMs,
            timeoutMs: JWT_DEFAULTS.timeoutMs,
          },
    clockSkewMs: ms(rule.clockSkew, JWT_DEFAULTS.clockSkewMs),
    forwardOriginalToken: rule.forwardOriginalToken ?? false,
    outputClaimToHeaders: (rule.outputClaimToHeaders ?? []).map((o) => ({ header: o.header.toLowerCase(), claim: o.claim })),
  };
}
