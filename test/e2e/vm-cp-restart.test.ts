// A VM agent and a control plane that restarts (issue 16): the proxy running through a
// sluice-cp restart keeps serving and takes a change made after it; a proxy stopped while
// sluice-cp restarted on the same data dir starts again from its identity folder, no
// token, and serves; and when the control plane comes back with a new CA (its CA folder
// lost), the kept identity is refused, the one-line exit 2 says so without a token, and an
// explicit new token replaces the identity. Real sluice-cp, sluice-proxy and sluicectl.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'web.default.svc.cluster.local';
const root = mkdtempSync(join(tmpdir(), 'sluice-vm-cp-restart-'));
const dataDir = join(root, 'cp');
let cpArgs: string[];
let cp: ControlPlaneProcess;
let app: Upstream;
let web: ProxyProcess;
let caller: ProxyProcess;
const ports: Record<string, number> = {};
const stopped: ProxyProcess[] = [];
/** The token web-1 last joined with. */
let webToken = '';

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

const mint = async (workload: string) => {
  const file = join(root, `${workload}-${Date.now()}.token`);
  await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', file]);
  return file;
};

/** web-1's proxy; `token` null: from its identity folder alone. */
const startWeb = (token: string | null, opts: { expectFailure?: boolean } = {}) =>
  startProxy('', ['--control-plane', cp.xds, ...(token === null ? [] : ['--token', token]), '--identity-dir', join(root, 'web-1'), '--app', `http=${app.port}`, '--outbound-port', String(ports.webOutbound), '--access-log', 'off', '--drain-timeout', '1s'], { readyTimeoutMs: 30_000, ...opts });

const startCaller = (token: string | null) =>
  startProxy('', ['--control-plane', cp.xds, ...(token === null ? [] : ['--token', token]), '--identity-dir', join(root, 'caller-1'), '--outbound-port', String(ports.outbound), '--access-log', 'off', '--drain-timeout', '1s'], { readyTimeoutMs: 30_000 });

/** A call from the caller's app through its proxy to web: the status, and the headers web's app saw. */
function call(): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: ports.outbound, path: '/', headers: { host: HOST }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.statusCode === 200 ? (JSON.parse(body) as { headers: Record<string, string> }).headers : {} }));
      res.on('error', () => resolve({ status: 0, headers: {} }));
    });
    req.on('error', () => resolve({ status: 0, headers: {} }));
    req.end();
  });
}

/** Calls until one answers 200 and `ok` accepts it; bounded. */
async function servedWithin(what: string, ok: (headers: Record<string, string>) => boolean = () => true, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, headers: {} as Record<string, string> };
  while (Date.now() < deadline) {
    last = await call();
    if (last.status === 200 && ok(last.headers)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: no such answer within ${timeoutMs} ms (last ${last.status}); web's stderr:\n${web.stderr()}\ncaller's stderr:\n${caller.stderr()}`);
}

const restartControlPlane = async () => {
  assert.equal(await cp.stop(), 0, cp.stderr());
  cp = await startControlPlane({ dataDir, args: cpArgs });
};

before(async () => {
  for (const p of ['xds', 'webInbound', 'webOutbound', 'outbound']) ports[p] = await closedPort();
  // The same TLS port across restarts, as a VM's --control-plane names it.
  cpArgs = ['--xds-addr', `127.0.0.1:${ports.xds}`, '--trust-domain', 'e2e.sluice.dev'];
  cp = await startControlPlane({ dataDir, args: cpArgs });
  app = await startUpstream('web-1');
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-1, labels: { app: web } }\nspec: { address: 127.0.0.1, ports: { http: ${ports.webInbound} }, serviceAccount: web }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  web = await startWeb(await mint('web-1'));
  caller = await startCaller(await mint('caller-1'));
  await servedWithin('the caller reaches web-1');
});

after(async () => {
  await Promise.all([web, caller, ...stopped].filter((p) => p !== undefined).map((p) => p.stop()));
  await app?.close();
  await cp?.stop();
});

test('a proxy running while sluice-cp restarts keeps serving, reconnects, and takes a change made after the restart', { timeout: 120_000 }, async () => {
  let ok = 0;
  const failed: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running && ok + failed.length < 20_000) {
      const r = await call();
      if (r.status === 200) ok++;
      else failed.push(r.status);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    await restartControlPlane();
    // Resynced: a route applied to the restarted control plane reaches the caller's proxy.
    await ctl(['apply', '-f', '-'], 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]\n  rules: [{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-after-restart, value: "yes" }] } }], backendRefs: [{ name: web, port: 80 }] }]\n');
    await servedWithin('the route applied after the restart', (h) => h['x-after-restart'] === 'yes');
  } finally {
    running = false;
    await loop;
  }
  assert.deepEqual(failed, [], `${failed.length} of ${ok + failed.length} requests failed across the restart`);
  assert.ok(ok > 20, `traffic flowed: ${ok} requests`);
  for (const p of [web, caller]) {
    assert.match(p.stderr(), /"msg":"xDS stream lost; the running config stays"/);
    await p.waitForLog(/"msg":"xDS stream restored"/, 60_000);
  }
});

test('a proxy stopped while sluice-cp restarted on the same data dir starts again from its identity folder, no token, and serves', { timeout: 120_000 }, async () => {
  await web.stop('SIGTERM');
  stopped.push(web);
  await restartControlPlane();
  web = await startWeb(null);
  assert.match(web.stderr(), /"msg":"using the SVID found in the identity folder"/);
  assert.match(web.stderr(), /"node":"web-1\.default"/);
  await servedWithin('web-1 after its restart and the control plane\'s', (h) => h['x-after-restart'] === 'yes');
});

test('a control plane back with a new CA refuses the kept identity: without a token one line and exit 2; with a new token the proxy joins afresh and serves', { timeout: 180_000 }, async () => {
  const oldBundle = readFileSync(join(root, 'web-1', 'bundle.pem'), 'utf8');
  await Promise.all([web.stop('SIGTERM'), caller.stop('SIGTERM')]);
  stopped.push(web, caller);
  // The operator lost the control plane's CA folder: it makes a new CA at start; the store stays.
  assert.equal(await cp.stop(), 0);
  rmSync(join(dataDir, 'ca'), { recursive: true });
  cp = await startControlPlane({ dataDir, args: cpArgs });

  const refused = await startWeb(null, { expectFailure: true });
  stopped.push(refused);
  assert.equal(await refused.exited, 2, refused.stderr());
  const line = refused.stderr().split('\n').find((l) => /"level":"error"/.test(l));
  assert.match(line ?? refused.stderr(), /not of one CA; join it with a token it minted/);

  webToken = await mint('web-1');
  web = await startWeb(webToken);
  assert.match(web.stderr(), /"msg":"the control plane refused the identity folder's SVID: joining afresh with the token/);
  assert.match(web.stderr(), /"msg":"joined afresh with the token: the identity folder now holds the new identity"/);
  assert.notEqual(readFileSync(join(root, 'web-1', 'bundle.pem'), 'utf8'), oldBundle);
  caller = await startCaller(await mint('caller-1'));
  await servedWithin('web-1 and the caller after joining the new CA afresh');
});

test('started again as the systemd unit does, with the token it already used: the kept identity is renewed, the token is not needed, and it serves', { timeout: 120_000 }, async () => {
  await web.stop('SIGTERM');
  stopped.push(web);
  const key = readFileSync(join(root, 'web-1', 'key.pem'), 'utf8');
  web = await startWeb(webToken);
  assert.match(web.stderr(), /"msg":"using the SVID found in the identity folder"[^\n]*"join_token":"not needed: /);
  assert.doesNotMatch(web.stderr(), /joining afresh|refused to certify/);
  assert.notEqual(readFileSync(join(root, 'web-1', 'key.pem'), 'utf8'), key, 'renewed with a new key');
  await servedWithin('web-1 started with its used token');
});
