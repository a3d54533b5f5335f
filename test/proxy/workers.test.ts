// --workers 2: a static-config proxy whose main thread and one worker thread serve the same
// listener (SO_REUSEPORT). Both take connections (each thread's own count, at /workers, is
// above 0), the metrics add up to what was sent, every thread's access log lines reach
// stdout, SIGHUP switches every thread, and SIGTERM drains them all before the exit.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

const config = (backend: string, a: number, b: number) => `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: ${backend} }] }] }]
backends:
  - { name: blue, endpoints: [{ address: 127.0.0.1, port: ${a} }] }
  - { name: green, endpoints: [{ address: 127.0.0.1, port: ${b} }] }
`;

/** One request on a connection of its own (agent: false), so the kernel picks a thread for each. */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, signal: AbortSignal.timeout(20_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function many(port: number, n: number, path = '/'): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < n; i += 10) bodies.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => get(port, path)))).map((r) => `${r.status} ${r.body}`));
  return bodies;
}

async function admin(proxy: ProxyProcess, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: path.startsWith('/stats/prometheus') ? proxy.statsPort : proxy.adminPort, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

type WorkerRow = { worker: number; alive: boolean; requests: number; connections: number };
const workers = async (proxy: ProxyProcess) => (JSON.parse(await admin(proxy, '/workers')) as { workers: WorkerRow[] }).workers;
/** sluice_route_requests_total, every series added. */
const requestsTotal = (text: string) => [...text.matchAll(/^sluice_route_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);

describe('sluice-proxy --workers 2', () => {
  let blue: Upstream;
  let green: Upstream;
  let proxy: ProxyProcess;
  before(async () => {
    const echo = (name: string) => (req: { url?: string }, res: { end(s: string): void }) => setTimeout(() => res.end(name), req.url === '/slow' ? 800 : 0);
    blue = await startUpstream('blue', echo('blue') as never);
    green = await startUpstream('green', echo('green') as never);
    proxy = await startProxy(config('blue', blue.port, green.port), ['--workers', '2', '--drain-timeout', '5s']);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([blue?.close(), green?.close()]);
  });

  test('both threads take connections; the stats, /workers and the access log add up to what was sent', async () => {
    const sent = 200;
    const bodies = await many(proxy.ports.main, sent);
    assert.deepEqual(new Set(bodies), new Set(['200 blue']));
    const rows = await workers(proxy);
    assert.deepEqual(rows.map((r) => [r.worker, r.alive]), [[0, true], [1, true]]);
    for (const r of rows) assert.ok(r.requests > 0, `worker ${r.worker} finished no request: ${JSON.stringify(rows)}`);
    assert.equal(rows[0].requests + rows[1].requests, sent);
    assert.equal(requestsTotal(await admin(proxy, '/stats/prometheus')), sent);
    assert.equal(requestsTotal(await admin(proxy, '/stats')), sent);
    const buckets = /^sluice_request_duration_ms_count\{[^}]*\} (\d+)$/m.exec(await admin(proxy, '/stats/prometheus'));
    assert.equal(Number(buckets?.[1]), sent, 'the histogram counts add up too');
    const clusters = JSON.parse(await admin(proxy, '/clusters?format=json')) as { clusters: { name: string; endpoints: { totalRequests: number }[] }[] };
    assert.equal(clusters.clusters.find((c) => c.name === 'blue')?.endpoints[0].totalRequests, sent);
    await waitFor(() => proxy.accessLog().length >= sent, 10_000, 'every access log line');
    assert.equal(proxy.accessLog().length, sent);
  });

  test('SIGHUP switches every thread to the new file', async () => {
    writeFileSync(proxy.configFile, config('green', blue.port, green.port));
    proxy.child.kill('SIGHUP');
    await proxy.waitForLog(/"msg":"config reloaded"/);
    const bodies = await many(proxy.ports.main, 60);
    assert.deepEqual(new Set(bodies), new Set(['200 green']));
    for (const r of await workers(proxy)) assert.ok(r.requests > 0);
  });

  test('SIGTERM drains every thread: requests in flight on both finish, then the process exits 0', async () => {
    const before = await workers(proxy);
    const inflight = Promise.all(Array.from({ length: 12 }, () => get(proxy.ports.main, '/slow')));
    // Every slow request has reached a thread before the signal.
    await waitFor(() => green.seen.filter((r) => r.url === '/slow').length >= 12, 10_000, 'the slow requests at the upstream');
    const code = proxy.stop('SIGTERM');
    assert.deepEqual((await inflight).map((r) => `${r.status} ${r.body}`), Array(12).fill('200 green'));
    assert.equal(await code, 0);
    assert.match(proxy.stderr(), /"msg":"stopped"/);
    assert.ok(before.length === 2);
  });
});

test('--workers 2 with tracing and an access log file: every thread sends its spans and appends its lines', async () => {
  const app = await startUpstream('app');
  const receiver = await startOtlpReceiver('http/protobuf');
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-workers-log-')), 'access.log');
  const proxy = await startProxy(
    `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${app.port} }] }]
tracing: { samplingPercent: 100, otlp: { protocol: http/protobuf, endpoint: '${receiver.endpoint}' } }
`,
    ['--workers', '2', '--access-log', file],
    { readyTimeoutMs: 60_000 },
  );
  try {
    const sent = 40;
    const paths = Array.from({ length: sent }, (_, i) => `/w/${i}`);
    for (let i = 0; i < sent; i += 10) assert.deepEqual((await Promise.all(paths.slice(i, i + 10).map((p) => get(proxy.ports.main, p)))).map((r) => r.status), Array(10).fill(200));
    for (const r of await workers(proxy)) assert.ok(r.requests > 0, `worker ${r.worker} finished no request`);
    await receiver.waitFor((spans) => spans.filter((s) => String(s.attributes['url.path']).startsWith('/w/')).length >= sent);
    assert.deepEqual(receiver.spans.map((s) => String(s.attributes['url.path'])).filter((p) => p.startsWith('/w/')).sort(), [...paths].sort());
    assert.equal(await proxy.stop('SIGTERM'), 0);
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { path: string });
    assert.deepEqual(lines.map((l) => l.path).sort(), [...paths].sort());
  } finally {
    await proxy.stop();
    await Promise.all([app.close(), receiver.close()]);
  }
});
