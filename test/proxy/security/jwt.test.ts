// RequestAuthentication through a real proxy: end-user tokens of a Keycloak-shaped realm,
// whose JWKS the proxy fetches over HTTP (jwksUri) or is given inline, checked before
// routing; AuthorizationPolicies on the listener then read the verified principal and
// claims. A token that does not check out is answered 401 and never reaches the app.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessToken, ISSUER, realmKey, startJwksServer, type JwksServer, type RealmKey } from '../../helpers/jwks-server.ts';
import { authorizationPolicy, policies, requestAuthentication } from '../../helpers/mesh-policy.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

const ALICE = 'f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77'; // accessToken's default sub
const BOB = '0b1f2e3d-4c5b-4a69-8877-665544332211';
const CHALLENGE = /^Bearer realm="http:\/\/[^"]+", error="invalid_token"$/;
const DETAILS = 'x-sluice-details';

const LISTENERS = ['open', 'required', 'admins', 'alice', 'claim-headers', 'inline', 'rotating', 'cooldown'] as const;
type ListenerName = (typeof LISTENERS)[number];

type Keys = { realm: RealmKey; rotated: RealmKey; enc: RealmKey; inline: RealmKey; stranger: RealmKey };
type Idps = { realm: JwksServer; rotating: JwksServer; cooldown: JwksServer };

function config(appPort: number, keys: Keys, idp: Idps): string {
  const claimHeaders = [
    { header: 'x-jwt-sub', claim: 'sub' },
    { header: 'x-jwt-user', claim: 'preferred_username' },
  ];
  const rule = (extra: Record<string, unknown>) => ({ issuer: ISSUER, audiences: ['api'], ...extra });
  return `
listeners:
${LISTENERS.map((name) => `  - { name: ${name}, address: 127.0.0.1, port: 0, protocol: http }`).join('\n')}
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${appPort} }] }]
${policies(
  requestAuthentication('realm', ['open', 'required', 'admins', 'alice', 'claim-headers'], [rule({ jwksUri: idp.realm.uri, outputClaimToHeaders: claimHeaders })]),
  requestAuthentication('inline-realm', ['inline'], [rule({ jwks: JSON.stringify({ keys: [keys.inline.jwk] }) })]),
  requestAuthentication('rotating-realm', ['rotating'], [rule({ jwksUri: idp.rotating.uri, cacheDuration: '1s' })]),
  requestAuthentication('cooldown-realm', ['cooldown'], [rule({ jwksUri: idp.cooldown.uri })]),
  authorizationPolicy('require-jwt', ['required'], { action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }] }] }),
  authorizationPolicy('admins-only', ['admins'], { rules: [{ when: [{ claim: 'realm_access.roles', values: ['admin'] }] }] }),
  authorizationPolicy('alice-only', ['alice'], { rules: [{ from: [{ requestPrincipals: [`${ISSUER}/${ALICE}`] }] }] }),
  authorizationPolicy('deny-mallory', ['claim-headers'], { action: 'DENY', rules: [{ to: [{ headers: [{ name: 'x-jwt-user', value: 'mallory' }] }] }] }),
)}`;
}

type Answer = { status: number; headers: Headers; body: string; forwarded: boolean; seen: Record<string, string | string[] | undefined> | undefined };

/** The token with its payload changed and the original signature kept. */
function tamper(token: string, claims: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), ...claims };
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

describe('RequestAuthentication through the proxy', () => {
  let keys: Keys;
  let idp: Idps;
  let app: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    const [realm, rotated, enc, inline, stranger] = await Promise.all([realmKey(), realmKey(), realmKey('enc'), realmKey(), realmKey()]);
    keys = { realm, rotated, enc, inline, stranger };
    // Keycloak lists its encryption key beside the signing key; the verifier must ignore it.
    const [r, rot, cool] = await Promise.all([startJwksServer([realm.jwk, enc.jwk]), startJwksServer([realm.jwk]), startJwksServer([realm.jwk])]);
    idp = { realm: r, rotating: rot, cooldown: cool };
    app = await startUpstream('app');
    proxy = await startProxy(config(app.port, keys, idp));
  });

  after(async () => {
    await proxy?.stop();
    await app?.close();
    await Promise.all([idp?.realm.close(), idp?.rotating.close(), idp?.cooldown.close()]);
  });

  async function send(listener: ListenerName, path: string, headers: Record<string, string> = {}): Promise<Answer> {
    const before = app.seen.length;
    const res = await fetch(`http://127.0.0.1:${proxy.ports[listener]}${path}`, { headers });
    const body = await res.text();
    const forwarded = app.seen.length > before;
    return { status: res.status, headers: res.headers, body, forwarded, seen: forwarded ? app.seen.at(-1)!.headers : undefined };
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const token = (claims: Record<string, unknown> = {}, key: RealmKey = keys.realm) => accessToken(key, Date.now(), claims);

  function assertStatus(a: Answer, status: number, what: string): void {
    assert.equal(a.status, status, `${what}: expected ${status}, got ${a.status} ${a.body}`);
    assert.equal(a.forwarded, status === 200, `${what}: forwarded to the app`);
  }

  test('a request without a token passes when no policy asks for one, and a DENY on notRequestPrincipals: ["*"] refuses it', async () => {
    assertStatus(await send('open', '/no-token'), 200, 'open, no token');
    const denied = await send('required', '/no-token');
    assertStatus(denied, 403, 'required, no token');
    assert.equal(denied.headers.get(DETAILS), 'rbac_access_denied_matched_policy[require-jwt]');
    // Another scheme is no bearer token: still no principal.
    assertStatus(await send('required', '/basic', { authorization: 'Basic YWxpY2U6c2VjcmV0' }), 403, 'required, Basic credentials');
    assertStatus(await send('required', '/token', bearer(await token())), 200, 'required, valid token');
  });

  test('a valid token: the app gets the claim headers and not the Authorization header (forwardOriginalToken defaults to false)', async () => {
    const a = await send('open', '/claims', bearer(await token()));
    assertStatus(a, 200, 'valid token');
    assert.equal(a.seen!.authorization, undefined);
    assert.equal(a.seen!['x-jwt-sub'], ALICE);
    assert.equal(a.seen!['x-jwt-user'], 'alice');
  });

  test('a claim header the client sends is removed, with or without a token', async () => {
    const spoof = { 'x-jwt-sub': BOB, 'x-jwt-user': 'root' };
    const none = await send('open', '/spoof', spoof);
    assertStatus(none, 200, 'no token');
    assert.equal(none.seen!['x-jwt-sub'], undefined);
    assert.equal(none.seen!['x-jwt-user'], undefined);
    const withToken = await send('open', '/spoof', { ...spoof, ...bearer(await token()) });
    assertStatus(withToken, 200, 'valid token');
    assert.equal(withToken.seen!['x-jwt-sub'], ALICE);
    assert.equal(withToken.seen!['x-jwt-user'], 'alice');
  });

  test('an expired, wrongly addressed, foreign or altered token is answered 401 invalid_token and never forwarded', async () => {
    const now = Date.now();
    const cases: [string, string, RegExp][] = [
      ['expired', await accessToken(keys.realm, now - 600_000, { exp: Math.floor(now / 1000) - 120 }), /the token expired at/],
      ['wrong audience', await token({ aud: 'account' }), /audience "account" not accepted/],
      ['wrong issuer', await token({ iss: 'https://sso.example.com/realms/other' }), /issuer 'https:\/\/sso\.example\.com\/realms\/other' is not accepted/],
      ['altered payload', tamper(await token(), { preferred_username: 'root' }), /the signature does not verify/],
      ["another key under the realm key's kid", await accessToken({ ...keys.stranger, kid: keys.realm.kid }, now), /the signature does not verify/],
      // Keycloak's JWKS lists an encryption key too: a token naming its kid finds no signing key.
      ["the kid of the realm's encryption key", await accessToken({ ...keys.stranger, kid: keys.enc.kid }, now), /unknown kid/],
    ];
    for (const listener of ['open', 'required'] as const) {
      for (const [what, jwt, reason] of cases) {
        const a = await send(listener, '/bad-token', bearer(jwt));
        assertStatus(a, 401, `${listener}: ${what}`);
        assert.match(a.headers.get('www-authenticate') ?? '', CHALLENGE, `${listener}: ${what}`);
        assert.equal(a.headers.get(DETAILS), 'jwt_authn_access_denied');
        assert.match(a.body, reason, `${listener}: ${what}`);
      }
    }
  });

  test('when: realm_access.roles [admin] admits an admin token and keeps a user token and no token out', async () => {
    const admin = await token({ realm_access: { roles: ['offline_access', 'admin'] } });
    assertStatus(await send('admins', '/admin', bearer(admin)), 200, 'admin token');
    const user = await send('admins', '/admin', bearer(await token()));
    assertStatus(user, 403, 'user token');
    assert.equal(user.headers.get(DETAILS), 'rbac_access_denied_matched_policy[none]');
    assertStatus(await send('admins', '/admin'), 403, 'no token');
    // The claim must be the role list, not a look-alike elsewhere in the token.
    assertStatus(await send('admins', '/admin', bearer(await token({ resource_access: { api: { roles: ['admin'] } } }))), 403, 'admin only as a client role');
  });

  test('requestPrincipals <iss>/<sub> admits that subject and no other', async () => {
    assertStatus(await send('alice', '/principal', bearer(await token())), 200, 'alice');
    assertStatus(await send('alice', '/principal', bearer(await token({ sub: BOB }))), 403, 'bob');
    assertStatus(await send('alice', '/principal'), 403, 'no token');
  });

  test('an inline jwks verifies tokens with its own keys only', async () => {
    assertStatus(await send('inline', '/inline', bearer(await token({}, keys.inline))), 200, 'signed with the inline key');
    assertStatus(await send('inline', '/inline', bearer(await token())), 401, 'signed with a key of the remote JWKS');
  });

  test('the JWKS is fetched when the first token arrives, and a flood of unknown kids within the 30 s cooldown fetches nothing more', async () => {
    const cool = idp.cooldown;
    assertStatus(await send('cooldown', '/no-token'), 200, 'no token');
    assert.equal(cool.fetches, 0, 'no token, no fetch');
    assertStatus(await send('cooldown', '/first', bearer(await token())), 200, 'first token');
    assert.equal(cool.fetches, 1);
    // The realm rotates in a new key; the proxy fetched the JWKS a moment ago and is cooling down.
    cool.keys = [keys.realm.jwk, keys.rotated.jwk];
    const early = await send('cooldown', '/new-kid', bearer(await token({}, keys.rotated)));
    assertStatus(early, 401, 'new kid within the cooldown');
    assert.match(early.body, /unknown kid/);
    for (let i = 0; i < 5; i++) {
      const madeUp = { ...keys.stranger, kid: randomUUID() };
      assertStatus(await send('cooldown', '/made-up-kid', bearer(await token({}, madeUp))), 401, `made-up kid ${i}`);
    }
    assert.equal(cool.fetches, 1, 'the IdP was not asked again');
  });

  test('after the IdP rotates its key, a token signed with the new key is accepted once the cached JWKS expires (cacheDuration: 1s)', async () => {
    const rot = idp.rotating;
    assertStatus(await send('rotating', '/before', bearer(await token())), 200, 'old key, before the rotation');
    const fetched = rot.fetches;
    rot.keys = [keys.rotated.jwk];
    const fresh = bearer(await token({}, keys.rotated));
    let a = await send('rotating', '/after', fresh);
    // Bounded: the cache lasts 1 s; 100 tries 50 ms apart leave it five times that.
    for (let i = 0; i < 100 && a.status !== 200; i++) {
      assert.equal(a.status, 401, `until the refetch, the new kid is unknown: ${a.body}`);
      await sleep(50);
      a = await send('rotating', '/after', fresh);
    }
    assertStatus(a, 200, 'new key, after the rotation');
    assert.ok(rot.fetches > fetched, 'the JWKS was fetched again');
    // The old key left the JWKS: a token it signs now is not accepted.
    const old = await send('rotating', '/old', bearer(await token()));
    assertStatus(old, 401, 'old key, after the rotation');
    assert.match(old.body, /unknown kid/);
  });

  test(
    "authorization reads the claim headers the verified token wrote, not the ones the client sent",
    async () => {
      // The DENY rule names x-jwt-user: mallory, a header only a verified token may set.
      const mallory = await send('claim-headers', '/claim-headers', bearer(await token({ preferred_username: 'mallory' })));
      assertStatus(mallory, 403, "mallory's own valid token");
      const alice = await send('claim-headers', '/claim-headers', { ...bearer(await token()), 'x-jwt-user': 'mallory' });
      assertStatus(alice, 200, "alice's token with a client-sent x-jwt-user: mallory");
      assert.equal(alice.seen!['x-jwt-user'], 'alice');
    },
  );
});
