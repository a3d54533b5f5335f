// The RequestAuthentication spec: what its jwtRules resolve to, and every mistake reported
// at its field path (schema first, then checkRequestAuthentication, as the loader does).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ajv, type ErrorObject } from 'ajv';
import Type from 'typebox';
import { parse } from 'yaml';
import { checkRequestAuthentication, requestAuthenticationSpecFields, type RequestAuthenticationSpec } from '../../../kinds/jwt-spec.ts';
import { resolveRequestAuthentication } from '../../../proxy/config/jwt-spec.ts';
import { closed, structuralViolation } from '../../../proxy/config/schema.ts';

const validate = new Ajv({ allErrors: true, strict: true, verbose: true }).compile<RequestAuthenticationSpec>(Type.Object(requestAuthenticationSpecFields, closed));

/** Every violation of a spec written in YAML, as `path: message`. */
function violations(yaml: string): string[] {
  const spec: unknown = parse(yaml);
  const out: string[] = [];
  const add = (path: string, message: string) => out.push(`${path}: ${message}`);
  if (!validate(spec)) {
    for (const e of validate.errors ?? []) {
      const v = structuralViolation({ ...e, instancePath: `/spec${e.instancePath}` } as ErrorObject);
      add(v.path, v.message);
    }
    return out;
  }
  checkRequestAuthentication(spec, 'spec', add);
  return out;
}

function resolved(yaml: string) {
  assert.deepEqual(violations(yaml), []);
  return resolveRequestAuthentication(parse(yaml) as RequestAuthenticationSpec);
}

const KEYCLOAK = 'https://sso.example.com/realms/demo';
const CERTS = 'http://127.0.0.1:8080/realms/demo/protocol/openid-connect/certs';
const RSA_PUBLIC = { kty: 'RSA', kid: 'k1', alg: 'RS256', use: 'sig', n: 'sXch', e: 'AQAB' };
const jwks = (...keys: object[]) => `'${JSON.stringify({ keys })}'`;

describe('RequestAuthentication resolves', () => {
  test('a Keycloak rule with only issuer and jwksUri gets the defaults', () => {
    const [p] = resolved(`jwtRules: [{ issuer: ${KEYCLOAK}, jwksUri: ${CERTS} }]`);
    assert.deepEqual(p, {
      issuer: KEYCLOAK,
      audiences: null,
      jwks: { kind: 'remote', uri: CERTS, cacheMaxAgeMs: 600_000, cooldownMs: 30_000, timeoutMs: 5000 },
      clockSkewMs: 60_000,
      forwardOriginalToken: false,
      outputClaimToHeaders: [],
    });
    assert.ok(Object.isFrozen(p.jwks));
  });

  test('every field set is carried over; an inline JWKS is parsed and header names lower-cased', () => {
    const ps = resolved(`
jwtRules:
  - issuer: ${KEYCLOAK}
    audiences: [api, billing]
    jwksUri: ${CERTS}
    cacheDuration: 5m
    clockSkew: 0s
    forwardOriginalToken: true
    outputClaimToHeaders: [{ header: X-JWT-Sub, claim: sub }, { header: x-jwt-user, claim: preferred_username }]
  - { issuer: https://login.example.org, jwks: ${jwks(RSA_PUBLIC)} }
`);
    assert.deepEqual(ps[0], {
      issuer: KEYCLOAK,
      audiences: ['api', 'billing'],
      jwks: { kind: 'remote', uri: CERTS, cacheMaxAgeMs: 300_000, cooldownMs: 30_000, timeoutMs: 5000 },
      clockSkewMs: 0,
      forwardOriginalToken: true,
      outputClaimToHeaders: [
        { header: 'x-jwt-sub', claim: 'sub' },
        { header: 'x-jwt-user', claim: 'preferred_username' },
      ],
    });
    assert.deepEqual(ps[1].jwks, { kind: 'inline', jwks: { keys: [RSA_PUBLIC] } });
  });
});

describe('RequestAuthentication violations', () => {
  const rule = (fields: string) => `jwtRules: [{ issuer: ${KEYCLOAK}, ${fields} }]`;
  const cases: [title: string, yaml: string, expected: (string | RegExp)[]][] = [
    ['no rules', 'jwtRules: []', ['spec.jwtRules: must not be empty']],
    ['an unknown field, with the one meant', rule(`jwks_uri: ${CERTS}`), ["spec.jwtRules[0].jwks_uri: unknown field 'jwks_uri'; did you mean 'jwksUri'?"]],
    ['an empty audience list', rule(`jwksUri: ${CERTS}, audiences: []`), ['spec.jwtRules[0].audiences: must not be empty']],
    ['a duration that is not one', rule(`jwksUri: ${CERTS}, clockSkew: "60"`), ["spec.jwtRules[0].clockSkew: '60' is not a duration: write it like 500ms, 10s, 1m30s or 1h"]],
    ['both jwks and jwksUri', rule(`jwksUri: ${CERTS}, jwks: ${jwks(RSA_PUBLIC)}`), ["spec.jwtRules[0]: set either 'jwksUri' or 'jwks', not both"]],
    ['neither jwks nor jwksUri', rule('audiences: [api]'), [/^spec\.jwtRules\[0\]: needs 'jwksUri' \(.*Keycloak's is <issuer>\/protocol\/openid-connect\/certs\) or 'jwks'/]],
    ['a jwksUri that is not http(s)', rule('jwksUri: "ftp://sso.example.com/certs"'), ["spec.jwtRules[0].jwksUri: must be an http(s) URL; got scheme 'ftp'"]],
    ['a relative jwksUri', rule('jwksUri: /realms/demo/certs'), ["spec.jwtRules[0].jwksUri: must be an absolute http(s) URL; got '/realms/demo/certs'"]],
    ['an inline jwks that is not JSON', rule(`jwks: "{keys: []}"`), [/^spec\.jwtRules\[0\]\.jwks: is not valid JSON \(.+\); write the key set as a JSON string/]],
    ['an inline jwks without keys', rule(`jwks: '[{"kty":"RSA"}]'`), ['spec.jwtRules[0].jwks: must be a JSON Web Key Set: an object with a "keys" list']],
    ['a key without kty, named by index and kid', rule(`jwks: ${jwks(RSA_PUBLIC, { kid: 'k2', n: 'x', e: 'AQAB' })}`), ["spec.jwtRules[0].jwks: keys[1] (kid 'k2') has no 'kty' (key type: RSA, EC or OKP)"]],
    [
      'a private key',
      rule(`jwks: ${jwks({ ...RSA_PUBLIC, d: 'x', p: 'y', q: 'z' })}`),
      ["spec.jwtRules[0].jwks: keys[0] (kid 'k1') carries private key material ('d', 'p', 'q'); give only the public key: the private one signs tokens and must stay with the issuer"],
    ],
    ['a symmetric key', rule(`jwks: ${jwks({ kty: 'oct', k: 'c2VjcmV0' })}`), [/^spec\.jwtRules\[0\]\.jwks: keys\[0\] is a symmetric \('oct'\) key: whoever can verify with it can also mint tokens/]],
    ['only encryption keys', rule(`jwks: ${jwks({ ...RSA_PUBLIC, use: 'enc', alg: 'RSA-OAEP' })}`), ["spec.jwtRules[0].jwks: has no signing key (every key has a 'use' other than 'sig')"]],
    ['cacheDuration beside an inline jwks', rule(`jwks: ${jwks(RSA_PUBLIC)}, cacheDuration: 5m`), [/^spec\.jwtRules\[0\]\.cacheDuration: applies to keys fetched from 'jwksUri' only/]],
    [
      'durations too long or too short',
      rule(`jwksUri: ${CERTS}, cacheDuration: 500ms, clockSkew: 99999h`),
      ['spec.jwtRules[0].clockSkew: must be at most 2147483647 ms (about 596h); got 99999h', 'spec.jwtRules[0].cacheDuration: must be at least 1s (each expiry refetches the JWKS); got 500ms'],
    ],
    [
      'claims written to the Authorization header, or twice to one header',
      rule(`jwksUri: ${CERTS}, outputClaimToHeaders: [{ header: Authorization, claim: sub }, { header: x-user, claim: sub }, { header: X-User, claim: email }]`),
      [/^spec\.jwtRules\[0\]\.outputClaimToHeaders\[0\]\.header: 'Authorization' cannot carry a claim/, "spec.jwtRules[0].outputClaimToHeaders[2].header: 'X-User' is already written by outputClaimToHeaders[1]"],
    ],
    [
      'one issuer in two rules',
      `jwtRules: [{ issuer: ${KEYCLOAK}, jwksUri: ${CERTS} }, { issuer: ${KEYCLOAK}, jwksUri: ${CERTS}, audiences: [billing] }]`,
      [/^spec\.jwtRules\[1\]\.issuer: issuer 'https:\/\/sso\.example\.com\/realms\/demo' is already accepted by jwtRules\[0\]; a token's iss picks exactly one rule/],
    ],
  ];
  for (const [title, yaml, expected] of cases) {
    test(`reports ${title}`, () => {
      const got = violations(yaml);
      assert.equal(got.length, expected.length, `got:\n${got.join('\n')}`);
      expected.forEach((e, i) => (typeof e === 'string' ? assert.equal(got[i], e) : assert.match(got[i], e)));
    });
  }
});
