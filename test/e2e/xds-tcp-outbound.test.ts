// A Workload's spec.outbound through real joined proxies over mTLS: a real redis-server
// behind its proxy (its Service port is appProtocol tcp), and a caller whose proxy listens
// on the local ports its Workload declares. redis-cli talks to the caller's proxy, which
// forwards over mTLS to the redis proxy, which forwards to redis-server: the same path a
// static file's TCP listener takes (test/proxy/protocols.test.ts, test/proxy/tls/mtls.test.ts).
// Also: an HTTP outbound entry (that Service port's routes only), and a port in Host
// choosing the Service port on the outbound listener.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { redisCli, redisMissing, startRedis, type RedisServer } from '../helpers/redis.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const missing = redisMissing();
if (missing !== null) console.log(`# skipped: ${missing}`);
const opts = { skip: missing ?? false };

const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-tcp-'));
let cp: ControlPlaneProcess;
let redis: RedisServer;
let web: Upstream;
let webAdmin: Upstream;
let redisProxy: ProxyProcess;
let webProxy: ProxyProcess;
let caller: ProxyProcess;
/** Ports: the redis Workload's inbound port, the caller's outbound port and its spec.outbound local ports. */
const port = { redisInbound: 0, outbound: 0, redis: 0, webAdmin: 0, nowhere: 0 };

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  return r;
};

/** A GET from the caller's app to a port of its proxy, with the Host given; at most 15 s. */
function get(to: number, host: string, path = '/'): Promise<{ status: number; upstream: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: to, path, headers: { host }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, upstream: res.headers['x-upstream'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function stat(proxy: ProxyProcess, name: string, listener: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).text();
  const m = new RegExp(`^${name}\\{listener="${listener.replace(/[|.]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(text);
  return Number(m?.[1] ?? 0);
}

before(async () => {
  if (missing !== null) return;
  redis = await startRedis();
  web = await startUpstream('web');
  webAdmin = await startUpstream('web-admin');
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await closedPort();
  const [webHttp, webAdminPort] = [await closedPort(), await closedPort()];
  const applied = await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: redis }\nspec: { selector: { app: redis }, ports: [{ name: redis, port: 6379, appProtocol: tcp }] }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }, { name: admin, port: 8080 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: redis-1, labels: { app: redis } }\nspec: { address: 127.0.0.1, ports: { redis: ${port.redisInbound} }, serviceAccount: redis }\n`,
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-1, labels: { app: web } }\nspec: { address: 127.0.0.1, ports: { http: ${webHttp}, admin: ${webAdminPort} }, serviceAccount: web }\n`,
    [
      'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec:\n  address: 127.0.0.1\n  serviceAccount: caller\n  outbound:\n',
      `  - { service: redis, port: 6379, localPort: ${port.redis} }\n`,
      `  - { service: web, namespace: default, port: 8080, localPort: ${port.webAdmin} }\n`,
      `  - { service: nosuch, port: 6379, localPort: ${port.nowhere} }\n`,
    ].join(''),
  ].join('---\n'));
  assert.equal(applied.code, 0, applied.stderr);
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    const r = await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    assert.equal(r.code, 0, r.stderr);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  [redisProxy, webProxy, caller] = await Promise.all([
    join_('redis-1', ['--app', `redis=${redis.port}`, '--outbound-port', String(await closedPort())]),
    join_('web-1', ['--app', `http=${web.port}`, '--app', `admin=${webAdmin.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off']),
    join_('caller-1', ['--outbound-port', String(port.outbound)]),
  ]);
  // Bounded wait for the first push to reach every proxy: PONG comes back only through all three.
  const deadline = Date.now() + 20_000;
  while ((await redisCli(port.redis, ['PING'], 3000).catch(() => '')) !== 'PONG') {
    if (Date.now() > deadline) assert.fail("redis did not answer through the caller's proxy in 20 s");
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await Promise.all([caller?.stop(), redisProxy?.stop(), webProxy?.stop()]);
  await Promise.all([redis?.stop(), web?.close(), webAdmin?.close()]);
  await cp?.stop();
});

test("redis-cli SET and GET through the caller's proxy reach the real redis-server, over the redis Workload's proxy", opts, async () => {
  const through = await stat(redisProxy, 'sluice_downstream_connections_total', `inbound|${port.redisInbound}`);
  assert.equal(await redisCli(port.redis, ['SET', 'k', 'v']), 'OK');
  assert.equal(await redisCli(port.redis, ['GET', 'k']), 'v');
  assert.equal(await redisCli(redis.port, ['GET', 'k']), 'v', 'the value is in redis-server itself');
  assert.equal(await stat(redisProxy, 'sluice_downstream_connections_total', `inbound|${port.redisInbound}`), through + 2, "each call came in through the redis proxy's inbound listener");
});

test('a 100 kB value crosses both proxies byte for byte, as a static TCP listener passes it (test/proxy/tls/mtls.test.ts)', opts, async () => {
  const value = Array.from({ length: 100_000 }, (_, i) => String.fromCharCode(33 + (i % 94))).join('');
  assert.equal(await redisCli(port.redis, ['SET', 'big', value]), 'OK');
  assert.equal(await redisCli(port.redis, ['GET', 'big']), value);
  assert.equal(await redisCli(redis.port, ['STRLEN', 'big']), '100000');
});

test("the redis proxy's inbound port takes mTLS only: redis-cli in plaintext gets no answer, and the refusal is counted", opts, async () => {
  const refused = await stat(redisProxy, 'sluice_downstream_mtls_refused_total', `inbound|${port.redisInbound}`);
  await assert.rejects(redisCli(port.redisInbound, ['GET', 'k']), (err: Error & { output?: string }) => !/^v$/m.test(err.output ?? ''));
  await waitFor(async () => (await stat(redisProxy, 'sluice_downstream_mtls_refused_total', `inbound|${port.redisInbound}`)) > refused, 5000, 'the mTLS refusal counted');
});

test("the caller's proxy calls redis over mTLS, checking the redis Workload's SPIFFE ID", opts, async () => {
  const clusters = await caller.clusters();
  const redisCluster = clusters.find((c) => c.name === 'outbound|6379||redis.default.svc.cluster.local');
  assert.ok(redisCluster, JSON.stringify(clusters.map((c) => c.name)));
  const dump = (await (await fetch(`http://127.0.0.1:${caller.adminPort}/config_dump`)).json()) as { config: { backends: { name: string; tls: unknown }[] } };
  const backend = dump.config.backends.find((b) => b.name === 'outbound|6379||redis.default.svc.cluster.local');
  assert.deepEqual(backend?.tls, { identities: ['spiffe://e2e.sluice.dev/ns/default/sa/redis'], serverName: 'outbound_.6379_._.redis.default.svc.cluster.local' });
});

test("an HTTP outbound entry calls that Service port's routes only, whatever the Host", opts, async () => {
  assert.deepEqual(await get(port.webAdmin, 'anything.example'), { status: 200, upstream: 'web-admin' });
  assert.deepEqual(await get(port.webAdmin, 'web.default.svc.cluster.local'), { status: 200, upstream: 'web-admin' }, 'not the port-80 routes the name alone picks on the outbound port');
});

test('on the outbound port, a port in Host picks that Service port; no port picks port 80', opts, async () => {
  assert.deepEqual(await get(port.outbound, 'web.default.svc.cluster.local:8080'), { status: 200, upstream: 'web-admin' });
  assert.deepEqual(await get(port.outbound, 'web.default:8080'), { status: 200, upstream: 'web-admin' });
  assert.deepEqual(await get(port.outbound, 'web:8080'), { status: 200, upstream: 'web-admin' });
  assert.deepEqual(await get(port.outbound, 'web.default.svc.cluster.local'), { status: 200, upstream: 'web' });
  assert.deepEqual(await get(port.outbound, 'web.default.svc.cluster.local:80'), { status: 200, upstream: 'web' });
  assert.deepEqual(await get(port.outbound, 'web'), { status: 200, upstream: 'web' });
});

test('an outbound entry to a Service that does not exist is accepted, logged by the control plane, and its listener closes each connection, saying why in the proxy log', opts, async () => {
  await waitFor(() => cp.stderr().split('\n').find((l) => l.includes('spec.outbound[2]: Service default/nosuch does not exist')), 5000, 'the control plane warning');
  await assert.rejects(redisCli(port.nowhere, ['PING'], 5000));
  const line = await caller.waitForLog(new RegExp(`tcp connection closed: the backend has no endpoint.*outbound\\|${port.nowhere}`), 5000);
  assert.match(line, /outbound\|6379\|\|nosuch\.default\.svc\.cluster\.local/);
});

test('a Workload that lists a localPort twice, or on its own served port, is refused at apply with the field path', opts, async () => {
  const r = await ctl(['apply', '-f', '-'], `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: bad-1 }\nspec:\n  address: 127.0.0.1\n  ports: { http: 9000 }\n  outbound:\n  - { service: redis, port: 6379, localPort: 7000 }\n  - { service: web, port: 80, localPort: 7000 }\n  - { service: web, port: 8080, localPort: 9000 }\n`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /spec\.outbound\[1\]\.localPort: 7000 is already the localPort of spec\.outbound\[0\]/);
  assert.match(r.stderr, /spec\.outbound\[2\]\.localPort: 9000 is the port this Workload serves Service port 'http' on/);
});

test("an AuthorizationPolicy on a tcp Service decides each connection by its peer: the caller allowed reaches redis, denied it gets nothing and the denial is counted RBAC; a rule on paths never opens a tcp port", opts, async () => {
  const policy = (name: string, spec: string) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: ${name} }\nspec: { targetRefs: [{ kind: Service, name: redis }], ${spec} }\n`;
  const denied = async () => {
    const text = await (await fetch(`http://127.0.0.1:${redisProxy.statsPort}/stats/prometheus`)).text();
    return Number(new RegExp(`^sluice_local_replies_total\\{listener="inbound\\|${port.redisInbound}",flag="RBAC"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const reaches = async () => (await redisCli(port.redis, ['PING'], 3000).catch(() => '')) === 'PONG';
  /** Bounded wait for a push to change what the caller gets. */
  const until = async (want: boolean, what: string) => {
    for (const deadline = Date.now() + 20_000; (await reaches()) !== want; await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > deadline) assert.fail(what);
    }
  };
  try {
    // Only the caller's identity: it still reaches redis.
    let r = await ctl(['apply', '-f', '-'], policy('redis-callers', 'rules: [{ from: [{ identities: ["spiffe://e2e.sluice.dev/ns/default/sa/caller"] }] }]'));
    assert.equal(r.code, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.ok(await reaches(), 'the allowed caller reaches redis');
    // Only another identity: the caller's connections are closed before a byte reaches redis.
    r = await ctl(['apply', '-f', '-'], policy('redis-callers', 'rules: [{ from: [{ identities: ["spiffe://e2e.sluice.dev/ns/default/sa/web"] }] }]'));
    assert.equal(r.code, 0, r.stderr);
    await until(false, `the caller still reached redis after the policy allowing only web; the redis proxy's log:\n${redisProxy.stderr().split('\n').slice(-8).join('\n')}`);
    const line = await waitFor(() => redisProxy.stderr().split('\n').find((l) => l.includes('tcp connection denied by authorization')), 5000, "the redis proxy's denial line");
    assert.match(line, /spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/caller/);
    assert.ok((await denied()) > 0, 'the denial is counted');
    // An ALLOW rule on paths can match no connection (Istio's reading): it opens nothing.
    r = await ctl(['apply', '-f', '-'], policy('redis-callers', 'rules: [{ from: [{ identities: ["*"] }], to: [{ paths: [{ value: /admin, type: PathPrefix }] }] }]'));
    assert.equal(r.code, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await reaches(), false, 'an HTTP-only ALLOW rule let a tcp connection through');
  } finally {
    await ctl(['delete', 'authorizationpolicy', 'redis-callers']);
  }
  await until(true, 'redis did not come back once the policy was deleted');
});
