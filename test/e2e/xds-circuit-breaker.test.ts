// CircuitBreakerPolicy through real joined proxies over mTLS: sluice-cp, three Services
// whose Workloads each run behind their own joined proxy, and a caller's proxy. Applied with
// sluicectl, the policies reach the caller's proxy as Envoy's circuit_breakers,
// outlier_detection and health_checks, and it does what the static file's tests show a
// proxy does with the same policy (test/proxy/resilience/health.test.ts, circuit-breaker.test.ts):
// - eject: two endpoints, one answering 500: after 3 in a row it is ejected, calls go to the other;
// - held: its app holds every request: over maxActiveRequests, 503 UO at once;
// - checked: two endpoints, one failing its /healthz: marked unhealthy, sent no traffic.

import assert from 'node:assert/strict';
import http, { type ServerResponse } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EndpointStatus } from '../../proxy/upstream/index.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const host = (service: string) => `${service}.default.svc.cluster.local`;
const cluster = (service: string) => `outbound|80||${host(service)}`;
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-cb-'));
let cp: ControlPlaneProcess;
let caller: ProxyProcess;
let outbound: number;
const servers: ProxyProcess[] = [];
/** The apps, by Workload name, and each Workload's inbound port (its endpoint's port). */
const apps = new Map<string, Upstream>();
const ports = new Map<string, number>();
const waiting: ServerResponse[] = [];
const release = () => waiting.splice(0).forEach((res) => res.end('done'));

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from the caller's app to its proxy's outbound port; at most 15 s. */
function call(service: string, path = '/', id?: string): Promise<{ status: number; body: string; details?: string }> {
  return new Promise((resolve, reject) => {
    const headers = { host: host(service), ...(id === undefined ? {} : { 'x-request-id': id }) };
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, details: res.headers['x-sluice-details'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function endpointOf(service: string, workload: string): Promise<EndpointStatus | undefined> {
  return (await caller.clusters()).find((c) => c.name === cluster(service))?.endpoints.find((e) => e.port === ports.get(workload));
}

/** Polls the caller's /clusters until `ok` holds; bounded. */
async function waitForClusters(ok: (all: Awaited<ReturnType<ProxyProcess['clusters']>>) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok(await caller.clusters())) {
    if (Date.now() > deadline) assert.fail(`${what} not met in ${timeoutMs} ms: ${JSON.stringify(await caller.clusters())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Requests other than health checks that reached the app. */
const traffic = (u: Upstream) => u.seen.filter((s) => s.url !== '/healthz').length;
const doc = (o: object) => JSON.stringify(o);
const service = (name: string) => doc({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
const workload = (name: string, app: string, port?: number) =>
  doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, labels: { app } }, spec: { address: '127.0.0.1', ...(port === undefined ? {} : { ports: { http: port } }), serviceAccount: app } });
const policy = (kind: string, name: string, spec: object) => doc({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: { name }, spec: { targetRefs: [{ kind: 'Service', name }], ...spec } });

before(async () => {
  apps.set('eject-good', await startUpstream('eject-good'));
  apps.set('eject-bad', await startUpstream('eject-bad', (_req, res) => res.writeHead(500, { 'x-upstream': 'bad' }).end('broken')));
  apps.set('held-1', await startUpstream('held-1', (_req, res) => void waiting.push(res)));
  apps.set('checked-ok', await startUpstream('checked-ok'));
  // /healthz answers 503; every other path 200.
  apps.set('checked-sick', await startUpstream('checked-sick', (req, res) => res.writeHead(req.url === '/healthz' ? 503 : 200).end()));
  for (const name of apps.keys()) ports.set(name, await closedPort());
  outbound = await closedPort();
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const appOf = (w: string) => w.split('-')[0]!;
  // Everything in one apply, before any proxy joins: the caller's first config has the policies.
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    ...['eject', 'held', 'checked'].map(service),
    ...[...apps.keys()].map((w) => workload(w, appOf(w), ports.get(w))),
    workload('caller-1', 'caller'),
    policy('CircuitBreakerPolicy', 'eject', { outlierDetection: { consecutive5xx: 3, baseEjectionTime: '30s', maxEjectionPercent: 50 } }),
    policy('RetryPolicy', 'eject', { attempts: 0 }),
    policy('CircuitBreakerPolicy', 'held', { limits: { maxActiveRequests: 2 } }),
    policy('CircuitBreakerPolicy', 'checked', { healthCheck: { path: '/healthz', interval: '250ms', timeout: '5s', unhealthyThreshold: 2, healthyThreshold: 1 } }),
  ].join('\n---\n'));
  const join_ = async (name: string, args: string[]) => {
    const token = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, name), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  // The Services' proxies first: a caller that called an endpoint not yet up would count its connect failure.
  servers.push(...(await Promise.all([...apps].map(async ([name, app]) => join_(name, ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off'])))));
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
  await waitForClusters(
    (all) => all.some((c) => c.name === cluster('held')) && ['eject', 'checked'].every((s) => all.find((c) => c.name === cluster(s))?.endpoints.length === 2),
    "the Services' endpoints in the caller's proxy",
  );
}, { timeout: 240_000 }); // six proxies join: on a loaded machine this alone can near the 120 s a test gets under npm test

after(async () => {
  release();
  await Promise.all([caller?.stop(), ...servers.map((s) => s.stop())]);
  await Promise.all([...apps.values()].map((a) => a.close()));
  await cp?.stop();
});

test('outlier detection ejects the endpoint after 3 consecutive 500s, and sends it nothing while ejected', async () => {
  const bad = apps.get('eject-bad')!;
  // With no retries every 500 reaches the caller, and every call is one try.
  const statuses: number[] = [];
  for (let i = 0; i < 100 && bad.seen.length < 3; i++) statuses.push((await call('eject')).status);
  assert.equal(bad.seen.length, 3, 'the failing app got 3 requests');
  assert.equal(statuses.filter((s) => s === 500).length, 3);

  const ep = await endpointOf('eject', 'eject-bad');
  assert.equal(ep?.health, 'unhealthy');
  assert.match(ep?.healthReason ?? '', /3 consecutive 5xx/);
  assert.equal(ep?.ejections, 1);
  assert.equal((await endpointOf('eject', 'eject-good'))?.health, 'healthy');

  const before = bad.seen.length;
  const after30: number[] = [];
  for (let i = 0; i < 30; i++) after30.push((await call('eject')).status);
  assert.equal(bad.seen.length, before, 'an ejected endpoint got traffic');
  assert.deepEqual([...new Set(after30)], [200]);
});

test('over maxActiveRequests: 503 UO at once, while the admitted requests finish', async () => {
  assert.equal((await caller.clusters()).find((c) => c.name === cluster('held'))!.limits.maxActiveRequests, 2);
  const first = [call('held', '/a'), call('held', '/b')];
  await waitFor(() => waiting.length === 2, 10_000, 'two requests held by the app');
  const over = await call('held', '/c', 'cb-over');
  assert.equal(over.status, 503);
  assert.equal(over.details, 'upstream_overflow');
  assert.match(over.body, /maxActiveRequests 2/);
  assert.equal(waiting.length, 2, 'the refused request never reached the app');
  release();
  for (const res of await Promise.all(first)) assert.equal(res.body, 'done');
  const line = await waitFor(() => caller.accessLog().find((l) => l.request_id === 'cb-over'), 5000, 'the access log line');
  assert.equal(line.flags, 'UO');
  assert.ok((await caller.clusters()).find((c) => c.name === cluster('held'))!.overflows >= 1);
});

test('active health checks mark an endpoint failing its check unhealthy, and it gets no traffic', async () => {
  // Each check is a new mTLS connection through the endpoint's proxy: on a loaded machine one may time out first, so wait for the 503.
  const sickEndpoint = (all: Awaited<ReturnType<ProxyProcess['clusters']>>) => all.find((c) => c.name === cluster('checked'))?.endpoints.find((e) => e.port === ports.get('checked-sick'));
  await waitForClusters((all) => sickEndpoint(all)?.health === 'unhealthy' && /health check: GET \/healthz answered 503/.test(sickEndpoint(all)?.healthReason ?? ''), 'the sick endpoint unhealthy, its /healthz answering 503', 20_000);
  assert.equal((await endpointOf('checked', 'checked-ok'))?.health, 'healthy');
  const sick = apps.get('checked-sick')!;
  const ok = apps.get('checked-ok')!;
  const [sickBefore, okBefore] = [traffic(sick), traffic(ok)];
  for (let i = 0; i < 20; i++) assert.equal((await call('checked')).status, 200);
  assert.equal(traffic(sick), sickBefore, 'an unhealthy endpoint got traffic');
  assert.equal(traffic(ok), okBefore + 20);
  // The checks went through the sick endpoint's proxy, over mTLS, to its app.
  assert.ok(sick.seen.some((s) => s.url === '/healthz' && s.headers.host === host('checked')));
});
