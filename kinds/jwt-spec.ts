// RequestAuthentication (mesh.sluice.dev/v1alpha1): which end-user JWTs are accepted where
// requests arrive, Istio's kind of the same name. This file holds what the proxy's static
// config and the control plane share: the spec's fields (the caller adds its targetRefs)
// and the checks a schema cannot express. The proxy resolves a checked spec into its
// JwtProvider[] (proxy/config/jwt-spec.ts).

import Type, { type Static } from 'typebox';
import { checkInlineJwks } from './jwks-check.ts';
import { checkDurations, closed, describeValue, Duration, HEADER_NAME_PATTERN, Opt, parseDuration, Text } from './schema-kit.ts';

const HeaderName = Type.String({ pattern: HEADER_NAME_PATTERN });

const JwtRule = Type.Object(
  {
    issuer: Text,
    /** Absent: `aud` is not checked. Empty is refused: it would read as "no audience" but mean "any". */
    audiences: Opt(Type.Array(Text, { minItems: 1 })),
    jwksUri: Opt(Text),
    /** An inline JWKS as a JSON string, as Istio has it. */
    jwks: Opt(Text),
    cacheDuration: Opt(Duration),
    clockSkew: Opt(Duration),
    forwardOriginalToken: Opt(Type.Boolean()),
    outputClaimToHeaders: Opt(Type.Array(Type.Object({ header: HeaderName, claim: Text }, closed))),
  },
  closed,
);

/** The spec's properties without targetRefs: `Type.Object({ targetRefs, ...requestAuthenticationSpecFields }, closed)`. */
export const requestAuthenticationSpecFields = { jwtRules: Type.Array(JwtRule, { minItems: 1 }) };

const Spec = Type.Object(requestAuthenticationSpecFields, closed);

export { JWT_RULE_DEFAULTS_MS } from './jwt-defaults.ts';
export { checkInlineJwks } from './jwks-check.ts';
export type RequestAuthenticationSpec = Static<typeof Spec>;
type Add = (path: string, message: string) => void;

/**
 * Headers a claim must not be written to: the token's own header (forwardOriginalToken
 * decides about it), and those that frame or route the request.
 */
const RESERVED_HEADERS = new Set(['authorization', 'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'trailer']);

/** Every violation of a spec that passed the schema, at `${path}.jwtRules[i]...`. */
export function checkRequestAuthentication(spec: RequestAuthenticationSpec, path: string, add: Add): void {
  const issuers = new Map<string, number>();
  spec.jwtRules.forEach((rule, i) => {
    const at = `${path}.jwtRules[${i}]`;
    const first = issuers.get(rule.issuer);
    if (first !== undefined) add(`${at}.issuer`, `issuer '${rule.issuer}' is already accepted by jwtRules[${first}]; a token's iss picks exactly one rule, so give each issuer one rule (it can list several audiences)`);
    else issuers.set(rule.issuer, i);

    if (rule.jwksUri !== undefined && rule.jwks !== undefined) add(at, "set either 'jwksUri' or 'jwks', not both");
    if (rule.jwksUri === undefined && rule.jwks === undefined) {
      add(at, "needs 'jwksUri' (where the issuer publishes its keys; Keycloak's is <issuer>/protocol/openid-connect/certs) or 'jwks' (the key set inline)");
    }
    if (rule.jwksUri !== undefined) checkJwksUri(rule.jwksUri, `${at}.jwksUri`, add);
    if (rule.jwks !== undefined) {
      checkInlineJwks(rule.jwks, `${at}.jwks`, add);
      if (rule.cacheDuration !== undefined) add(`${at}.cacheDuration`, "applies to keys fetched from 'jwksUri' only; an inline 'jwks' is never refetched");
    }

    checkDurations(add, at, { cacheDuration: rule.cacheDuration, clockSkew: rule.clockSkew });
    if (rule.cacheDuration !== undefined && parseDuration(rule.cacheDuration) < 1000) add(`${at}.cacheDuration`, `must be at least 1s (each expiry refetches the JWKS); got ${rule.cacheDuration}`);

    const headers = new Map<string, number>();
    rule.outputClaimToHeaders?.forEach((o, k) => {
      const name = o.header.toLowerCase();
      if (RESERVED_HEADERS.has(name)) add(`${at}.outputClaimToHeaders[${k}].header`, `'${o.header}' cannot carry a claim: the proxy manages it; pick an application header such as x-jwt-${o.claim.toLowerCase()}`);
      const dup = headers.get(name);
      if (dup !== undefined) add(`${at}.outputClaimToHeaders[${k}].header`, `'${o.header}' is already written by outputClaimToHeaders[${dup}]`);
      else headers.set(name, k);
    });
  });
}

function checkJwksUri(text: string, path: string, add: Add): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return add(path, `must be an absolute http(s) URL; got ${describeValue(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') add(path, `must be an http(s) URL; got scheme '${url.protocol.slice(0, -1)}'`);
  else if (url.username !== '' || url.password !== '') add(path, 'must not carry credentials: a JWKS is public');
}

