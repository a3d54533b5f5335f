// The `envoy.filters.http.jwt_authn` filter of an HttpConnectionManager -> the listener's
// JWT providers (proxy/jwt/model.ts), which the same verifier and filter as the static
// file's RequestAuthentication enforce. Read in the form the control plane writes it
// (control-plane/xds/policies/request-authentication/, xds/jwt-form.ts): one rule for every
// path requiring any provider or none (a request without a token goes on, one with a token
// no provider verifies is 401), tokens from the Authorization header's Bearer credentials,
// the payload in the metadata RBAC reads. Anything else is a problem with its path: a
// provider read otherwise than Envoy would read it lets through what Envoy refuses.

import type { JSONWebKeySet } from 'jose';
import { checkInlineJwks } from '../../kinds/jwks-check.ts';
import { HEADER_NAME_PATTERN } from '../../kinds/http-names.ts';
import { FROM_HEADERS, jwksCluster, PAYLOAD_KEY, sameForm } from '../../xds/jwt-form.ts';
import { JWT_DEFAULTS, type JwksSource, type JwtProvider } from '../jwt/model.ts';
import { DURATION, durationMs, EMPTY, mapOf, message, scalar, type Pb, type Shape, type Sink } from './shape.ts';

const requirement: Record<string, Shape> = {};
const REQUIREMENT = message(requirement);
Object.assign(requirement, { provider_name: scalar, requires_any: message({ requirements: REQUIREMENT }), allow_missing: EMPTY });

const PROVIDER = message({
  issuer: scalar,
  audiences: scalar,
  remote_jwks: message({ http_uri: message({ uri: scalar, cluster: scalar, timeout: DURATION }), cache_duration: DURATION }),
  local_jwks: message({ inline_string: scalar }),
  forward: scalar,
  from_headers: message({ name: scalar, value_prefix: scalar }),
  payload_in_metadata: scalar,
  clock_skew_seconds: scalar,
  claim_to_headers: message({ header_name: scalar, claim_name: scalar }),
});

/** envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication, as far as a Sluice proxy reads it. */
export const JWT_AUTHN_CONFIG = message({ providers: mapOf(PROVIDER), rules: message({ match: message({ prefix: scalar }), requires: REQUIREMENT }) });

/** Envoy's defaults for what a provider leaves out. */
const ENVOY_CACHE_MS = 5 * 60_000;
const ENVOY_CLOCK_SKEW_S = 60;

/** A filter's config (already checked against JWT_AUTHN_CONFIG) as providers, in the order of the map. */
export function translateJwtAuthn(config: Pb, sink: Sink): JwtProvider[] {
  const entries = Object.entries((config.providers ?? {}) as Record<string, Pb>);
  if (entries.length === 0) sink.add('providers', 'required: a jwt_authn filter without providers refuses every token; leave the filter out instead');
  const issuers = new Map<string, string>();
  const providers: JwtProvider[] = [];
  for (const [name, p] of entries) {
    const at = sink.at(`providers[${JSON.stringify(name)}]`);
    const read = provider(p, at);
    if (read === undefined) continue;
    const first = issuers.get(read.issuer);
    if (first !== undefined) at.add('issuer', `'${read.issuer}' is already the issuer of provider '${first}': a token's iss picks one provider`);
    else issuers.set(read.issuer, name);
    providers.push(read);
  }
  checkRules(config.rules ?? [], entries.map(([name]) => name), sink.at('rules'));
  return providers;
}

function provider(p: Pb, sink: Sink): JwtProvider | undefined {
  const issuer = String(p.issuer ?? '');
  if (issuer === '') sink.add('issuer', 'required: a Sluice proxy picks the provider by the token\'s iss');
  const jwks = jwksOf(p, sink);
  if (!sameForm(p.from_headers ?? [], FROM_HEADERS)) {
    sink.add('from_headers', "must be [{ name: 'Authorization', value_prefix: 'Bearer ' }]: a Sluice proxy reads the token there only (unset, Envoy also reads an access_token query parameter)");
  }
  if (p.payload_in_metadata !== PAYLOAD_KEY) sink.add('payload_in_metadata', `must be '${PAYLOAD_KEY}': RBAC's metadata matchers read the verified payload there (xds/SUBSET.md)`);
  const headers = new Set<string>();
  const refuse = (path: string, message: string): [] => (sink.add(path, message), []);
  const outputClaimToHeaders = ((p.claim_to_headers ?? []) as Pb[]).flatMap((c, i) => {
    const header = String(c.header_name ?? '').toLowerCase();
    const claim = String(c.claim_name ?? '');
    const at = `claim_to_headers[${i}]`;
    if (!new RegExp(HEADER_NAME_PATTERN).test(header) || header === 'authorization' || header === 'host') return refuse(`${at}.header_name`, `'${header}' cannot carry a claim`);
    if (headers.has(header)) return refuse(`${at}.header_name`, `'${header}' is already written by another claim`);
    // Envoy walks a dotted name into nested claims; a Sluice proxy writes top-level claims only.
    if (claim === '' || claim.includes('.')) return refuse(`${at}.claim_name`, `must be a top-level claim name (no '.'); got '${claim}'`);
    headers.add(header);
    return [{ header, claim }];
  });
  const skew = Number(p.clock_skew_seconds ?? ENVOY_CLOCK_SKEW_S);
  if (issuer === '' || jwks === undefined) return undefined;
  return {
    issuer,
    audiences: Array.isArray(p.audiences) && p.audiences.length > 0 ? p.audiences.map(String) : null,
    jwks,
    clockSkewMs: skew * 1000,
    forwardOriginalToken: p.forward === true,
    outputClaimToHeaders,
  };
}

function jwksOf(p: Pb, sink: Sink): JwksSource | undefined {
  const remote: Pb | undefined = p.remote_jwks;
  const local: Pb | undefined = p.local_jwks;
  if ((remote === undefined) === (local === undefined)) {
    sink.add('', 'needs remote_jwks or local_jwks (one of them)');
    return undefined;
  }
  if (local !== undefined) {
    const text = local.inline_string;
    if (typeof text !== 'string') return void sink.add('local_jwks', 'a Sluice proxy reads an inline_string JWKS');
    let ok = true;
    checkInlineJwks(text, 'local_jwks.inline_string', (path, m) => ((ok = false), sink.add(path, m)));
    return ok ? { kind: 'inline', jwks: JSON.parse(text) as JSONWebKeySet } : undefined;
  }
  const uri = String(remote!.http_uri?.uri ?? '');
  let url: URL | undefined;
  try {
    url = new URL(uri);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return void sink.add('remote_jwks.http_uri.uri', `must be an http(s) URL; got '${uri}'`);
  // A Sluice proxy fetches the URI itself; the cluster is for an Envoy, and must be the one for that URI.
  const cluster = jwksCluster(uri);
  if (remote!.http_uri.cluster !== cluster) sink.add('remote_jwks.http_uri.cluster', `must be '${cluster}', the cluster of the URI's host and port (xds/SUBSET.md, "RequestAuthentication")`);
  const timeout = remote!.http_uri.timeout === undefined ? undefined : durationMs(remote!.http_uri.timeout, sink, 'remote_jwks.http_uri.timeout');
  if (timeout === undefined || timeout === 0) return void sink.add('remote_jwks.http_uri.timeout', 'required, more than 0s');
  const cache = remote!.cache_duration === undefined ? ENVOY_CACHE_MS : durationMs(remote!.cache_duration, sink, 'remote_jwks.cache_duration');
  if (cache === undefined) return undefined;
  if (cache < 1000) return void sink.add('remote_jwks.cache_duration', 'must be at least 1s (each expiry refetches the JWKS)');
  return { kind: 'remote', uri, cacheMaxAgeMs: cache, cooldownMs: JWT_DEFAULTS.cooldownMs, timeoutMs: timeout };
}

/** One rule, prefix '/', requiring any provider or none: what RequestAuthentication means. */
function checkRules(rules: readonly Pb[], providers: readonly string[], sink: Sink): void {
  const want = 'a Sluice proxy reads one rule, { match: { prefix: "/" }, requires: { requires_any: { requirements: [every provider_name, { allow_missing: {} }] } } }: a request without a token goes on, one with a token no provider verifies is refused';
  const list: Pb[] = rules[0]?.requires?.requires_any?.requirements ?? [];
  const names = list.filter((r) => r.provider_name !== undefined).map((r) => String(r.provider_name));
  const missing = list.filter((r) => r.allow_missing !== undefined && Object.keys(r).length === 1);
  const ok =
    rules.length === 1 &&
    sameForm(rules[0].match, { prefix: '/' }) &&
    Object.keys(rules[0].requires ?? {}).length === 1 &&
    missing.length === 1 &&
    names.length + 1 === list.length &&
    names.length === providers.length &&
    providers.every((p) => names.includes(p));
  if (!ok) sink.add('', want);
}
