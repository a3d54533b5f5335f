// RequestAuthentication and the JWT-reading parts of AuthorizationPolicy over xDS, end to
// end with real processes: sluice-cp, a Keycloak-shaped JWKS server, and two sluice-proxy
// agents that joined with tokens (orders-1 in front of an app, frontend-1 calling it through
// its outbound port), over mTLS with the SVIDs the control plane issued. The assertions are
// those of the static file's (test/proxy/security/jwt.test.ts): a request without a token
// passes authentication and authorization decides; a token that does not check out is 401
// with WWW-Authenticate, never forwarded; a good one reaches the app with its claim headers.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { accessToken, ISSUER, realmKey, startJwksServer, type JwksServer, type RealmKey } from '../helpers/jwks-server.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { allStarted } from '../helpers/wait.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const TD = 'e2e.sluice.dev';
const ALICE = 'f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77'; // accessToken's default sub
const BOB = '0b1f2e3d-4c5b-4a69-8877-665544332211';
const CHALLENGE = /^Bearer realm="http:\/\/[^"]+", error="invalid_token"$/;
const DETAILS = 'x-sluice-details';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-jwt-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let idp: JwksServer;
let realm: RealmKey;
let stranger: RealmKey;
const proxies: Record<string, ProxyProcess> = {};
let outbound = 0;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

type Reply = { status: number; headers: http.IncomingHttpHeaders; body: string; forwarded: boolean; seen: Record<string, string | string[] | undefined> | undefined };

/** A call from frontend's app to its proxy's outbound port for the orders Service; also what orders' app saw of it. */
function call(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const before = app.seen.length;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: 'orders', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const forwarded = app.seen.length > before;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), forwarded, seen: forwarded ? app.seen.at(-1)!.headers : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `ok` holds for a call: the push of a change is asynchronous; what follows is asserted once. */
async function untilCall(what: string, path: string, headers: Record<string, string>, ok: (r: Reply) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | string = 'no call made';
  for (;;) {
    last = await call(path, headers).catch((e: Error) => e.message);
    if (typeof last !== 'string' && ok(last)) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last answer: ${typeof last === 'string' ? last : `${last.status} ${last.body}`}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function assertStatus(r: Reply, status: number, what: string): void {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.body}`);
  assert.equal(r.forwarded, status === 200, `${what}: forwarded to the app`);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const token = (claims: Record<string, unknown> = {}, key: RealmKey = realm) => accessToken(key, Date.now(), claims);

/** The token with its payload changed and the original signature kept. */
function tamper(jwt: string, claims: Record<string, unknown>): string {
  const [h, p, s] = jwt.split('.');
  const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), ...claims };
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

const resource = (kind: string, name: string, spec: object) => JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: { name }, spec: { targetRefs: [{ kind: 'Service', name: 'orders' }], ...spec } });
const workload = (name: string, labels: string, ports: string, sa: string) =>
  `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, labels: ${labels} }\nspec: { address: 127.0.0.1, ports: ${ports}, serviceAccount: ${sa} }\n`;

before(async () => {
  [realm, stranger] = await Promise.all([realmKey(), realmKey()]);
  idp = await startJwksServer([realm.jwk]);
  const ports = { xds: await closedPort(), orders: await closedPort() };
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--xds-addr', `127.0.0.1:${ports.xds}`, '--trust-domain', TD] });
  await ctl(['apply', '-f', '-'], [
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
    'apiVersion: v1\nkind: Service\nmetadata: { name: orders }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }] }\n',
    workload('orders-1', '{ app: orders }', `{ http: ${ports.orders} }`, 'orders'),
    workload('frontend-1', '{ app: frontend }', '{}', 'frontend'),
  ].join('---\n'));
  app = await startUpstream('orders-1');
  // The two proxies join at once.
  await allStarted(['orders-1', 'frontend-1'].map(async (name) => {
    const tokenFile = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', tokenFile]);
    const port = await closedPort();
    const args = ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, name), '--drain-timeout', '1s', '--outbound-port', String(port), '--access-log', 'off'];
    if (name === 'orders-1') args.push('--app', `http=${app.port}`);
    else outbound = port;
    proxies[name] = await startProxy('', args, { readyTimeoutMs: 30_000 });
  }));
  await untilCall('frontend reaching orders through the mesh', '/ready', {}, (r) => r.status === 200);
  const rule = { issuer: ISSUER, audiences: ['api'], jwksUri: idp.uri, outputClaimToHeaders: [{ header: 'x-jwt-sub', claim: 'sub' }, { header: 'x-jwt-user', claim: 'preferred_username' }] };
  await ctl(['apply', '-f', '-'], resource('RequestAuthentication', 'realm', { jwtRules: [rule] }));
  const foreign = bearer(await token({}, stranger));
  await untilCall('the RequestAuthentication on orders-1', '/wait-jwt', foreign, (r) => r.status === 401);
});

after(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await app?.close();
  await cp?.stop();
  await idp?.close();
});

test('a request without a token passes RequestAuthentication; a valid one reaches the app with its claim headers and without Authorization', async () => {
  assertStatus(await call('/no-token'), 200, 'no token, no policy');
  const a = await call('/claims', bearer(await token()));
  assertStatus(a, 200, 'valid token');
  assert.equal(a.seen!.authorization, undefined, 'forwardOriginalToken defaults to false');
  assert.equal(a.seen!['x-jwt-sub'], ALICE);
  assert.equal(a.seen!['x-jwt-user'], 'alice');
  // A claim header the client sends is removed, with or without a token.
  const spoof = { 'x-jwt-sub': BOB, 'x-jwt-user': 'root' };
  const none = await call('/spoof', spoof);
  assertStatus(none, 200, 'spoofed claim headers, no token');
  assert.equal(none.seen!['x-jwt-sub'], undefined);
  assert.equal(none.seen!['x-jwt-user'], undefined);
  const withToken = await call('/spoof', { ...spoof, ...bearer(await token()) });
  assert.equal(withToken.seen!['x-jwt-user'], 'alice');
});

test('an expired, wrongly addressed, foreign or altered token is answered 401 invalid_token with WWW-Authenticate and never forwarded', async () => {
  const now = Date.now();
  const cases: [string, string, RegExp][] = [
    ['expired', await accessToken(realm, now - 600_000, { exp: Math.floor(now / 1000) - 120 }), /the token expired at/],
    ['wrong audience', await token({ aud: 'account' }), /audience "account" not accepted/],
    ['wrong issuer', await token({ iss: 'https://sso.example.com/realms/other' }), /issuer 'https:\/\/sso\.example\.com\/realms\/other' is not accepted/],
    ['altered payload', tamper(await token(), { preferred_username: 'root' }), /the signature does not verify/],
    ["another key under the realm key's kid", await accessToken({ ...stranger, kid: realm.kid }, now), /the signature does not verify/],
  ];
  for (const [what, jwt, reason] of cases) {
    const a = await call('/bad-token', bearer(jwt));
    assertStatus(a, 401, what);
    assert.match(String(a.headers['www-authenticate']), CHALLENGE, what);
    assert.equal(a.headers[DETAILS], 'jwt_authn_access_denied', what);
    assert.match(a.body, reason, what);
  }
});

test('an ALLOW policy on requestPrincipals <iss>/<sub> answers a request without a token 403, admits that subject and no other', async () => {
  await ctl(['apply', '-f', '-'], resource('AuthorizationPolicy', 'alice-only', { rules: [{ from: [{ requestPrincipals: [`${ISSUER}/${ALICE}`] }] }] }));
  await untilCall('alice-only on orders-1', '/wait-alice', {}, (r) => r.status === 403);
  const none = await call('/principal');
  assertStatus(none, 403, 'no token');
  assert.equal(none.headers[DETAILS], 'rbac_access_denied_matched_policy[none]');
  assertStatus(await call('/principal', bearer(await token())), 200, 'alice');
  assertStatus(await call('/principal', bearer(await token({ sub: BOB }))), 403, 'bob');
  // Authentication still comes first: a bad token is 401, not 403.
  assertStatus(await call('/principal', bearer(await token({}, stranger))), 401, 'a token of another key');
  await ctl(['delete', 'authorizationpolicy', 'alice-only']);
  await untilCall('alice-only gone from orders-1', '/wait-open', {}, (r) => r.status === 200);
});

test('when: realm_access.roles [admin] admits an admin token and keeps a user token and no token out', async () => {
  await ctl(['apply', '-f', '-'], resource('AuthorizationPolicy', 'admins-only', { rules: [{ when: [{ claim: 'realm_access.roles', values: ['admin'] }] }] }));
  await untilCall('admins-only on orders-1', '/wait-admins', {}, (r) => r.status === 403);
  const admin = await token({ realm_access: { roles: ['offline_access', 'admin'] } });
  assertStatus(await call('/admin', bearer(admin)), 200, 'admin token');
  const user = await call('/admin', bearer(await token()));
  assertStatus(user, 403, 'user token');
  assert.equal(user.headers[DETAILS], 'rbac_access_denied_matched_policy[none]');
  assertStatus(await call('/admin'), 403, 'no token');
  // The claim must be the role list, not a look-alike elsewhere in the token.
  assertStatus(await call('/admin', bearer(await token({ resource_access: { api: { roles: ['admin'] } } }))), 403, 'admin only as a client role');
  await ctl(['delete', 'authorizationpolicy', 'admins-only']);
  await untilCall('admins-only gone from orders-1', '/wait-open', {}, (r) => r.status === 200);
});

test('a DENY policy on notRequestPrincipals: ["*"] refuses a request without a token, naming itself; proxy-status shows orders-1 SYNCED', async () => {
  await ctl(['apply', '-f', '-'], resource('AuthorizationPolicy', 'require-jwt', { action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }] }] }));
  await untilCall('require-jwt on orders-1', '/wait-required', {}, (r) => r.status === 403);
  const denied = await call('/no-token');
  assertStatus(denied, 403, 'no token');
  assert.equal(denied.headers[DETAILS], 'rbac_access_denied_matched_policy[require-jwt]');
  assertStatus(await call('/basic', { authorization: 'Basic YWxpY2U6c2VjcmV0' }), 403, 'Basic credentials are no bearer token');
  assertStatus(await call('/token', bearer(await token())), 200, 'valid token');
  const status = await ctl(['proxy-status', 'orders-1.default']);
  assert.doesNotMatch(status, /NACKED/);
  assert.match(status, /orders-1\.default\s+proxy\s+SYNCED/);
});
