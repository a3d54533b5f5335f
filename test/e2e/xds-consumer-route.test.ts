// GAMMA consumer routes through real joined proxies over mTLS: Service `api` in namespace
// prod has two versions and a producer route to v1; a caller in team-a has a consumer route
// of its own (v2 by default, v1 for `x-pick: v1`) with a RetryPolicy on it; a caller in
// team-b has none, so it follows the producer's route. Everything is applied with sluicectl.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { allStarted } from '../helpers/wait.ts';
import { startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'api.prod.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-consumer-'));
let cp: ControlPlaneProcess;
const apps: Record<string, Upstream> = {};
const proxies: ProxyProcess[] = [];
/** The outbound port of each caller's proxy, by namespace. */
const outbound: Record<string, number> = {};

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from the app beside the caller in `namespace`, through its proxy; answers which api Workload served it. */
function call(namespace: string, path = '/hello', headers: Record<string, string> = {}): Promise<{ status: number; from: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound[namespace], path, headers: { host: HOST, ...headers }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, from: res.statusCode === 200 ? (JSON.parse(body) as { name: string }).name : body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Who served `n` calls from `namespace`, in order. */
async function servedBy(namespace: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await call(namespace, '/hello', headers)).from);
  return out;
}

/** Calls until every one of a window of 10 is served by `who` (bounded: the push takes a moment). */
async function settles(namespace: string, who: string, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const seen = await servedBy(namespace, 10, headers).catch(() => []);
    if (seen.length === 10 && seen.every((s) => s === who)) return;
    if (Date.now() > deadline) assert.fail(`calls from ${namespace} did not all go to ${who}: last ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const doc = (o: object) => JSON.stringify(o);
const meta = (namespace: string, name: string, labels?: object) => ({ name, namespace, ...(labels === undefined ? {} : { labels }) });
const service = (name: string, selector: object) => doc({ apiVersion: 'v1', kind: 'Service', metadata: meta('prod', name), spec: { selector, ports: [{ name: 'http', port: 80 }] } });
const workload = (namespace: string, name: string, labels: object, sa: string, ports: object = {}) =>
  doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta(namespace, name, labels), spec: { address: '127.0.0.1', ports, serviceAccount: sa } });
const ROUTE_GROUP = 'gateway.networking.k8s.io';
const consumerRoute = doc({
  apiVersion: `${ROUTE_GROUP}/v1`,
  kind: 'HTTPRoute',
  metadata: meta('team-a', 'api'),
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'api', namespace: 'prod', port: 80 }],
    rules: [
      { name: 'pick-v1', matches: [{ headers: [{ name: 'x-pick', value: 'v1' }] }], backendRefs: [{ name: 'api-v1', namespace: 'prod', port: 80 }] },
      { name: 'rest', backendRefs: [{ name: 'api-v2', namespace: 'prod', port: 80 }] },
    ],
  },
});

/** /fail/<key>/<n>: 503 for the first n requests of that key, then the echo. */
function flaky(name: string): UpstreamHandler {
  const tries = new Map<string, number>();
  return (req, res) => {
    const m = /^\/fail\/([^/]+)\/(\d+)$/.exec(req.url ?? '');
    if (m !== null) {
      const n = (tries.get(m[1]) ?? 0) + 1;
      tries.set(m[1], n);
      if (n <= Number(m[2])) return void res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name }));
  };
}

before(async () => {
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const inbound = { 'api-1': await closedPort(), 'api-2': await closedPort() };
  await ctl(['apply', '-f', '-'], [
    doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'e2e.sluice.dev', mtls: { mode: 'STRICT' } } }),
    service('api', { app: 'api' }),
    service('api-v1', { app: 'api', version: 'v1' }),
    service('api-v2', { app: 'api', version: 'v2' }),
    workload('prod', 'api-1', { app: 'api', version: 'v1' }, 'api', { http: inbound['api-1'] }),
    workload('prod', 'api-2', { app: 'api', version: 'v2' }, 'api', { http: inbound['api-2'] }),
    workload('team-a', 'caller', { app: 'caller' }, 'caller'),
    workload('team-b', 'caller', { app: 'caller' }, 'caller'),
    // The producer's route: every call to api goes to v1.
    doc({ apiVersion: `${ROUTE_GROUP}/v1`, kind: 'HTTPRoute', metadata: meta('prod', 'api'), spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 80 }], rules: [{ backendRefs: [{ name: 'api-v1', port: 80 }] }] } }),
  ].join('\n---\n'));
  const joinAs = async (namespace: string, name: string, args: string[]) => {
    const token = join(dir, `${name}.${namespace}.token`);
    await ctl(['token', 'create', '--workload', name, '-n', namespace, '--ttl', '10m', '--out', token]);
    proxies.push(await startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, `${name}.${namespace}`), '--drain-timeout', '1s', '--access-log', 'off', ...args], { readyTimeoutMs: 30_000 }));
  };
  // The four proxies join at once.
  await allStarted([
    ...(['api-1', 'api-2'] as const).map(async (name) => {
      apps[name] = await startUpstream(name, flaky(name));
      await joinAs('prod', name, ['--app', `http=${apps[name].port}`, '--outbound-port', String(await closedPort())]);
    }),
    ...['team-a', 'team-b'].map(async (namespace) => {
      outbound[namespace] = await closedPort();
      await joinAs(namespace, 'caller', ['--outbound-port', String(outbound[namespace])]);
    }),
  ]);
  await settles('team-b', 'api-1');
  // One apply: the consumer route and the RetryPolicy on it arrive in one push.
  await ctl(['apply', '-f', '-'], [
    consumerRoute,
    doc({
      apiVersion: 'mesh.sluice.dev/v1alpha1',
      kind: 'RetryPolicy',
      metadata: meta('team-a', 'api'),
      spec: { targetRefs: [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'api' }], attempts: 2, retryOn: ['retriable-status-codes'], retriableStatusCodes: [503], backoff: { baseInterval: '1ms', maxInterval: '5ms' } },
    }),
  ].join('\n---\n'));
  await settles('team-a', 'api-2');
});

after(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(Object.values(apps).map((a) => a.close()));
  await cp?.stop();
});

test("a caller in the consumer route's namespace follows it: v2 by default, v1 where its rule matches", async () => {
  assert.deepEqual(await servedBy('team-a', 10), Array(10).fill('api-2'));
  assert.deepEqual(await servedBy('team-a', 5, { 'x-pick': 'v1' }), Array(5).fill('api-1'));
});

test("a caller in another namespace still follows the producer's route", async () => {
  assert.deepEqual(await servedBy('team-b', 10), Array(10).fill('api-1'));
  // team-a's header match is not team-b's: the producer's route has no such rule, and it sends everything to v1 anyway.
  assert.deepEqual(await servedBy('team-b', 3, { 'x-pick': 'v2' }), Array(3).fill('api-1'));
});

test("a RetryPolicy on the consumer route retries team-a's calls; team-b's, under the producer's route, are not", async () => {
  const tries = (app: string, key: string) => apps[app].seen.filter((s) => s.url === `/fail/${key}/1`).map((s) => s.headers['x-sluice-attempt-count']);
  assert.deepEqual(await call('team-a', '/fail/a/1'), { status: 200, from: 'api-2' });
  assert.deepEqual(tries('api-2', 'a'), ['1', '2'], 'one try and one retry');
  assert.deepEqual(await call('team-b', '/fail/b/1'), { status: 503, from: 'busy' });
  assert.deepEqual(tries('api-1', 'b'), ['1']);
});

test("deleting the consumer route puts its namespace back on the producer's route", async () => {
  await ctl(['delete', 'httproute', 'api', '-n', 'team-a']);
  await settles('team-a', 'api-1');
  await ctl(['apply', '-f', '-'], consumerRoute);
  await settles('team-a', 'api-2');
  assert.deepEqual(await servedBy('team-b', 5), Array(5).fill('api-1'));
});
