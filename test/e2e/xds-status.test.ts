// Status through real joined proxies over mTLS: sluice-cp, a Service `orders` whose app
// answers 200, its proxy and a caller's proxy that joined with tokens. An HTTPRoute splits
// the calls 50/50 between `orders` and a typo'd `ordres`: the typo's share is answered 500
// by the caller's proxy (Gateway API), flagged NC, and the route's status says
// ResolvedRefs=False BackendNotFound naming it. A policy whose target does not exist is
// Accepted=False TargetNotFound. A Workload's status says its proxy is connected and in
// sync while it runs, and OFFLINE once it stopped.

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
import { waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'orders.default.svc.cluster.local';
const CALLS = 40;
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-status-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess | undefined;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
type Condition = { type: string; status: string; reason: string; message: string; observedGeneration: number; lastTransitionTime: string };
type Got = { metadata: { generation: number }; status?: { conditions: Condition[]; proxies?: { id: string; state: string }[] } };
const getJson = async (kind: string, name: string) => JSON.parse(await ctl(['get', kind, name, '-o', 'json'])) as Got;
const condition = (r: Got, type: string) => r.status?.conditions.find((c) => c.type === type);

/** Polls the resource until `ok` holds, bounded: status follows the store and the proxies within moments. */
async function until(kind: string, name: string, ok: (r: Got) => boolean, what: string): Promise<Got> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await getJson(kind, name);
    if (ok(r)) return r;
    if (Date.now() > deadline) assert.fail(`${kind} ${name}: ${what} not seen in 20 s; status: ${JSON.stringify(r.status)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function call(id: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/', headers: { host: HOST, 'x-request-id': id }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  app = await startUpstream('orders', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const workloadPort = await closedPort();
  outbound = await closedPort();
  // Everything before any proxy joins: the caller's first config already has the split.
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: orders }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: orders-1, labels: { app: orders } }\nspec: { address: 127.0.0.1, ports: { http: ${workloadPort} }, serviceAccount: orders }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: orders }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: orders, port: 80 }]\n  rules: [{ backendRefs: [{ name: orders, port: 80, weight: 50 }, { name: ordres, port: 80, weight: 50 }] }]\n',
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: RetryPolicy\nmetadata: { name: lost }\nspec: { targetRefs: [{ kind: Service, name: payments }], attempts: 1 }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('orders-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off']);
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await app?.close();
  await cp?.stop();
});

test("a 50/50 split with a typo'd Service: the typo's share is answered 500 (NC, cluster_not_found), the rest reaches the app", async () => {
  const results = [];
  for (let i = 0; i < CALLS; i++) results.push(await call(`split-${i}`));
  const byStatus = Object.groupBy(results, (r) => String(r.status));
  assert.deepEqual(Object.keys(byStatus).sort(), ['200', '500'], `only 200 and 500, both: ${JSON.stringify(results.map((r) => r.status))}`);
  assert.ok(byStatus['200']!.every((r) => r.body === 'ok'));
  const failed = results.findIndex((r) => r.status === 500);
  const line = await waitFor(() => caller.accessLog().find((l) => l.request_id === `split-${failed}`), 5000, 'the access log line of a 500');
  assert.equal(line.flags, 'NC');
  assert.equal(line.details, 'cluster_not_found');
});

test("the route's status says ResolvedRefs=False BackendNotFound, naming the missing Service", async () => {
  const route = await until('httproute', 'orders', (r) => condition(r, 'ResolvedRefs') !== undefined, 'ResolvedRefs');
  const resolved = condition(route, 'ResolvedRefs')!;
  assert.deepEqual([resolved.status, resolved.reason, resolved.observedGeneration], ['False', 'BackendNotFound', route.metadata.generation]);
  assert.match(resolved.message, /Service default\/ordres does not exist/);
  assert.equal(condition(route, 'Accepted')?.status, 'True');
  assert.match(await ctl(['get', 'httproutes']), /BackendNotFound/);
});

test('a policy whose target does not exist is Accepted=False TargetNotFound', async () => {
  const policy = await until('retrypolicy', 'lost', (r) => condition(r, 'Accepted') !== undefined, 'Accepted');
  const accepted = condition(policy, 'Accepted')!;
  assert.deepEqual([accepted.status, accepted.reason], ['False', 'TargetNotFound']);
  assert.match(accepted.message, /Service default\/payments does not exist/);
});

test("a Workload's status says its proxy is connected and in sync while it runs, and OFFLINE after it stopped", async () => {
  const running = await until('workload', 'orders-1', (r) => condition(r, 'InSync')?.status === 'True', 'InSync=True');
  assert.deepEqual([condition(running, 'Connected')?.status, condition(running, 'InSync')?.reason], ['True', 'Synced']);
  assert.deepEqual(running.status?.proxies?.map((p) => [p.id, p.state]), [['orders-1.default', 'SYNCED']]);
  assert.match(await ctl(['describe', 'workload', 'orders-1']), /Proxies:\n\s+ID\s+STATE\s+SINCE\n\s+orders-1\.default\s+SYNCED/);
  await server!.stop();
  server = undefined;
  const stopped = await until('workload', 'orders-1', (r) => condition(r, 'Connected')?.status === 'False', 'Connected=False');
  assert.deepEqual([condition(stopped, 'Connected')?.reason, condition(stopped, 'InSync')?.status, condition(stopped, 'InSync')?.reason], ['Offline', 'False', 'Offline']);
  assert.deepEqual(stopped.status?.proxies?.map((p) => p.state), ['OFFLINE']);
  assert.match(await ctl(['get', 'workloads']), /orders-1 .*Offline/);
});
