// FaultInjectionPolicy through real joined proxies over mTLS: sluice-cp, a Service whose app
// echoes, its proxy and a caller's proxy that joined with tokens. The route and policies are
// applied with sluicectl; the caller's proxy injects what the static file's tests show a
// proxy injects with the same policies (test/proxy/resilience/fault.test.ts): aborts and
// delays on the rules the policies name, FI / DI in the access log, nothing else touched.

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
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

const HOST = 'shop.default.svc.cluster.local';
const STOCK = 'stock.default.svc.cluster.local:9090';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-fault-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

type Reply = { status: number; headers: http.IncomingHttpHeaders; body: string };

/** A call from the caller's app to its proxy's outbound port; at most 15 s, so a hang fails the test instead of stalling it. */
function call(path: string, id?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { host: HOST, ...(id === undefined ? {} : { 'x-request-id': id }) };
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What reached the app under a path prefix. */
const reached = (prefix: string) => app.seen.filter((s) => s.url.startsWith(prefix)).length;
const logLine = (id: string) => waitFor(() => caller.accessLog().find((l) => l.request_id === id), 5000, `the access log line of ${id}`);

const yaml = (doc: object) => JSON.stringify(doc);
const ROUTE = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'shop' };
const fault = (name: string, targetRef: object, spec: object) => yaml({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'FaultInjectionPolicy', metadata: { name }, spec: { targetRefs: [targetRef], ...spec } });
const rule = (name: string, prefix: string) => ({ name, matches: [{ path: { type: 'PathPrefix', value: prefix } }], backendRefs: [{ name: 'shop', port: 80 }] });

before(async () => {
  app = await startUpstream('shop');
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const workloadPort = await closedPort();
  outbound = await closedPort();
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: shop }\nspec: { selector: { app: shop }, ports: [{ name: http, port: 80 }] }\n',
    // A gRPC Service whose Workload runs nothing: an abort answers before anything is sent to it.
    'apiVersion: v1\nkind: Service\nmetadata: { name: stock }\nspec: { selector: { app: stock }, ports: [{ name: grpc, port: 9090, appProtocol: grpc }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: stock-1, labels: { app: stock } }\nspec: { address: 127.0.0.1, ports: { grpc: ${await closedPort()} }, serviceAccount: stock }\n`,
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: shop-1, labels: { app: shop } }\nspec: { address: 127.0.0.1, ports: { http: ${workloadPort} }, serviceAccount: shop }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('shop-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off']);
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
  // One apply, so one view and one push carry the routes and every policy together.
  await ctl(['apply', '-f', '-'], [
    yaml({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'shop' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'shop', port: 80 }], rules: [rule('teapot', '/teapot'), rule('flaky', '/flaky'), rule('slow', '/slow'), { name: 'plain', backendRefs: [{ name: 'shop', port: 80 }] }] },
    }),
    yaml({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'stock' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'stock', port: 9090 }], rules: [{ name: 'lookup', backendRefs: [{ name: 'stock', port: 9090 }] }] },
    }),
    fault('teapot', { ...ROUTE, sectionName: 'teapot' }, { abort: { httpStatus: 418, percent: 100 } }),
    fault('flaky', { ...ROUTE, sectionName: 'flaky' }, { abort: { httpStatus: 503, percent: 50 } }),
    fault('slow', { ...ROUTE, sectionName: 'slow' }, { delay: { fixedDelay: '300ms', percent: 100 } }),
    fault('stock', { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'stock', sectionName: 'lookup' }, { abort: { grpcStatus: 14 } }),
  ].join('\n---\n'));
  // Bounded wait for the push: until the policy is there, /teapot reaches the app.
  const deadline = Date.now() + 20_000;
  while ((await call('/teapot/warm').catch(() => ({ status: 0 }))).status !== 418) {
    if (Date.now() > deadline) assert.fail("the FaultInjectionPolicy did not reach the caller's proxy in 20 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  app.seen.length = 0;
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await app?.close();
  await cp?.stop();
});

test('aborts every request of the targeted rule with its status, FI in the access log, and sends nothing upstream', async () => {
  for (let i = 0; i < 10; i++) {
    const id = `teapot-${i}`;
    const r = await call(`/teapot/${i}`, id);
    assert.equal(r.status, 418);
    assert.equal(r.headers['x-sluice-details'], 'fault_filter_abort');
    const line = await logLine(id);
    assert.equal(line.status, 418);
    assert.equal(line.flags, 'FI');
    assert.equal(line.details, 'fault_filter_abort');
  }
  assert.equal(reached('/teapot'), 0);
});

test('leaves a rule of the same route without a policy untouched', async () => {
  const r = await call('/other', 'plain-1');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'shop');
  assert.equal(r.headers['x-sluice-details'], undefined);
  // No fault flag (under load, a pooled connection the server's proxy closed may add UC: retried, and not a fault).
  assert.doesNotMatch(String((await logLine('plain-1')).flags), /FI|DI/);
  assert.equal(reached('/other'), 1);
});

test('aborts about the configured share of requests', async () => {
  const TOTAL = 400;
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < TOTAL) {
        const r = await call(`/flaky/${next++}`);
        if (r.status === 503) assert.equal(r.headers['x-sluice-details'], 'fault_filter_abort');
        statuses.push(r.status);
      }
    }),
  );
  const aborted = statuses.filter((s) => s === 503).length;
  assert.equal(statuses.length, TOTAL);
  assert.equal(aborted + statuses.filter((s) => s === 200).length, TOTAL, 'only 503 (injected) and 200 (upstream)');
  // Binomial(400, 0.5): the standard deviation is 10, so 35-65% is 15 of them either side.
  assert.ok(aborted >= TOTAL * 0.35 && aborted <= TOTAL * 0.65, `${aborted} of ${TOTAL} aborted`);
  assert.equal(reached('/flaky'), TOTAL - aborted, 'what was not aborted went upstream, once each');
});

test('delays the request by at least the fixed delay, DI in the access log, then forwards it', async () => {
  const started = performance.now();
  const r = await call('/slow', 'slow-1');
  const took = performance.now() - started;
  assert.equal(r.status, 200);
  assert.equal((JSON.parse(r.body) as { name: string }).name, 'shop');
  // A lower bound only. libuv keeps time in whole milliseconds, so a timer may fire up to
  // a millisecond before 300 ms by a finer clock; never more.
  assert.ok(took >= 299, `took ${took.toFixed(1)} ms`);
  const line = await logLine('slow-1');
  assert.equal(line.status, 200);
  assert.ok(String(line.flags).split(',').includes('DI'), `flags ${line.flags}`);
  assert.equal(reached('/slow'), 1);
});

test("a policy on a GRPCRoute's rule answers a gRPC call with its grpc-status in a 200", async () => {
  const client = http2.connect(`http://127.0.0.1:${outbound}`);
  try {
    const stream = client.request({ ':method': 'POST', ':authority': STOCK, ':path': '/stock.Stock/Lookup', 'content-type': 'application/grpc', te: 'trailers', 'x-request-id': 'grpc-1' });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
    stream.resume();
    await new Promise((resolve) => stream.once('close', resolve));
    assert.equal(headers[':status'], 200);
    assert.equal(headers['grpc-status'], '14');
    assert.equal(headers['content-type'], 'application/grpc');
  } finally {
    client.close();
  }
  const line = await logLine('grpc-1');
  assert.equal(line.flags, 'FI');
  assert.equal(line.details, 'fault_filter_abort');
});
