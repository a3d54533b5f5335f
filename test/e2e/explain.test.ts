// sluicectl explain through real processes: sluice-cp, a caller's proxy and one joined proxy
// per Service, over mTLS with the SVIDs the control plane issued. Each test makes one kind
// of failure happen for real, then asks `sluicectl explain` (by the request's x-request-id,
// or --from/--to) and checks the step and the reason it names, which come from what the
// proxies reported to the control plane over the access log service and from the control
// plane's own view. The waits are bounded and only for pushes and reports.

import assert from 'node:assert/strict';
import http, { type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const TD = 'e2e.sluice.dev';
const host = (service: string) => `${service}.default.svc.cluster.local`;
const dir = mkdtempSync(join(tmpdir(), 'sluice-explain-'));
let cp: ControlPlaneProcess;
let outbound: number;
const proxies = new Map<string, ProxyProcess>();
const apps = new Map<string, Upstream>();
const ports = new Map<string, number>();
const held: ServerResponse[] = [];
const release = () => held.splice(0).forEach((res) => res.end('done'));

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });
const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: env(), stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

type Reply = { status: number; details: string | undefined };

/** A call from the caller's app to its proxy's outbound port, with our x-request-id. */
function call(service: string, path: string, id = randomUUID()): Promise<Reply & { id: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: host(service), 'x-request-id': id }, agent: false, signal: AbortSignal.timeout(20_000) }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, details: res.headers['x-sluice-details'] as string | undefined, id }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Calls until `ok` holds (a push is asynchronous); the call that held is returned. */
async function untilCall(what: string, service: string, path: string, ok: (r: Reply) => boolean, timeoutMs = 20_000): Promise<Reply & { id: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no call made';
  for (;;) {
    const r = await call(service, path).catch((e: Error) => e.message);
    if (typeof r !== 'string' && ok(r)) return r;
    last = r;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last answer: ${JSON.stringify(last)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** `sluicectl explain ARGS` once its answer mentions `expect` (the proxies report asynchronously); bounded. */
async function explain(args: string[], expect: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await sluicectl(['explain', ...args], { env: env() });
    if (r.code === 0 && expect.test(r.stdout)) return r.stdout;
    if (Date.now() > deadline) assert.fail(`sluicectl explain ${args.join(' ')} never said ${expect}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

const doc = (o: object) => JSON.stringify(o);
const service = (name: string) => doc({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
const workload = (name: string, app: string, sa: string, port?: number) =>
  doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, labels: { app } }, spec: { address: '127.0.0.1', ...(port === undefined ? {} : { ports: { http: port } }), serviceAccount: sa } });
const policy = (kind: string, name: string, target: string, spec: object) => doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: { name }, spec: { targetRefs: [{ kind: 'Service', name: target }], ...spec } });
const route = (name: string, svc: string, rules: object[]) =>
  doc({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name }, spec: { parentRefs: [{ group: '', kind: 'Service', name: svc, port: 80 }], rules: rules.map((r) => ({ backendRefs: [{ name: svc, port: 80 }], ...r })) } });
const prefix = (value: string) => ({ matches: [{ path: { type: 'PathPrefix', value } }] });

before(async () => {
  apps.set('orders-1', await startUpstream('orders-1'));
  apps.set('flaky-1', await startUpstream('flaky-1', (_req, res) => res.writeHead(503).end('busy')));
  apps.set('broken-1', await startUpstream('broken-1', (_req, res) => res.writeHead(500).end('broken')));
  apps.set('slow-1', await startUpstream('slow-1', (req, res) => {
    if (req.url?.startsWith('/hold')) return void held.push(res);
    const t = setTimeout(() => res.end('late'), 5000);
    res.on('close', () => clearTimeout(t));
  }));
  for (const name of apps.keys()) ports.set(name, await closedPort());
  outbound = await closedPort();
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', TD] });
  await ctl(['apply', '-f', '-'], [
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
    ...['orders', 'flaky', 'broken', 'slow', 'billing'].map(service),
    ...[...apps.keys()].map((w) => workload(w, w.split('-')[0]!, w.split('-')[0]!, ports.get(w))),
    // billing-1 is listed at flaky-1's address and port: whoever answers there is flaky, not billing.
    workload('billing-1', 'billing', 'billing', ports.get('flaky-1')),
    workload('caller-1', 'caller', 'frontend'),
    route('orders-api', 'orders', [prefix('/api')]),
    policy('AuthorizationPolicy', 'deny-admin', 'orders', { action: 'DENY', rules: [{ to: [{ paths: [{ type: 'PathPrefix', value: '/api/admin' }] }] }] }),
    policy('RetryPolicy', 'flaky', 'flaky', { attempts: 2, retryOn: ['retriable-status-codes'], retriableStatusCodes: [503], backoff: { baseInterval: '1ms', maxInterval: '5ms' } }),
    policy('RetryPolicy', 'broken', 'broken', { attempts: 0 }),
    policy('CircuitBreakerPolicy', 'broken', 'broken', { outlierDetection: { consecutive5xx: 2, baseEjectionTime: '60s', maxEjectionPercent: 100 } }),
    policy('RetryPolicy', 'slow', 'slow', { attempts: 0 }),
    policy('CircuitBreakerPolicy', 'slow', 'slow', { limits: { maxActiveRequests: 1, maxPendingRequests: 1 } }),
    route('slow-timeouts', 'slow', [
      { ...prefix('/route-timeout'), timeouts: { request: '300ms' } },
      { ...prefix('/try-timeout'), timeouts: { request: '10s', backendRequest: '200ms' } },
      prefix('/'),
    ]),
  ].join('\n---\n'));
  const join_ = async (name: string, args: string[]) => {
    const token = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, name), '--drain-timeout', '1s', '--access-log', 'off', ...args], { readyTimeoutMs: 90_000 });
  };
  await Promise.all([...apps].map(async ([name, app]) => proxies.set(name, await join_(name, ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort())]))));
  proxies.set('caller-1', await join_('caller-1', ['--outbound-port', String(outbound)]));
  await untilCall('the caller reaching orders through the mesh', 'orders', '/api/ready', (r) => r.status === 200);
}, { timeout: 240_000 });

after(async () => {
  release();
  await Promise.all([...proxies.values()].map((p) => p.stop()));
  await Promise.all([...apps.values()].map((a) => a.close()));
  await cp?.stop();
});

test('no route: names the proxy, the request, and the routes that exist for that host', async () => {
  const r = await call('orders', '/other');
  assert.equal(r.status, 404);
  const out = await explain([r.id], /No route/);
  assert.match(out, /proxy caller-1\.default found no route for GET orders\.default\.svc\.cluster\.local\/other/);
  assert.match(out, /HTTPRoute default\/orders-api rules\[0\]: PathPrefix \/api -> orders:80/);
  // --from/--to finds the newest such record from that workload's proxy.
  const from = await explain(['--from', 'caller-1', '--to', `http://${host('orders')}/other`], /No route/);
  assert.doesNotMatch(from, /Prediction/);
  assert.match(from, /orders-api/);
});

test('denied: names the policy and rule that denied, on the callee\'s proxy, and the caller\'s identity', async () => {
  const r = await call('orders', '/api/admin/users');
  assert.equal(r.status, 403);
  const out = await explain([r.id], /Denied by authorization/);
  assert.match(out, /proxy orders-1\.default refused GET [^ ]*\/api\/admin\/users from spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/frontend/);
  assert.match(out, /denied by DENY policy '[^']*deny-admin[^']*' \(rules\[0\]\)/);
  assert.match(out, /AuthorizationPolicy default\/deny-admin \(action DENY\) rules\[0\] is \{"to":\[\{"paths":\[\{"type":"PathPrefix","value":"\/api\/admin"\}\]\}\]\}/);
  // The caller's side: it passed the 403 on (or, when the stream was cut after the head, says so with its flags).
  assert.match(out, /Proxy caller-1\.default (passed on the 403|answered \S+ \S+ with 403)/);
});

test('no healthy endpoint: lists the ejected endpoint, since when, and why', async () => {
  const r = await untilCall('broken-1 ejected', 'broken', '/', (x) => x.status === 503 && x.details === 'no_healthy_upstream');
  const out = await explain([r.id], /No healthy endpoint/);
  assert.match(out, new RegExp(`127\\.0\\.0\\.1:${ports.get('broken-1')} ejected since \\d{4}-\\d\\d-\\d\\dT[^ ]+ until [^ ]+: ejected: 2 consecutive 5xx responses`));
  const json = JSON.parse(await explain([r.id, '-o', 'json'], /no-healthy-endpoint/));
  assert.equal(json.findings[0].kind, 'no-healthy-endpoint');
  assert.equal(json.findings[0].facts.endpoints[0].healthy, false);
});

test('peer identity mismatch: says which SPIFFE ID was expected and which the endpoint presented', async () => {
  const r = await call('billing', '/');
  assert.equal(r.status, 503);
  const out = await explain([r.id], /Peer identity mismatch/);
  assert.match(out, new RegExp(`refused the mTLS connection to 127\\.0\\.0\\.1:${ports.get('flaky-1')}`));
  assert.match(out, /it expected spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/billing, and the peer presented spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/flaky/);
});

test('retries exhausted: lists each try with its endpoint and outcome', async () => {
  const r = await call('flaky', '/');
  assert.equal(r.status, 503);
  const out = await explain([r.id], /Retries exhausted/);
  assert.match(out, /tried backend \S*flaky\S* 3 times/);
  for (const n of [1, 2, 3]) assert.match(out, new RegExp(`try ${n}: 127\\.0\\.0\\.1:${ports.get('flaky-1')} -> 503`));
});

test('timeout: says whether the route timeout or the per-try timeout fired', async () => {
  const whole = await call('slow', '/route-timeout');
  assert.equal(whole.status, 504);
  const a = await explain([whole.id], /Timeout/);
  assert.match(a, /the route's request timeout \(HTTPRoute rule timeouts\.request, 300 ms\) fired/);
  const perTry = await call('slow', '/try-timeout');
  assert.equal(perTry.status, 504);
  const b = await explain([perTry.id], /Timeout/);
  assert.match(b, /the per-try timeout \(200 ms/);
  assert.doesNotMatch(b, /route's request timeout/);
});

test('circuit open: names the threshold that was reached', async () => {
  const first = call('slow', '/hold');
  await untilCall('the held request in flight', 'slow', '/probe', (x) => x.status === 503 && x.details === 'upstream_overflow');
  const r = await call('slow', '/second');
  assert.equal(r.status, 503);
  const out = await explain([r.id], /Circuit open/);
  assert.match(out, /its maxActiveRequests limit of 1 was reached \(1 at the time\)/);
  release();
  assert.equal((await first).status, 200);
});

test('predicts from the control plane\'s view when no failure was reported, and says it is a prediction', async () => {
  const out = await explain(['--from', 'caller-1', '--to', 'http://inventory/items'], /Prediction/);
  assert.match(out, /no route: there is no Service 'inventory' in namespace 'default'/);
  const denied = await explain(['--from', 'caller-1', '--to', `http://${host('orders')}/api/admin/x`], /Prediction/);
  assert.match(denied, /denied: DENY policy 'deny-admin' rules\[0\]/);
});

test('exits non-zero when nothing is found', async () => {
  const none = await sluicectl(['explain', randomUUID()], { env: env() });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no proxy reported a failed request with id/);
  const fine = await sluicectl(['explain', '--from', 'caller-1', '--to', `http://${host('orders')}/api/fine`], { env: env() });
  assert.equal(fine.code, 1, fine.stdout);
});

test('config NACKed: shows the error the proxy refused the config with', async () => {
  // orders-1's inbound port moved to where its app already listens: the proxy cannot bind it and NACKs.
  await ctl(['apply', '-f', '-'], workload('orders-1', 'orders', 'orders', apps.get('orders-1')!.port));
  const out = await explain(['--from', 'orders-1', '--to', `http://${host('flaky')}/`], /Config NACKed/, 20_000);
  assert.match(out, /proxy orders-1\.default refused the control plane's \w+ config \(version [^)]+\) at \S+ with this error:/);
  assert.match(out, /EADDRINUSE|in use/);
});
