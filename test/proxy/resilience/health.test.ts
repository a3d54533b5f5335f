// Endpoint health through the real proxy: passive (outlier ejection on consecutive 5xx) and
// active (HTTP health checks), each seen in /clusters and in where traffic goes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import type { EndpointStatus } from '../../../proxy/upstream/index.ts';

async function endpointOf(proxy: ProxyProcess, backend: string, port: number): Promise<EndpointStatus> {
  const ep = (await proxy.clusters()).find((c) => c.name === backend)?.endpoints.find((e) => e.port === port);
  assert.ok(ep, `no endpoint ${port} in backend ${backend}`);
  return ep;
}

/** Polls /clusters until `ok` holds for the endpoint; `waitFor` only takes synchronous checks. */
async function waitForEndpoint(proxy: ProxyProcess, backend: string, port: number, ok: (e: EndpointStatus) => boolean, what: string, timeoutMs = 5000): Promise<EndpointStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ep = await endpointOf(proxy, backend, port);
    if (ok(ep)) return ep;
    if (Date.now() > deadline) assert.fail(`${what} not met in ${timeoutMs} ms; last: ${JSON.stringify(ep)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Requests other than health checks that reached `u`. */
const traffic = (u: Upstream) => u.seen.filter((s) => s.url !== '/healthz').length;

async function get(url: string): Promise<number> {
  const res = await request(url);
  await res.body.dump();
  return res.statusCode;
}

describe('outlier ejection', () => {
  let good: Upstream[];
  let bad: Upstream;
  let proxy: ProxyProcess;
  let base: string;

  before(async () => {
    good = await Promise.all(['good-1', 'good-2'].map((n) => startUpstream(n)));
    bad = await startUpstream('bad', (_req, res) => res.writeHead(500, { 'x-upstream': 'bad' }).end('broken'));
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: pool }] }] }]
backends:
  - name: pool
    endpoints: [${[...good, bad].map((u) => `{ address: 127.0.0.1, port: ${u.port} }`).join(', ')}]
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: eject }
    spec:
      targetRefs: [{ kind: Backend, name: pool }]
      outlierDetection: { consecutive5xx: 3, baseEjectionTime: 30s, maxEjectionPercent: 50 }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: no-retries }
    spec:
      targetRefs: [{ kind: Backend, name: pool }]
      attempts: 0
`);
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([...(good ?? []), bad].map((u) => u?.close()));
  });

  test('ejects the endpoint after 3 consecutive 500s, and sends it nothing while ejected', async () => {
    // With no retries every 500 reaches the client, and every request is one try.
    const statuses: number[] = [];
    for (let i = 0; i < 100 && bad.seen.length < 3; i++) statuses.push(await get(base));
    assert.equal(bad.seen.length, 3, 'the failing upstream got 3 requests');
    assert.equal(statuses.filter((s) => s === 500).length, 3);

    const ep = await endpointOf(proxy, 'pool', bad.port);
    assert.equal(ep.health, 'unhealthy');
    assert.match(ep.healthReason ?? '', /3 consecutive 5xx/);
    assert.equal(ep.ejections, 1);
    for (const g of good) assert.equal((await endpointOf(proxy, 'pool', g.port)).health, 'healthy');

    const before = bad.seen.length;
    const after30: number[] = [];
    for (let i = 0; i < 30; i++) after30.push(await get(base));
    assert.equal(bad.seen.length, before, 'an ejected endpoint got traffic');
    assert.deepEqual([...new Set(after30)], [200]);
  });
});

describe('active health checks', () => {
  let ok: Upstream;
  let sick: Upstream;
  let sickHealthz = 503;
  let proxy: ProxyProcess;
  let base: string;

  before(async () => {
    ok = await startUpstream('ok');
    // /healthz answers what the test says; every other path answers 200.
    sick = await startUpstream('sick', (req, res) => {
      const status = req.url === '/healthz' ? sickHealthz : 200;
      res.writeHead(status, { 'x-upstream': 'sick' }).end();
    });
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: pool }] }] }]
backends:
  - name: pool
    endpoints: [{ address: 127.0.0.1, port: ${ok.port} }, { address: 127.0.0.1, port: ${sick.port} }]
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: checks }
    spec:
      targetRefs: [{ kind: Backend, name: pool }]
      healthCheck: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 1 }
`);
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([ok, sick].map((u) => u?.close()));
  });

  test('marks an endpoint failing its check unhealthy and sends it no traffic', async () => {
    const ep = await waitForEndpoint(proxy, 'pool', sick.port, (e) => e.health === 'unhealthy', 'sick endpoint unhealthy');
    assert.match(ep.healthReason ?? '', /^health check: GET \/healthz answered 503, \d+ times in a row$/);
    assert.equal(ep.ejections, 0, 'unhealthy by the check, not ejected');
    assert.equal((await endpointOf(proxy, 'pool', ok.port)).health, 'healthy');
    assert.ok(sick.seen.some((s) => s.url === '/healthz' && s.headers['user-agent'] === 'sluice-health-check'));

    const before = traffic(sick);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await get(base));
    assert.deepEqual([...new Set(statuses)], [200]);
    assert.equal(traffic(sick), before, 'an endpoint failing its health check got traffic');
  });

  test('brings it back once its check passes, and it receives traffic again', async () => {
    sickHealthz = 200;
    const ep = await waitForEndpoint(proxy, 'pool', sick.port, (e) => e.health === 'healthy', 'sick endpoint healthy again');
    assert.equal(ep.healthReason, undefined);

    const before = traffic(sick);
    for (let i = 0; i < 100 && traffic(sick) === before; i++) assert.equal(await get(base), 200);
    assert.ok(traffic(sick) > before, 'the recovered endpoint got none of 100 requests');
  });
});
