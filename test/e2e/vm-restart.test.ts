// A VM agent as an operator runs it: joined with the README's relative paths (the token
// file named relative to the working directory, the default ./sluice-identity), then
// stopped and started again five times, by SIGTERM and by SIGKILL, the later starts from
// another working directory with a relative --identity-dir. A Service has two Workloads;
// a caller sends steady traffic through its own proxy the whole time. The restarted proxy
// must rejoin with the identity it kept (no new token) every time, and the caller must see
// no failed request.

import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { mtlsRequest } from '../helpers/mtls-client.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { allStarted } from '../helpers/wait.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'web.default.svc.cluster.local';
const root = mkdtempSync(join(tmpdir(), 'sluice-vm-restart-'));
/** The VM's working directory at the first start, and the one the later starts are run from. */
const vmDir = join(root, 'opt', 'web-1');
const otherDir = join(root, 'home');
let cp: ControlPlaneProcess;
const apps: Upstream[] = [];
const proxies: ProxyProcess[] = [];
let caller: ProxyProcess;
let outbound: number;
let web1Inbound: number;
let web1App: number;
let web1Outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

function call(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/', headers: { host: HOST }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** web-1's proxy, as the operator starts it from `cwd` with these (relative) arguments. */
const startWeb1 = (cwd: string, args: string[]) =>
  startProxy('', ['--control-plane', cp.xds, ...args, '--app', `http=${web1App}`, '--outbound-port', String(web1Outbound), '--access-log', 'off', '--drain-timeout', '1s'], { cwd, readyTimeoutMs: 30_000 });

/** The caller's SVID, as its proxy holds it. */
const callerSvid = () => {
  const f = (n: string) => readFileSync(join(root, 'caller-1', n), 'utf8');
  return { cert: f('cert.pem'), key: f('key.pem'), bundle: f('bundle.pem') };
};

before(async () => {
  mkdirSync(vmDir, { recursive: true });
  mkdirSync(otherDir, { recursive: true });
  for (const name of ['web-1', 'web-2']) apps.push(await startUpstream(name, (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(name)));
  web1App = apps[0].port;
  cp = await startControlPlane({ dataDir: join(root, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  web1Inbound = await closedPort();
  web1Outbound = await closedPort();
  const web2Inbound = await closedPort();
  outbound = await closedPort();
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-1, labels: { app: web } }\nspec: { address: 127.0.0.1, ports: { http: ${web1Inbound} }, serviceAccount: web }\n`,
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-2, labels: { app: web } }\nspec: { address: 127.0.0.1, ports: { http: ${web2Inbound} }, serviceAccount: web }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  const token = async (workload: string, out: string) => ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', out]);
  await token('web-1', join(vmDir, 'web-1.token'));
  await token('web-2', join(root, 'web-2.token'));
  await token('caller-1', join(root, 'caller-1.token'));
  // The README's command: a token file and the identity folder relative to the working directory.
  // The three proxies join at once; each takes its place in `proxies` (web-1 first) as it starts.
  const web2Outbound = await closedPort();
  await allStarted([
    startWeb1(vmDir, ['--token', 'web-1.token']).then((p) => (proxies[0] = p)),
    startProxy('', ['--control-plane', cp.xds, '--token', join(root, 'web-2.token'), '--identity-dir', join(root, 'web-2'), '--app', `http=${apps[1].port}`, '--outbound-port', String(web2Outbound), '--access-log', 'off'], { readyTimeoutMs: 30_000 }).then((p) => (proxies[1] = p)),
    startProxy('', ['--control-plane', cp.xds, '--token', join(root, 'caller-1.token'), '--identity-dir', join(root, 'caller-1'), '--outbound-port', String(outbound), '--access-log', 'off'], { readyTimeoutMs: 30_000 }).then((p) => (proxies[2] = caller = p)),
  ]);
  // Both endpoints reached before the restarts begin.
  const deadline = Date.now() + 20_000;
  while (!(apps[0].seen.length > 0 && apps[1].seen.length > 0)) {
    if (Date.now() > deadline) assert.fail(`the caller did not reach both Workloads in 20 s (web-1 ${apps[0].seen.length}, web-2 ${apps[1].seen.length})`);
    await call();
  }
});

after(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(apps.map((a) => a.close()));
  await cp?.stop();
});

test('the first start with relative paths keeps its identity where the operator said: ./sluice-identity of its working directory', () => {
  for (const f of ['cert.pem', 'key.pem', 'bundle.pem', 'workload']) assert.ok(existsSync(join(vmDir, 'sluice-identity', f)), f);
  assert.equal(readFileSync(join(vmDir, 'sluice-identity', 'workload'), 'utf8').trim(), 'web-1');
  jsonLinesOnly(proxies[0].stderr());
});

/** A log shipper reads stderr as JSON lines: nothing else may be there (Node's DEP0123 warning was, from dialing the control plane by IP). */
function jsonLinesOnly(stderr: string): void {
  for (const line of stderr.split('\n').filter((l) => l !== '')) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line on stderr: ${line}`);
}

test('web-1 restarted five times (SIGTERM, SIGKILL; from another directory with a relative --identity-dir): it rejoins each time with its kept identity, and the caller sees 0 failed requests', { timeout: 240_000 }, async () => {
  let ok = 0;
  const failed: number[] = [];
  let running = true;
  // Two steady callers, bounded by the test: they stop when the restarts are done.
  const load = async () => {
    for (let n = 0; running && n < 100_000; n++) {
      const status = await call();
      if (status === 200) ok++;
      else failed.push(status);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const loops = [load(), load()];
  const identity = relative(otherDir, join(vmDir, 'sluice-identity'));
  try {
    for (let i = 0; i < 5; i++) {
      const signal = i % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
      const web1 = proxies[0];
      await web1.stop(signal);
      // Starts 1-2 as before; 3-5 from elsewhere, naming the folder relative to there. No token either way.
      const restarted = i < 2 ? await startWeb1(vmDir, []) : await startWeb1(otherDir, ['--identity-dir', identity]);
      proxies[0] = restarted;
      assert.match(restarted.stderr(), /"msg":"using the SVID found in the identity folder"/, `start ${i + 2} used the kept identity`);
      assert.match(restarted.stderr(), /"node":"web-1\.default"/);
      jsonLinesOnly(restarted.stderr());
      // It serves again, over mTLS, as the caller's proxy would reach it (the caller itself may
      // keep web-1 ejected for a while: outlier detection saw its connections refused).
      const seen = apps[0].seen.length;
      const reply = await mtlsRequest(web1Inbound, { svid: callerSvid(), bundle: callerSvid().bundle, headers: { host: HOST } });
      assert.ok('status' in reply && reply.status === 200, `web-1 after restart ${i + 1} (${signal}): ${JSON.stringify(reply)}; its stderr:\n${restarted.stderr()}`);
      assert.equal(apps[0].seen.length, seen + 1);
      // Some traffic between the restarts.
      const target = ok + 50;
      for (const until = Date.now() + 20_000; ok < target; await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > until) assert.fail(`the caller's traffic stalled after restart ${i + 1}: ${ok} answered`);
      }
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
  assert.ok(ok > 100, `steady traffic flowed: ${ok} requests`);
  assert.deepEqual(failed, [], `${failed.length} of ${ok + failed.length} requests failed across the restarts`);
});

test('when the control plane will not have it back (its Workload deleted), the restarted proxy says so in one line with what to run, and exits 2', { timeout: 60_000 }, async () => {
  await ctl(['delete', 'workload', 'web-1']);
  await proxies[0].stop('SIGTERM');
  const web1 = await startProxy('', ['--control-plane', cp.xds, '--app', `http=${web1App}`, '--outbound-port', String(web1Outbound), '--access-log', 'off'], { cwd: vmDir, expectFailure: true });
  proxies[0] = web1;
  assert.equal(await web1.exited, 2, web1.stderr());
  const line = web1.stderr().split('\n').find((l) => l.includes('refused this proxy'));
  assert.ok(line !== undefined, web1.stderr());
  assert.match(line, /there is no Workload 'web-1' in namespace 'default'/);
  assert.match(line, /sluicectl token create --workload web-1/);
});

test("a first join to a wrong address (a typo'd host, the control plane's HTTP API port) says so in one line and exits 2, and the token is still good for the right one", { timeout: 90_000 }, async () => {
  await ctl(['apply', '-f', '-'], 'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: vm-typo, labels: { app: typo } }\nspec: { address: 127.0.0.1, serviceAccount: typo }\n');
  const dir = mkdtempSync(join(root, 'typo-'));
  await ctl(['token', 'create', '--workload', 'vm-typo', '--ttl', '10m', '--out', join(dir, 'vm-typo.token')]);
  const apiPort = new URL(cp.url).port;
  // Both wrong starts run at once (startProxy returns once each is spawned); each is then awaited.
  const wrong = [];
  for (const [address, said] of [
    ['no-such-host.invalid:15012', /no-such-host\.invalid:15012: the host name does not resolve; check --control-plane/],
    [`127.0.0.1:${apiPort}`, new RegExp(`127\\.0\\.0\\.1:${apiPort} does not answer TLS: is it the control plane's xDS port \\(15012\\), not its HTTP API port`)],
  ] as const) {
    const p = await startProxy('', ['--control-plane', address, '--token', 'vm-typo.token', '--outbound-port', String(await closedPort())], { cwd: dir, expectFailure: true });
    proxies.push(p);
    wrong.push({ p, said });
  }
  for (const { p, said } of wrong) {
    assert.equal(await p.exited, 2, p.stderr());
    const lines = p.stderr().split('\n').filter((l) => l.trim() !== '');
    assert.match(lines.at(-1)!, said);
  }
  const ok = await startProxy('', ['--control-plane', cp.xds, '--token', 'vm-typo.token', '--outbound-port', String(await closedPort()), '--access-log', 'off'], { cwd: dir, readyTimeoutMs: 30_000 });
  proxies.push(ok);
  assert.match(ok.stderr(), /"source":"join-token"/, 'the failed starts left the token usable');
});
