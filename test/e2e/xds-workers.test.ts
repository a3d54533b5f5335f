// --workers 2 on a proxy that follows a control plane: a caller's proxy with two threads
// (the main thread and a worker, SO_REUSEPORT on its outbound port) joins with a token; a
// pushed route change (echo -> the green Service) reaches both threads, seen on calls that
// each thread answers (its own count at /workers goes up), and the stats add up.

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
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'echo.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-workers-'));
let cp: ControlPlaneProcess;
let blue: Upstream;
let green: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from the caller's app on a connection of its own (the kernel picks a thread): who answered, or its status. */
function call(host = HOST): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/', headers: { host }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('{') ? (JSON.parse(body) as { name: string }).name : `status ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end();
  });
}

const calls = async (n: number, host = HOST) => (await Promise.all(Array.from({ length: n }, () => call(host).catch((e: Error) => e.message)))).sort();

function adminGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
const perWorker = async () => (JSON.parse(await adminGet(caller.adminPort, '/workers')) as { workers: { worker: number; requests: number }[] }).workers.map((w) => w.requests);

/** `read()` again until `done` holds of it, at most 10 s; the last reading either way. */
async function countedBy<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  let v = await read();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

/** Until every one of `n` calls is answered by `who`; at most 30 s. */
async function until(who: string, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = await calls(n);
    if (got.every((g) => g === who)) return;
    if (Date.now() > deadline) assert.fail(`calls still answered by ${[...new Set(got)].join(', ')}, not only ${who}, after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  [blue, green] = await Promise.all([startUpstream('blue'), startUpstream('green')]);
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const [bluePort, greenPort] = [await closedPort(), await closedPort()];
  outbound = await closedPort();
  const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: ${JSON.stringify({ selector: { app: 'app' }, ports: [{ name, port: 80 }] })}\n`;
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    service('echo'),
    service('green'),
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: app-1, labels: { app: app } }\nspec: { address: 127.0.0.1, ports: { echo: ${bluePort}, green: ${greenPort} }, serviceAccount: app }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', '--access-log', 'off', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('app-1', ['--app', `echo=${blue.port}`, '--app', `green=${green.port}`, '--outbound-port', String(await closedPort())]);
  caller = await join_('caller-1', ['--outbound-port', String(outbound), '--workers', '2']);
  await until('blue', 10);
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await Promise.all([blue?.close(), green?.close()]);
  await cp?.stop();
});

test('a pushed route change reaches both threads of a --workers 2 proxy, and the stats add up', async () => {
  const sent0 = await perWorker();
  assert.equal(sent0.length, 2, 'the main thread and one worker');
  await ctl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'to-green' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules: [{ backendRefs: [{ name: 'green', port: 80 }] }] },
  }));
  await until('green', 20);
  const before = await perWorker();
  assert.deepEqual(await calls(100), Array(100).fill('green'));
  // A request is counted when its response is over on the proxy's side, which may trail the
  // client's last byte by a moment on a busy machine: wait for the count, bounded.
  const afterwards = await countedBy(() => perWorker(), (w) => w[0] + w[1] - before[0] - before[1] >= 100);
  for (let i = 0; i < 2; i++) assert.ok(afterwards[i] > before[i], `thread ${i} answered none of the 100 calls after the change: ${before} -> ${afterwards}`);
  assert.equal(afterwards[0] + afterwards[1] - before[0] - before[1], 100, `${before} -> ${afterwards}; proxy log:\n${caller.stderr().slice(-4000)}`);
  const stats = await adminGet(caller.statsPort, '/stats/prometheus');
  const total = [...stats.matchAll(/^sluice_route_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(total, afterwards[0] + afterwards[1]);
});

test("both threads' failed requests go to the control plane (sluicectl explain's feed)", async () => {
  type Dump = { failure_reports: { queued: number; sent: number; dropped: number; limited: number } };
  const reports = async () => (JSON.parse(await adminGet(caller.adminPort, '/config_dump')) as Dump).failure_reports;
  // Each thread reports at most 50 failures a second (a token bucket, failure-report.ts), and
  // the route switch of the test before may have just spent some of a thread's: a second's
  // wait fills every bucket, so none of the 40 is limited and the count below is exact.
  await new Promise((r) => setTimeout(r, 1100));
  const sent0 = (await reports()).sent;
  const before = await perWorker();
  // No Service has this name: each call is a 404 NR from the thread that took it.
  assert.deepEqual(await calls(40, 'nowhere.default.svc.cluster.local'), Array(40).fill('status 404'));
  const afterwards = await perWorker();
  for (let i = 0; i < 2; i++) assert.ok(afterwards[i] > before[i], `thread ${i} took none of the 40 calls: ${before} -> ${afterwards}`);
  const deadline = Date.now() + 20_000;
  let r = await reports();
  while (r.sent - sent0 < 40 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    r = await reports();
  }
  assert.equal(r.sent - sent0, 40, `failure reports: ${JSON.stringify(r)}; threads ${before} -> ${afterwards}; proxy log:\n${caller.stderr().slice(-4000)}`);
});

test("what either thread's rate limit lets go is counted in /config_dump: every failed call is sent or limited", async () => {
  type Dump = { failure_reports: { queued: number; sent: number; dropped: number; limited: number } };
  const reports = async () => (JSON.parse(await adminGet(caller.adminPort, '/config_dump')) as Dump).failure_reports;
  await new Promise((r) => setTimeout(r, 1100));
  const r0 = await reports();
  const before = await perWorker();
  // 200 failing calls at once: more than the two threads' buckets (50 each) hold.
  assert.deepEqual(await calls(200, 'nowhere.default.svc.cluster.local'), Array(200).fill('status 404'));
  const afterwards = await perWorker();
  for (let i = 0; i < 2; i++) assert.ok(afterwards[i] > before[i], `thread ${i} took none of the 200 calls: ${before} -> ${afterwards}`);
  const told = (r: Dump['failure_reports']) => r.sent - r0.sent + (r.limited - r0.limited) + (r.dropped - r0.dropped);
  const deadline = Date.now() + 20_000;
  let r = await reports();
  while (told(r) < 200 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    r = await reports();
  }
  assert.equal(told(r), 200, `failure reports: ${JSON.stringify(r0)} -> ${JSON.stringify(r)}; threads ${before} -> ${afterwards}`);
  assert.ok(r.limited > r0.limited, 'some were limited');
});
