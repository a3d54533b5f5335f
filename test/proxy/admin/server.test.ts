// The admin and stats servers over real sockets: health, config dump, clusters, metrics,
// read-only methods, and a stats server that shows nothing but metrics and readiness.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAdminServer, startStatsServer, type AdminServer, type AdminSource } from '../../../proxy/admin/index.ts';
import type { ClusterStatus } from '../../../proxy/upstream/index.ts';

const clusters: ClusterStatus[] = [
  {
    name: 'cart',
    protocol: 'http1',
    loadBalancer: 'round_robin',
    activeRequests: 2,
    activeRetries: 0,
    retries: 4,
    retriesRefused: 1,
    overflows: 3,
    limits: { maxConnections: 100, maxPendingRequests: 10, maxActiveRequests: 200, maxActiveRetries: 5 },
    endpoints: [
      { address: '127.0.0.1', port: 18001, weight: 1, health: 'healthy', zone: 'dc1-a', priority: 0, ejections: 0, activeRequests: 2, totalRequests: 40, connectFailures: 0 },
      { address: '::1', port: 18002, weight: 3, health: 'unhealthy', healthReason: 'ejected: 5 consecutive gateway errors (ejection 1, for 30s)', priority: 1, ejections: 1, activeRequests: 0, totalRequests: 7, connectFailures: 5 },
    ],
  },
];

const METRICS = '# HELP sluice_config_reloads_total x\n# TYPE sluice_config_reloads_total counter\nsluice_config_reloads_total{result="ok"} 1\n';

describe('admin and stats servers', () => {
  const state = { ready: true, draining: false, failDump: false };
  const logged: string[] = [];
  const source: AdminSource = {
    ready: () => state.ready,
    draining: () => state.draining,
    configDump: () => {
      if (state.failDump) throw new Error('boom');
      return { version: 'v1', loadedAt: '2024-01-01T00:00:00.000Z', config: { listeners: [{ name: 'main' }] } };
    },
    clusters: () => clusters,
    metricsText: () => METRICS,
  };
  let admin: AdminServer;
  let stats: AdminServer;
  const get = async (server: AdminServer, path: string, init?: RequestInit) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
    return { status: res.status, type: res.headers.get('content-type'), allow: res.headers.get('allow'), body: await res.text() };
  };

  before(async () => {
    admin = await startAdminServer({ host: '127.0.0.1', port: 0, source, log: (m) => logged.push(m) });
    stats = await startStatsServer({ host: '127.0.0.1', port: 0, source });
  });
  after(async () => {
    await Promise.all([admin.close(), stats.close()]);
  });

  test('binds the port it was given, or a free one for 0', () => {
    assert.ok(admin.port > 0 && stats.port > 0 && admin.port !== stats.port);
  });

  test('/ready says ready, then not ready, then draining, with 200 and 503', async () => {
    assert.deepEqual(await get(admin, '/ready'), { status: 200, type: 'text/plain; charset=utf-8', allow: null, body: 'ready\n' });
    state.ready = false;
    assert.equal((await get(admin, '/ready')).body, 'not ready\n');
    state.draining = true;
    const r = await get(admin, '/ready');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'draining\n');
    assert.equal((await get(stats, '/healthz/ready')).body, 'draining\n');
    state.ready = true;
    state.draining = false;
    assert.equal((await get(stats, '/healthz/ready')).status, 200);
  });

  test('/live answers 200 even while not ready', async () => {
    state.ready = false;
    try {
      assert.deepEqual(await get(admin, '/live'), { status: 200, type: 'text/plain; charset=utf-8', allow: null, body: 'live\n' });
    } finally {
      state.ready = true;
    }
  });

  test('/config_dump returns the dump as pretty JSON', async () => {
    const r = await get(admin, '/config_dump');
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(r.body), source.configDump());
    assert.match(r.body, /^{\n {2}"version": "v1",/);
  });

  test('/clusters lists every endpoint in Envoy-like lines', async () => {
    const r = await get(admin, '/clusters');
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      [
        'cart::protocol::http1',
        'cart::load_balancer::round_robin',
        'cart::circuit_breakers::max_connections::100',
        'cart::circuit_breakers::max_pending_requests::10',
        'cart::circuit_breakers::max_requests::200',
        'cart::circuit_breakers::max_retries::5',
        'cart::rq_active::2',
        'cart::rq_retry::4',
        'cart::rq_retry_refused::1',
        'cart::rq_overflow::3',
        'cart::127.0.0.1:18001::health::healthy',
        'cart::127.0.0.1:18001::zone::dc1-a',
        'cart::127.0.0.1:18001::priority::0',
        'cart::127.0.0.1:18001::weight::1',
        'cart::127.0.0.1:18001::ejections::0',
        'cart::127.0.0.1:18001::rq_active::2',
        'cart::127.0.0.1:18001::rq_total::40',
        'cart::127.0.0.1:18001::cx_connect_fail::0',
        'cart::[::1]:18002::health::unhealthy',
        'cart::[::1]:18002::health_reason::ejected: 5 consecutive gateway errors (ejection 1, for 30s)',
        'cart::[::1]:18002::priority::1',
        'cart::[::1]:18002::weight::3',
        'cart::[::1]:18002::ejections::1',
        'cart::[::1]:18002::rq_active::0',
        'cart::[::1]:18002::rq_total::7',
        'cart::[::1]:18002::cx_connect_fail::5',
        '',
      ].join('\n'),
    );
  });

  test('/clusters?format=json returns the same state as JSON', async () => {
    const r = await get(admin, '/clusters?format=json');
    assert.equal(r.type, 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(r.body), { clusters });
  });

  test('/stats on the admin server and /stats/prometheus on the stats server return the exposition text', async () => {
    const a = await get(admin, '/stats');
    assert.equal(a.status, 200);
    assert.equal(a.body, METRICS);
    const s = await get(stats, '/stats/prometheus');
    assert.equal(s.status, 200);
    assert.equal(s.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(s.body, METRICS);
  });

  test('/ lists the endpoints', async () => {
    const r = await get(admin, '/');
    assert.equal(r.status, 200);
    for (const path of ['/ready', '/live', '/config_dump', '/clusters', '/stats']) assert.match(r.body, new RegExp(`^ +${path} `, 'm'));
  });

  test('unknown paths get 404, and the stats server does not serve the config dump', async () => {
    const r = await get(admin, '/nope');
    assert.equal(r.status, 404);
    assert.match(r.body, /not found/);
    assert.equal((await get(stats, '/config_dump')).status, 404);
    assert.equal((await get(stats, '/clusters')).status, 404);
  });

  test('POST and other methods get 405 with an Allow header', async () => {
    for (const [server, path] of [[admin, '/ready'], [admin, '/config_dump'], [stats, '/stats/prometheus']] as const) {
      const r = await get(server, path, { method: 'POST', body: 'x' });
      assert.equal(r.status, 405, path);
      assert.equal(r.allow, 'GET, HEAD');
    }
    assert.equal((await get(admin, '/clusters', { method: 'DELETE' })).status, 405);
  });

  test('HEAD answers like GET without a body', async () => {
    const r = await get(admin, '/ready', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
  });

  test('a failing source gives a 500 and a log line, and the server keeps serving', async () => {
    state.failDump = true;
    try {
      const r = await get(admin, '/config_dump');
      assert.equal(r.status, 500);
      assert.ok(logged.some((l) => l.includes('boom')));
    } finally {
      state.failDump = false;
    }
    assert.equal((await get(admin, '/config_dump')).status, 200);
  });

  test('refuses to start on a port already in use', async () => {
    await assert.rejects(startAdminServer({ host: '127.0.0.1', port: admin.port, source }), { code: 'EADDRINUSE' });
  });

  test('close() resolves with a keep-alive connection still open', async () => {
    const extra = await startStatsServer({ host: '127.0.0.1', port: 0, source });
    assert.equal((await get(extra, '/healthz/ready')).status, 200);
    await extra.close();
    await assert.rejects(fetch(`http://127.0.0.1:${extra.port}/healthz/ready`));
  });
});
