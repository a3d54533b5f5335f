// RequestAuthentication over xDS, the proxy's side: the jwt_authn filter the control plane
// generates (control-plane/xds/policies/request-authentication/), through the real wire,
// read back by the listener translator into the very providers the static file resolves
// (proxy/config/jwt-spec.ts), for every field of the spec; and every jwt_authn form a proxy
// could not honour is a NACK with its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestAuthenticationSpecFields, type RequestAuthenticationSpec } from '../../../kinds/jwt-spec.ts';
import { resolveRequestAuthentication } from '../../../proxy/config/jwt-spec.ts';
import type { HttpListener } from '../../../proxy/config/model.ts';
import type { JwtProvider } from '../../../proxy/jwt/model.ts';
import { formatProblem, translate } from '../../../proxy/xds/translate.ts';
import { jwtAuthentication } from '../../../control-plane/xds/policies/request-authentication/generate.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../xds/index.ts';
import { cluster, hcm, listener, resources, rootCa, route, routeConfig, router } from './resources.ts';

type Obj = Record<string, any>;

const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k1', use: 'sig', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });
const SPEC: RequestAuthenticationSpec = {
  jwtRules: [
    {
      issuer: 'https://sso.example.com/realms/demo',
      audiences: ['api', 'web'],
      jwksUri: 'https://sso.example.com/realms/demo/protocol/openid-connect/certs',
      cacheDuration: '90s',
      clockSkew: '10s',
      forwardOriginalToken: true,
      outputClaimToHeaders: [{ header: 'X-Jwt-Sub', claim: 'sub' }, { header: 'x-jwt-user', claim: 'preferred_username' }],
    },
    { issuer: 'https://issuer.internal', jwks: JWKS },
    { issuer: 'http://127.0.0.1:8080/realm', jwksUri: 'http://127.0.0.1:8080/certs' },
  ],
};

function readBack(filters: Obj[]): ReturnType<typeof translate> {
  const filter = hcm({ rds: 'in', httpFilters: [...filters, router()] });
  return translate(
    resources({
      listeners: [listener('in', { mode: 'PERMISSIVE', filter })],
      routes: [routeConfig('in', [{ name: 'in', domains: ['*'], routes: [route({ prefix: '' }, { cluster: 'app' })] }])],
      clusters: [cluster('app', { eds: false, endpoints: [] })],
      secrets: [rootCa()],
    }),
    { identity: { cert: '/id/cert.pem', key: '/id/key.pem', bundle: '/id/bundle.pem' } },
  );
}

const jwtFilter = (config: Obj): Obj => ({ name: 'envoy.filters.http.jwt_authn', typed_config: pack(EMBEDDED_TYPE_URLS.JwtAuthentication, config) });
const generated = (spec: RequestAuthenticationSpec = SPEC): Obj => jwtAuthentication([{ id: 'shop/realm', spec }]);

function providersOf(filters: Obj[]): readonly JwtProvider[] {
  const r = readBack(filters);
  if (!r.ok) assert.fail(`expected a config, got:\n${r.error.map(formatProblem).join('\n')}`);
  return (r.value.config.listeners[0] as HttpListener).jwt;
}

function problems(filters: Obj[]): string[] {
  const r = readBack(filters);
  if (r.ok) assert.fail('expected a NACK, got a config');
  return r.error.map((p) => `${p.path}: ${p.message}`);
}

describe('RequestAuthentication, generated as jwt_authn and read back by a proxy', () => {
  test('every field of the spec comes back as the providers the static file resolves', () => {
    assert.deepEqual(providersOf([jwtFilter(generated())]), resolveRequestAuthentication(SPEC));
    // The table above must use every field a jwtRule has.
    const rule = (requestAuthenticationSpecFields.jwtRules as any).items.properties;
    const used = new Set<string>();
    JSON.stringify(SPEC, (k, v) => (used.add(k), v));
    assert.deepEqual(Object.keys(rule).filter((f) => !used.has(f)), []);
  });

  test("what a provider leaves out is read as Envoy reads it: a 5 minute JWKS cache, 60 s of clock skew", () => {
    const config = generated({ jwtRules: [SPEC.jwtRules[2]] });
    const p = Object.values(config.providers as Obj)[0];
    delete p.remote_jwks.cache_duration;
    delete p.clock_skew_seconds;
    const [read] = providersOf([jwtFilter(config)]);
    assert.equal(read.jwks.kind === 'remote' && read.jwks.cacheMaxAgeMs, 300_000);
    assert.equal(read.clockSkewMs, 60_000);
  });
});

describe('jwt_authn a proxy cannot honour is a NACK with the field path', () => {
  const base = 'filter_chains[0].filters[0].typed_config.http_filters';
  const P = `${base}[0].typed_config.providers["shop/realm/jwtRules[0]"]`;
  /** The generated config for SPEC's first rule, changed by `edit`. */
  const edited = (edit: (config: Obj, provider: Obj) => void): Obj[] => {
    const config = generated({ jwtRules: [SPEC.jwtRules[0]] });
    edit(config, (config.providers as Obj)['shop/realm/jwtRules[0]']);
    return [jwtFilter(config)];
  };
  const cases: [string, Obj[], string][] = [
    ['no from_headers (Envoy would also read an access_token query parameter)', edited((_, p) => delete p.from_headers), `${P}.from_headers: must be`],
    ['a token from a query parameter', edited((_, p) => (p.from_params = ['token'])), `${P}.from_params: field not supported`],
    ['a cluster that is not the one of the URI', edited((_, p) => (p.remote_jwks.http_uri.cluster = 'keycloak')), `${P}.remote_jwks.http_uri.cluster: must be 'outbound|443||sso.example.com'`],
    ['no fetch timeout', edited((_, p) => delete p.remote_jwks.http_uri.timeout), `${P}.remote_jwks.http_uri.timeout: required`],
    ['an asynchronous fetch', edited((_, p) => (p.remote_jwks.async_fetch = {})), `${P}.remote_jwks.async_fetch: field not supported`],
    ['a payload somewhere else than RBAC reads it', edited((_, p) => (p.payload_in_metadata = 'jwt')), `${P}.payload_in_metadata: must be 'payload'`],
    ['a dotted claim to a header (Envoy walks nested claims)', edited((_, p) => (p.claim_to_headers = [{ header_name: 'x-roles', claim_name: 'realm_access.roles' }])), `${P}.claim_to_headers[0].claim_name: must be a top-level claim name`],
    ['both JWKS sources', edited((_, p) => (p.local_jwks = { inline_string: JWKS })), `${P}: needs remote_jwks or local_jwks (one of them)`],
    ['an inline JWKS with a private key', edited((_, p) => (delete p.remote_jwks, (p.local_jwks = { inline_string: JSON.stringify({ keys: [{ ...JSON.parse(JWKS).keys[0], d: 'secret' }] }) }))), `${P}.local_jwks.inline_string: keys[0] (kid 'k1') carries private key material`],
    ['tokens that fail let through (allow_missing_or_failed)', edited((c) => (c.rules[0].requires.requires_any.requirements[1] = { allow_missing_or_failed: {} })), `${base}[0].typed_config.rules: a Sluice proxy reads one rule`],
    ['no rules: Envoy would verify nothing', edited((c) => delete c.rules), `${base}[0].typed_config.rules: a Sluice proxy reads one rule`],
    ['a rule for some paths only', edited((c) => (c.rules[0].match = { prefix: '/api' })), `${base}[0].typed_config.rules: a Sluice proxy reads one rule`],
    ['a token required (no allow_missing)', edited((c) => (c.rules[0].requires = { provider_name: 'shop/realm/jwtRules[0]' })), `${base}[0].typed_config.rules: a Sluice proxy reads one rule`],
    [
      'two providers for one issuer',
      edited((c, p) => {
        c.providers.again = { ...p };
        c.rules[0].requires.requires_any.requirements.unshift({ provider_name: 'again' });
      }),
      `${base}[0].typed_config.providers["again"].issuer: 'https://sso.example.com/realms/demo' is already the issuer`,
    ],
    ['jwt_authn after an RBAC filter, which would not see its claims', [{ name: 'envoy.filters.http.rbac', typed_config: pack(EMBEDDED_TYPE_URLS.RBAC, { rules: { action: 'DENY' } }) }, jwtFilter(generated())], `${base}[1]: must come before the envoy.filters.http.rbac filters`],
    ['two jwt_authn filters', [jwtFilter(generated()), jwtFilter(generated())], `${base}[1]: a second envoy.filters.http.jwt_authn filter`],
  ];
  for (const [what, filters, want] of cases) {
    test(what, () => {
      const got = problems(filters);
      assert.ok(got.some((p) => p.startsWith(want)), `want a problem starting ${JSON.stringify(want)}, got:\n${got.join('\n')}`);
    });
  }
});
