// End-user JWT validation against a Keycloak-shaped realm served over real HTTP: what is
// accepted, what is refused and with which reason, and how the JWKS is fetched.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createJwtVerifier, type JwtDeps, type JwtProvider, type JwtResult, type JwtValid } from '../../../proxy/jwt/index.ts';
import { accessToken, ISSUER, REALM_PATH, realmKey, startJwksServer, type JwksServer, type RealmKey } from '../../helpers/jwks-server.ts';
import { closedPort } from '../../helpers/ports.ts';

const T0 = Date.UTC(2030, 0, 1);
const bearer = (token: string) => `Bearer ${token}`;

type Logged = { level: string; msg: string; fields?: Record<string, unknown> };

/** An injected clock (starting at T0) and a log that keeps what it is told. */
function harness(): { deps: JwtDeps; logs: Logged[]; clock: { now: number } } {
  const clock = { now: T0 };
  const logs: Logged[] = [];
  return { clock, logs, deps: { now: () => clock.now, log: (level, msg, fields) => logs.push({ level, msg, fields }) } };
}

function remote(uri: string, over: Partial<JwtProvider> = {}, jwks: { cacheMaxAgeMs?: number; cooldownMs?: number; timeoutMs?: number } = {}): JwtProvider {
  return {
    issuer: ISSUER,
    audiences: ['api'],
    jwks: { kind: 'remote', uri, cacheMaxAgeMs: 600_000, cooldownMs: 30_000, timeoutMs: 5000, ...jwks },
    clockSkewMs: 60_000,
    forwardOriginalToken: false,
    outputClaimToHeaders: [],
    ...over,
  };
}

function assertValid(r: JwtResult): JwtValid {
  if (r.kind !== 'valid') assert.fail(`expected a valid token, got ${JSON.stringify(r)}`);
  return r;
}

function assertInvalid(r: JwtResult, reason: RegExp): void {
  assert.equal(r.kind, 'invalid', `expected invalid (${reason}), got ${JSON.stringify(r)}`);
  assert.match((r as { reason: string }).reason, reason);
}

/** The token with its payload changed and the original signature kept. */
function tamper(token: string, claims: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), ...claims };
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

let A: RealmKey; // the realm's signing key
let B: RealmKey; // the key the realm rotates to
let ENC: RealmKey; // Keycloak's encryption key, listed in the same JWKS
let idp: JwksServer;

before(async () => {
  [A, B, ENC] = await Promise.all([realmKey(), realmKey(), realmKey('enc')]);
  idp = await startJwksServer([A.jwk, ENC.jwk]);
});
after(() => idp.close());

describe('tokens of a Keycloak realm', () => {
  test('accepts an access token, names its principal iss/sub and copies scalar claims into headers', async () => {
    const { deps } = harness();
    const claimHeaders = [
      { header: 'x-jwt-sub', claim: 'sub' },
      { header: 'x-jwt-user', claim: 'preferred_username' },
      { header: 'x-jwt-verified', claim: 'email_verified' },
      { header: 'x-jwt-exp', claim: 'exp' },
      { header: 'x-jwt-roles', claim: 'realm_access' },
      { header: 'x-jwt-note', claim: 'note' },
    ];
    const v = createJwtVerifier([remote(idp.uri, { outputClaimToHeaders: claimHeaders })], deps);
    const token = await accessToken(A, T0, { note: 'hi\r\nx-admin: 1' });
    const r = assertValid(await v.verify(bearer(token)));
    assert.equal(r.issuer, ISSUER);
    assert.equal(r.subject, 'f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77');
    assert.equal(r.principal, `${ISSUER}/f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77`);
    assert.deepEqual(r.claims.realm_access, { roles: ['offline_access', 'uma_authorization', 'reader'] });
    assert.deepEqual(r.outputHeaders, [
      ['x-jwt-sub', 'f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77'],
      ['x-jwt-user', 'alice'],
      ['x-jwt-verified', 'true'],
      ['x-jwt-exp', String(T0 / 1000 + 300)],
    ], 'objects and values with CR/LF are not copied');
    assert.equal(r.forwardOriginalToken, false);
    assert.deepEqual(v.claimHeaderNames, claimHeaders.map((c) => c.header));
    assert.ok(Object.isFrozen(r.claims.realm_access), 'a (cacheable) result cannot be changed by its reader');
  });

  test('refuses a token expired beyond the clock skew, and accepts one expired within it', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    const late = await accessToken(A, T0 - 600_000, { exp: T0 / 1000 - 61 });
    assertInvalid(await v.verify(bearer(late)), /^the token expired at 2029-12-31T23:58:59\.000Z \(now is 2030-01-01T00:00:00\.000Z, clock skew allowed 60s\)$/);
    const justLate = await accessToken(A, T0 - 600_000, { exp: T0 / 1000 - 30 });
    assertValid(await v.verify(bearer(justLate)));
  });

  test('refuses a token whose nbf is further in the future than the clock skew', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { nbf: T0 / 1000 + 120 }))), /not valid before 2030-01-01T00:02:00\.000Z/);
    assertValid(await v.verify(bearer(await accessToken(A, T0, { nbf: T0 / 1000 + 30 }))));
  });

  test('refuses a token from an issuer no rule accepts, even one signed with a known key', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { iss: 'https://sso.example.com/realms/other' }))), /issuer 'https:\/\/sso\.example\.com\/realms\/other' is not accepted/);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { iss: undefined }))), /no iss claim/);
  });

  test('checks the audience: one listed in aud (a string or a list) is needed', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri, { audiences: ['api', 'billing'] })], deps);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { aud: 'account' }))), /audience "account" not accepted; accepted audiences: api, billing/);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { aud: undefined }))), /no aud claim/);
    assertValid(await v.verify(bearer(await accessToken(A, T0, { aud: ['account', 'billing'] }))));
  });

  test('refuses a token whose payload was changed after signing', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    const forged = tamper(await accessToken(A, T0), { preferred_username: 'admin' });
    assertInvalid(await v.verify(bearer(forged)), /signature does not verify/);
  });

  test("refuses alg 'none' (an unsigned token)", async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    const unsigned = new UnsecuredJWT({ iss: ISSUER, aud: 'api', sub: 'mallory', exp: T0 / 1000 + 300 }).encode();
    assertInvalid(await v.verify(bearer(unsigned)), /algorithm 'none' is not accepted/);
  });

  test('refuses HS256 signed with the realm public key as the HMAC secret', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    const claims = { iss: ISSUER, aud: 'api', sub: 'mallory', exp: T0 / 1000 + 300 };
    for (const secret of [A.publicKeyPem, JSON.stringify(A.jwk)]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: A.kid }).sign(new TextEncoder().encode(secret));
      assertInvalid(await v.verify(bearer(forged)), /algorithm 'HS256' is not accepted/);
    }
  });

  test('checks tokens against an inline JWKS without fetching, and picks the keys by iss', async () => {
    const { deps } = harness();
    const other = 'https://login.example.org';
    const v = createJwtVerifier(
      [remote(idp.uri), { ...remote(''), issuer: other, audiences: null, forwardOriginalToken: true, jwks: { kind: 'inline', jwks: { keys: [B.jwk, ENC.jwk] } } }],
      deps,
    );
    const before = idp.fetches;
    const r = assertValid(await v.verify(bearer(await accessToken(B, T0, { iss: other, aud: 'anything' }))));
    assert.equal(r.forwardOriginalToken, true);
    assert.equal(idp.fetches, before, 'the inline issuer never asks the realm');
    assertInvalid(await v.verify(bearer(await accessToken(A, T0, { iss: other }))), /unknown kid: no RS256 signing key with kid '.+' in the JWKS of https:\/\/login\.example\.org/);
  });
});

describe('the Authorization header', () => {
  test('no header or another scheme is none; a Bearer that is not one JWT is invalid', async () => {
    const { deps } = harness();
    const v = createJwtVerifier([remote(idp.uri)], deps);
    const token = await accessToken(A, T0);
    assert.deepEqual(await v.verify(undefined), { kind: 'none' });
    assert.deepEqual(await v.verify([]), { kind: 'none' });
    assert.deepEqual(await v.verify('Basic YWxpY2U6c2VjcmV0'), { kind: 'none' });
    assertValid(await v.verify(`bEaReR ${token}`));
    assertInvalid(await v.verify([bearer(token), bearer(token)]), /2 Authorization headers/);
    assertInvalid(await v.verify(`${bearer(token)}, ${bearer(token)}`), /several Authorization headers/);
    assertInvalid(await v.verify('Bearer'), /empty/);
    assertInvalid(await v.verify('Bearer    '), /empty/);
    assertInvalid(await v.verify('Bearer opaque-token-from-another-idp'), /not a JWT/);
    assertInvalid(await v.verify(`Bearer ${token}.x.y`), /not a JWT/);
  });

  test('serves a repeated token from the cache, but never once it has expired', async () => {
    const { deps, clock } = harness();
    const v = createJwtVerifier([remote(idp.uri, { clockSkewMs: 1000 })], deps);
    const token = await accessToken(A, T0, { exp: T0 / 1000 + 10 });
    const first = await v.verify(bearer(token));
    assertValid(first);
    assert.equal(await v.verify(bearer(token)), first, 'the same result object: not verified again');
    clock.now = T0 + 12_000;
    assertInvalid(await v.verify(bearer(token)), /expired/);
  });
});

describe('fetching the JWKS', () => {
  test('picks up a key the realm rotated in, refetching at most once per cooldown', async (t) => {
    const realm = await startJwksServer([A.jwk, ENC.jwk]);
    t.after(() => realm.close());
    const { deps } = harness();
    const v = createJwtVerifier([remote(realm.uri, {}, { cooldownMs: 500 })], deps);
    const rotated = await Promise.all(Array.from({ length: 5 }, () => accessToken(B, T0)));
    const madeUp = await Promise.all(Array.from({ length: 20 }, () => accessToken({ ...A, kid: 'made-up' }, T0)));
    assertValid(await v.verify(bearer(await accessToken(A, T0))));
    assert.equal(realm.fetches, 1);

    realm.keys = [B.jwk, ENC.jwk];
    for (const r of await Promise.all(rotated.map((tk) => v.verify(bearer(tk))))) assertInvalid(r, /unknown kid/);
    assert.equal(realm.fetches, 1, 'within the cooldown an unknown kid does not refetch');

    await sleep(550);
    assertValid(await v.verify(bearer(rotated[0])));
    assert.equal(realm.fetches, 2, 'after the cooldown, one refetch finds the new key');

    for (const r of await Promise.all(madeUp.map((tk) => v.verify(bearer(tk))))) assertInvalid(r, /unknown kid/);
    assert.equal(realm.fetches, 2, 'a flood of unknown kids costs the realm nothing more');
  });

  test('a realm that is down makes tokens invalid, saying so, and is logged once', async () => {
    const uri = `http://127.0.0.1:${await closedPort()}${REALM_PATH}`;
    const { deps, logs, clock } = harness();
    const v = createJwtVerifier([remote(uri)], deps);
    for (let i = 0; i < 3; i++) {
      assertInvalid(await v.verify(bearer(await accessToken(A, T0))), /^JWKS http:\/\/127\.0\.0\.1:\d+\/realms\/demo\/protocol\/openid-connect\/certs is unreachable: ECONNREFUSED; no keys of https:\/\/sso\.example\.com\/realms\/demo fetched yet$/);
      clock.now += 2000; // past the refetch backoff: every round tries the realm again
    }
    assert.deepEqual(logs.map((l) => [l.level, l.fields?.issuer]), [['warn', ISSUER]]);
    assert.match(String(logs[0].fields?.reason), /ECONNREFUSED/);
  });

  test('a realm that does not answer in time is reported with the timeout', async (t) => {
    const realm = await startJwksServer([A.jwk]);
    t.after(() => realm.close());
    realm.answer = 'hang';
    const { deps } = harness();
    const v = createJwtVerifier([remote(realm.uri, {}, { timeoutMs: 150 })], deps);
    assertInvalid(await v.verify(bearer(await accessToken(A, T0))), /did not answer within 150ms/);
  });

  test('keeps the last keys while a refresh fails, retries after a backoff, and says when it recovers', async (t) => {
    const realm = await startJwksServer([A.jwk, ENC.jwk]);
    t.after(() => realm.close());
    const { deps, logs, clock } = harness();
    const v = createJwtVerifier([remote(realm.uri, {}, { cacheMaxAgeMs: 100 })], deps);
    assertValid(await v.verify(bearer(await accessToken(A, T0))));
    realm.answer = 503;
    await sleep(150); // the fetched JWKS is now past its cacheMaxAge (jose reads the wall clock)

    // The failed refresh falls back to the keys fetched before.
    assertValid(await v.verify(bearer(await accessToken(A, T0))));
    assert.equal(realm.fetches, 2);
    assertValid(await v.verify(bearer(await accessToken(A, T0))));
    assert.equal(realm.fetches, 2, 'no refetch within the backoff after a failure');
    clock.now += 2000;
    assertValid(await v.verify(bearer(await accessToken(A, T0 + 2000))));
    assert.equal(realm.fetches, 3);

    realm.answer = 200;
    clock.now += 2000;
    assertValid(await v.verify(bearer(await accessToken(A, T0 + 4000))));
    assert.equal(realm.fetches, 4);
    assert.deepEqual(logs.map((l) => [l.level, l.msg.split(';')[0], l.fields?.reason]), [
      ['warn', 'JWKS fetch failed', `JWKS ${realm.uri} answered HTTP 503`],
      ['info', 'JWKS fetched again', undefined],
    ]);
  });
});
