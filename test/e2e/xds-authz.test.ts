// AuthorizationPolicy over xDS, end to end with real processes: sluice-cp, and three
// sluice-proxy agents that joined with tokens (orders-1 in front of an app, frontend-1 and
// batch-1 calling it through their outbound ports), over mTLS with the SVIDs the control
// plane issued. Each policy is applied and deleted with sluicectl; the waits are bounded and
// only for the push, every assertion after them is on the answer a call gets.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { allStarted, waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const TD = 'e2e.sluice.dev';
const FRONTEND = `spiffe://${TD}/ns/default/sa/frontend`;
const BATCH = `spiffe://${TD}/ns/default/sa/batch`;
const DETAILS = 'x-sluice-details';
const NONE_MATCHED = 'rbac_access_denied_matched_policy[none]';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-authz-'));
let cp: ControlPlaneProcess;
let app: Upstream;
const proxies: Record<string, ProxyProcess> = {};
const outbound: Record<string, number> = {};

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

type Reply = { status: number; details: string | undefined; forwarded: boolean };

/** A call from `caller`'s app to its proxy's outbound port for the orders Service; also says whether orders' app saw it. */
function call(caller: 'frontend' | 'batch', path: string): Promise<Reply> {
  const before = app.seen.length;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound[caller], path, headers: { host: 'orders' }, agent: false }, (res) => {
      res.resume().on('end', () => {
        const details = res.headers[DETAILS];
        resolve({ status: res.statusCode ?? 0, details: Array.isArray(details) ? details.join() : details, forwarded: app.seen.length > before });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `ok` holds for a call: the push of a change is asynchronous; what follows is asserted once. */
async function untilCall(what: string, caller: 'frontend' | 'batch', path: string, ok: (r: Reply) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | string = 'no call made';
  for (;;) {
    last = await call(caller, path).catch((e: Error) => e.message);
    if (typeof last !== 'string' && ok(last)) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last answer: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function assertAllowed(r: Reply, what: string): void {
  assert.equal(r.status, 200, `${what}: expected 200, got ${r.status} (${r.details})`);
  assert.equal(r.forwarded, true, `${what}: the app must see it`);
}

function assertDenied(r: Reply, policy: string | null, what: string): void {
  assert.equal(r.status, 403, `${what}: expected 403, got ${r.status}`);
  assert.equal(r.details, policy === null ? NONE_MATCHED : `rbac_access_denied_matched_policy[${policy}]`, what);
  assert.equal(r.forwarded, false, `${what}: the app must never see a denied request`);
}

const policy = (name: string, spec: string) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: ${name} }\nspec:\n  targetRefs: [{ kind: Service, name: orders }]\n${spec}`;
const workload = (name: string, labels: string, ports: string, sa: string) =>
  `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, labels: ${labels} }\nspec: { address: 127.0.0.1, ports: ${ports}, serviceAccount: ${sa} }\n`;

before(async () => {
  const ports = { xds: await closedPort(), orders: await closedPort() };
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--xds-addr', `127.0.0.1:${ports.xds}`, '--trust-domain', TD] });
  await ctl(['apply', '-f', '-'], [
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
    'apiVersion: v1\nkind: Service\nmetadata: { name: orders }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }] }\n',
    workload('orders-1', '{ app: orders }', `{ http: ${ports.orders} }`, 'orders'),
    workload('frontend-1', '{ app: frontend }', '{}', 'frontend'),
    workload('batch-1', '{ app: batch }', '{}', 'batch'),
  ].join('---\n'));
  app = await startUpstream('orders-1');
  // The three proxies join at once.
  await allStarted(['orders-1', 'frontend-1', 'batch-1'].map(async (name) => {
    const tokenFile = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', tokenFile]);
    const port = await closedPort();
    const args = ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, name), '--drain-timeout', '1s', '--outbound-port', String(port)];
    // The access log of the proxy that decides; the callers' would only repeat the answer.
    if (name === 'orders-1') args.push('--app', `http=${app.port}`);
    else args.push('--access-log', 'off');
    outbound[name.replace('-1', '')] = port;
    proxies[name] = await startProxy('', args, { readyTimeoutMs: 30_000 });
  }));
  for (const caller of ['frontend', 'batch'] as const) await untilCall(`${caller} reaching orders through the mesh`, caller, '/ready', (r) => r.status === 200);
});

after(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await app?.close();
  await cp?.stop();
});

test('an ALLOW policy naming one identity admits it, and answers 403 RBAC to another workload, which the app never sees', async () => {
  await ctl(['apply', '-f', '-'], policy('allow-frontend', `  rules: [{ from: [{ identities: ["${FRONTEND}"] }] }]\n`));
  await untilCall('the policy on orders-1', 'batch', '/allow/wait', (r) => r.status === 403);
  for (let i = 0; i < 5; i++) assertAllowed(await call('frontend', `/allow/frontend-${i}`), `frontend call ${i}`);
  assert.match(String(app.seen.at(-1)!.headers['x-forwarded-client-cert']), new RegExp(`URI=${FRONTEND.replaceAll('.', '\\.')}`));
  for (let i = 0; i < 5; i++) assertDenied(await call('batch', `/allow/batch-${i}`), null, `batch call ${i}`);
  const line = await waitFor(() => proxies['orders-1'].accessLog().find((l) => l.path === '/allow/batch-0'), 3000, 'the access-log line of the denied request');
  assert.equal(line.status, 403);
  assert.match(String(line.flags), /\bRBAC\b/);
  assert.equal(line.details, NONE_MATCHED);
  assert.equal(line.downstream_peer, BATCH);
  assert.equal(line.upstream, null, 'no backend was picked for a denied request');
});

test('a DENY policy on a path answers 403 there, naming itself, to every caller, and leaves the rest to the ALLOW policy', async () => {
  await ctl(['apply', '-f', '-'], policy('deny-admin', '  action: DENY\n  rules: [{ to: [{ paths: [{ type: PathPrefix, value: /admin }] }] }]\n'));
  await untilCall('the DENY policy on orders-1', 'frontend', '/admin/wait', (r) => r.status === 403);
  assertDenied(await call('frontend', '/admin'), 'deny-admin', 'frontend /admin');
  assertDenied(await call('frontend', '/admin/users/1'), 'deny-admin', 'frontend /admin/users/1');
  assertDenied(await call('frontend', '/orders/../admin'), 'deny-admin', 'dot segments resolve before matching');
  assertDenied(await call('batch', '/admin'), 'deny-admin', 'batch /admin: the DENY policy answers first');
  assertAllowed(await call('frontend', '/orders'), 'frontend /orders');
  assertAllowed(await call('frontend', '/administrator'), 'PathPrefix /admin does not match /administrator');
  assertDenied(await call('batch', '/orders'), null, 'batch /orders: still not allowed');
  const line = await waitFor(() => proxies['orders-1'].accessLog().find((l) => l.path === '/admin/users/1'), 3000, 'the access-log line of the denied request');
  assert.equal(line.details, 'rbac_access_denied_matched_policy[deny-admin]');
  assert.match(String(line.flags), /\bRBAC\b/);
});

test('an ALLOW policy with rules: [] denies every caller; deleting it restores access', async () => {
  await ctl(['delete', 'authorizationpolicy', 'allow-frontend']);
  await ctl(['delete', 'authorizationpolicy', 'deny-admin']);
  await untilCall('both policies gone from orders-1', 'batch', '/nothing/wait-open', (r) => r.status === 200);
  await ctl(['apply', '-f', '-'], policy('allow-nothing', '  rules: []\n'));
  await untilCall('allow-nothing on orders-1', 'frontend', '/nothing/wait-closed', (r) => r.status === 403);
  for (const caller of ['frontend', 'batch'] as const) {
    assertDenied(await call(caller, '/nothing'), null, `${caller} under allow-nothing`);
    assertDenied(await call(caller, '/admin'), null, `${caller} /admin under allow-nothing`);
  }
  await ctl(['delete', 'authorizationpolicy', 'allow-nothing']);
  await untilCall('access restored on orders-1', 'frontend', '/restored/wait', (r) => r.status === 200);
  for (const caller of ['frontend', 'batch'] as const) assertAllowed(await call(caller, '/restored'), `${caller} after the delete`);
});

test('proxy-status shows every proxy SYNCED with the policies applied: none NACKed them', async () => {
  await ctl(['apply', '-f', '-'], policy('allow-frontend', `  rules: [{ from: [{ identities: ["${FRONTEND}"] }], to: [{ methods: [GET], hosts: ["orders", "*.svc.cluster.local"] }] }]\n`));
  await untilCall('allow-frontend on orders-1', 'batch', '/status/wait', (r) => r.status === 403);
  assertAllowed(await call('frontend', '/status'), 'frontend, with Host orders');
  const status = await ctl(['proxy-status', 'orders-1.default']);
  assert.doesNotMatch(status, /NACKED/);
  assert.match(status, /orders-1\.default\s+proxy\s+SYNCED/);
});
