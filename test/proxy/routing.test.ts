// The static data plane end to end: the real binary, real sockets, the example topology.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sendRaw } from '../helpers/raw.ts';
import { waitFor } from '../helpers/wait.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/static/two-backends.yaml', import.meta.url));

/** The example file with its fixed ports swapped for the test's own. */
function exampleWithPorts(ports: Record<number, number>): string {
  let text = readFileSync(EXAMPLE, 'utf8');
  for (const [from, to] of Object.entries(ports)) text = text.replaceAll(`port: ${from}`, `port: ${to}`);
  return text;
}

describe('the two-backends example', () => {
  let proxy: ProxyProcess;
  let ups: Upstream[];
  let base: string;

  before(async () => {
    ups = await Promise.all(['api-1', 'api-2', 'api-canary', 'web'].map((n) => startUpstream(n)));
    proxy = await startProxy(exampleWithPorts({ 18000: 0, 18001: ups[0].port, 18002: ups[1].port, 18003: ups[2].port, 18004: ups[3].port }));
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  async function who(path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await request(base + path, { headers });
    assert.equal(res.statusCode, 200);
    return res.headers['x-upstream'] as string;
  }

  test('sends requests with x-canary: 1 to api-canary, whatever the path', async () => {
    assert.equal(await who('/api/users', { 'x-canary': '1' }), 'api-canary');
    assert.equal(await who('/', { 'x-canary': '1' }), 'api-canary');
  });

  test('round-robins /api between its two endpoints with equal weight', async () => {
    const got: string[] = [];
    for (let i = 0; i < 10; i++) got.push(await who('/api/items'));
    assert.equal(got.filter((n) => n === 'api-1').length, 5);
    assert.equal(got.filter((n) => n === 'api-2').length, 5);
    assert.notEqual(got[0], got[1]);
  });

  test('matches /api element-wise: /apix goes to web', async () => {
    assert.match(await who('/api'), /^api-[12]$/);
    assert.equal(await who('/apix'), 'web');
    assert.equal(await who('/'), 'web');
  });

  test('routes on the normalized path, and forwards that path', async () => {
    const res = await request(`${base}/web/..//api/%7Eme/./x`);
    const body = (await res.body.json()) as { name: string; url: string };
    assert.ok(body.name.startsWith('api-'));
    assert.equal(body.url, '/api/~me/x');
  });

  test('keeps Host, sets x-forwarded-for, x-forwarded-proto and x-request-id, drops hop-by-hop headers', async () => {
    // Raw bytes: well-behaved clients (undici included) refuse to send some of these.
    const { response } = await sendRaw(
      proxy.ports.main,
      'GET /anything?q=1 HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive, x-secret-hop\r\nX-Secret-Hop: no\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\nConnection: close\r\n\r\n',
      2000,
    );
    const seen = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string>; url: string };
    assert.equal(seen.url, '/anything?q=1');
    assert.equal(seen.headers.host, 'shop.example.com');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    for (const h of ['x-secret-hop', 'keep-alive', 'proxy-connection']) assert.equal(seen.headers[h], undefined, h);
    assert.equal(seen.headers.te, 'trailers');
  });

  test('keeps a client x-request-id and appends to an existing x-forwarded-for', async () => {
    const res = await request(`${base}/`, { headers: { 'x-request-id': 'abc-123', 'x-forwarded-for': '10.1.2.3' } });
    const seen = ((await res.body.json()) as { headers: Record<string, string> }).headers;
    assert.equal(seen['x-request-id'], 'abc-123');
    assert.equal(seen['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  });

  test('writes one JSON access-log line per request with the agreed fields', async () => {
    await request(`${base}/api/logged`, { headers: { 'x-request-id': 'log-me' } }).then((r) => r.body.dump());
    await waitFor(() => proxy.accessLog().find((l) => l.request_id === 'log-me'));
    const line = proxy.accessLog().find((l) => l.request_id === 'log-me')!;
    for (const field of ['time', 'request_id', 'method', 'authority', 'path', 'protocol', 'status', 'flags', 'details', 'route', 'upstream', 'upstream_host', 'bytes_received', 'bytes_sent', 'duration_ms', 'downstream_remote', 'downstream_peer', 'listener']) {
      assert.ok(field in line, `missing ${field}`);
    }
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/api/logged');
    assert.equal(line.status, 200);
    assert.equal(line.flags, '-');
    assert.equal(line.upstream, 'api');
    assert.match(String(line.upstream_host), /^127\.0\.0\.1:\d+$/);
    assert.ok((line.bytes_sent as number) > 0);
  });

  test('exports requests by route, backend and status class, latency and connections on /stats/prometheus', async () => {
    await request(`${base}/api/metrics-probe`).then((r) => r.body.dump());
    const text = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    assert.match(text, /sluice_route_requests_total\{listener="main",route="two-backends\/api",backend="api",status_class="2xx"\} [1-9]/);
    assert.match(text, /sluice_request_duration_ms_bucket\{listener="main",route="two-backends\/api",backend="api",le="\+Inf"\} [1-9]/);
    assert.match(text, /sluice_downstream_connections_active\{listener="main"\} \d+/);
    assert.match(text, /sluice_upstream_requests_total\{backend="api",endpoint="127\.0\.0\.1:\d+",status_class="2xx"\} [1-9]/);
  });

  test('serves /ready, /live, /config_dump and /clusters on the admin port', async () => {
    const admin = `http://127.0.0.1:${proxy.adminPort}`;
    assert.equal((await request(`${admin}/ready`)).statusCode, 200);
    assert.equal((await request(`${admin}/live`)).statusCode, 200);
    const dump = (await (await request(`${admin}/config_dump`)).body.json()) as { config: { backends: { name: string }[] } };
    assert.deepEqual(dump.config.backends.map((b) => b.name), ['api', 'api-canary', 'web']);
    const { clusters } = (await (await request(`${admin}/clusters?format=json`)).body.json()) as { clusters: { name: string; endpoints: { health: string; totalRequests: number }[] }[] };
    const api = clusters.find((c) => c.name === 'api')!;
    assert.equal(api.endpoints.length, 2);
    assert.ok(api.endpoints.every((e) => e.health === 'healthy' && e.totalRequests > 0));
  });
});
