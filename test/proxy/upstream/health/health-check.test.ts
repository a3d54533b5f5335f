// Active health checks against real HTTP servers on 127.0.0.1: the checker must tell a
// failing endpoint, a closed port and a silent server apart, and recover when the endpoint does.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import type { HealthCheck } from '../../../../proxy/config/model.ts';
import { http } from '../../../../proxy/node-http.ts';
import { EndpointState } from '../../../../proxy/upstream/endpoint.ts';
import { HealthChecker } from '../../../../proxy/upstream/health/health-check.ts';

const CONFIG: HealthCheck = {
  path: '/healthz',
  intervalMs: 50,
  timeoutMs: 1000,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
  expectedStatuses: [[200, 399]],
};

async function serve(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function check(t: TestContext, port: number, config: Partial<HealthCheck> = {}) {
  const ep = new EndpointState({ address: '127.0.0.1', port, weight: 1, priority: 0 }, null as never, null as never);
  const logs: string[] = [];
  const checker = new HealthChecker({ ...CONFIG, ...config }, [ep], { log: (level, msg) => logs.push(`${level} ${msg}`) });
  t.after(() => checker.stop());
  checker.start();
  return { ep, logs, checker };
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('health checker', () => {
  test('an endpoint answering 500 fails after the threshold and recovers after enough 200s', async (t) => {
    let status = 500;
    let requests = 0;
    const { port } = await serve(t, (_req, res) => {
      requests++;
      res.writeHead(status).end('body the checker must drain');
    });
    const { ep, logs } = check(t, port);

    await until('the endpoint is marked failed', () => ep.checkFailed);
    assert.ok(requests >= 3, `failed after ${requests} checks`);
    assert.equal(ep.healthy, false);
    assert.equal(ep.healthReason, 'health check: GET /healthz answered 500, 3 times in a row');
    assert.deepEqual(logs, ['warn health check failing']);

    status = 204;
    const before = requests;
    await until('the endpoint passes again', () => !ep.checkFailed);
    assert.ok(requests - before >= 2, 'two passes in a row are needed');
    assert.equal(ep.healthy, true);
    assert.equal(ep.healthReason, '');
    assert.deepEqual(logs, ['warn health check failing', 'info health check passing again']);
  });

  test('a closed port fails with the connect error', async (t) => {
    const { server, port } = await serve(t, () => {});
    server.close();
    await once(server, 'close');
    const { ep } = check(t, port);
    await until('the endpoint is marked failed', () => ep.checkFailed);
    assert.equal(ep.healthReason, 'health check: GET /healthz could not connect (ECONNREFUSED), 3 times in a row');
  });

  test('a server that never answers fails with the timeout', async (t) => {
    let requests = 0;
    const { port } = await serve(t, () => requests++);
    const { ep } = check(t, port, { timeoutMs: 60, unhealthyThreshold: 2 });
    await until('the endpoint is marked failed', () => ep.checkFailed);
    assert.equal(ep.healthReason, 'health check: GET /healthz timed out after 60 ms, 2 times in a row');
    assert.ok(requests >= 2);
  });

  test('statuses outside the expected ranges fail', async (t) => {
    const { port } = await serve(t, (_req, res) => res.writeHead(302).end());
    const { ep } = check(t, port, { expectedStatuses: [[200, 299]], unhealthyThreshold: 1 });
    await until('the endpoint is marked failed', () => ep.checkFailed);
    assert.equal(ep.checkReason, 'health check: GET /healthz answered 302, 1 times in a row');
  });

  test('sends the configured path and Host, with its own user agent', async (t) => {
    const seen: string[] = [];
    const { port } = await serve(t, (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.host} ${req.headers['user-agent']}`);
      res.end();
    });
    check(t, port, { path: '/ready?deep=1', host: 'api.internal' });
    await until('a check arrives', () => seen.length > 0);
    assert.equal(seen[0], 'GET /ready?deep=1 api.internal sluice-health-check');
  });

  test('sends the endpoint address as Host when none is configured', async (t) => {
    const hosts: (string | undefined)[] = [];
    const { port } = await serve(t, (req, res) => {
      hosts.push(req.headers.host);
      res.end();
    });
    check(t, port);
    await until('a check arrives', () => hosts.length > 0);
    assert.equal(hosts[0], `127.0.0.1:${port}`);
  });

  test('never has two checks in flight to one endpoint, and stop aborts the one in flight', async (t) => {
    let inFlight = 0;
    let most = 0;
    let requests = 0;
    const { port } = await serve(t, (_req, res) => {
      requests++;
      most = Math.max(most, ++inFlight);
      res.once('close', () => inFlight--); // answered, or the checker hung up
      // Slower than the interval; from the third on, no answer: only stop() can end it.
      if (requests < 3) setTimeout(() => res.end(), 120).unref();
    });
    const { ep, checker } = check(t, port, { timeoutMs: 1000 });
    await until('three checks arrive', () => requests >= 3);
    assert.equal(most, 1);
    checker.stop();
    await until('the aborted check closes its connection', () => inFlight === 0);
    assert.equal(ep.checkFailuresInARow, 0, 'an aborted check counts neither way');
  });
});
