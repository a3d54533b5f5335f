// RetryPolicy through real joined proxies over mTLS: sluice-cp, a Service whose app answers
// 503 a set number of times (or never answers), its proxy and a caller's proxy that joined
// with tokens. Policies and the route are applied with sluicectl; the caller's proxy does
// what the static file's tests show a proxy does with the same policy (test/proxy/resilience/).

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

const HOST = 'flaky.default.svc.cluster.local';
const CLUSTER = `outbound|80||${HOST}`;
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-retry-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let outbound: number;
/** Requests the app has seen, by the key in their path. */
const tries = new Map<string, number>();

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from the caller's app to its proxy's outbound port; at most 15 s, so a missing timeout fails the test instead of hanging it. */
function call(path: string, id: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: HOST, 'x-request-id': id }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The attempt counts the app saw for `key`, in order. */
const attemptsSeen = (key: string) => app.seen.filter((s) => s.url.endsWith(`/${key}`) || s.url.includes(`/${key}/`)).map((s) => s.headers['x-sluice-attempt-count']);
const logLine = (id: string) => waitFor(() => caller.accessLog().find((l) => l.request_id === id), 5000, `the access log line of ${id}`);
async function retriesCounted(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${caller.statsPort}/stats/prometheus`)).text();
  const m = new RegExp(`^sluice_upstream_retries_total\\{backend="${CLUSTER.replace(/[|.]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(text);
  return Number(m?.[1] ?? 0);
}

const yaml = (doc: object) => JSON.stringify(doc);
const policy = (name: string, targetRef: object, spec: object) => yaml({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: { name }, spec: { targetRefs: [targetRef], ...spec } });
const rule = (name: string, prefix: string | undefined, extra: object = {}) => ({
  name,
  ...(prefix === undefined ? {} : { matches: [{ path: { type: 'PathPrefix', value: prefix } }] }),
  backendRefs: [{ name: 'flaky', port: 80 }],
  ...extra,
});
const ROUTE = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'flaky' };

before(async () => {
  // /fail/<key>/<n>: 503 for the first n requests of that key, then 200. /hang/<key>: never answers.
  app = await startUpstream('flaky', (req, res) => {
    const url = req.url ?? '';
    if (url.includes('/hang/')) return;
    const m = /\/fail\/([^/]+)\/(\d+)$/.exec(url);
    const key = m?.[1] ?? url;
    const n = (tries.get(key) ?? 0) + 1;
    tries.set(key, n);
    if (m !== null && n <= Number(m[2])) res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const workloadPort = await closedPort();
  outbound = await closedPort();
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: flaky }\nspec: { selector: { app: flaky }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: flaky-1, labels: { app: flaky } }\nspec: { address: 127.0.0.1, ports: { http: ${workloadPort} }, serviceAccount: flaky }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('flaky-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off']);
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
  // One apply, so one view and one push carry the route and every policy together.
  await ctl(['apply', '-f', '-'], [
    yaml({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'flaky' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'flaky', port: 80 }],
        rules: [rule('once', '/once'), rule('hang-rule', '/hang-rule', { timeouts: { backendRequest: '300ms' } }), rule('hang-policy', '/hang-policy'), rule('rest', undefined)],
      },
    }),
    policy('flaky', { kind: 'Service', name: 'flaky' }, { attempts: 2, retryOn: ['retriable-status-codes'], retriableStatusCodes: [503], backoff: { baseInterval: '1ms', maxInterval: '5ms' } }),
    policy('flaky-once', { ...ROUTE, sectionName: 'once' }, { attempts: 0 }),
    policy('flaky-hang-rule', { ...ROUTE, sectionName: 'hang-rule' }, { attempts: 1, retryOn: ['reset'] }),
    policy('flaky-hang-policy', { ...ROUTE, sectionName: 'hang-policy' }, { attempts: 1, retryOn: ['reset'], timeouts: { perTry: '300ms' } }),
  ].join('\n---\n'));
  // Bounded wait for the push: a 503 answered once is retried only once the policy is there.
  const deadline = Date.now() + 20_000;
  for (let warm = 0; (await call(`/fail/warm-${warm}/1`, `warm-${warm}`).catch(() => ({ status: 0 }))).status !== 200; warm++) {
    if (Date.now() > deadline) assert.fail("the RetryPolicy did not reach the caller's proxy in 20 s");
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await app?.close();
  await cp?.stop();
});

test("a RetryPolicy on the Service retries 503 until the call succeeds; the app sees tries 1, 2, 3 and the caller's proxy counts 2 retries", async () => {
  const before = await retriesCounted();
  const r = await call('/fail/a/2', 'retry-a');
  assert.deepEqual(r, { status: 200, body: 'ok' });
  assert.deepEqual(attemptsSeen('a'), ['1', '2', '3'], 'through the Service\'s proxy, the count goes on from the caller\'s');
  assert.equal(await retriesCounted(), before + 2);
  assert.equal((await logLine('retry-a')).flags, '-');
});

test('when the tries run out, the last 503 is passed on, flagged URX', async () => {
  const r = await call('/fail/b/10', 'retry-b');
  assert.deepEqual(r, { status: 503, body: 'busy' }, "the app's own answer, not a local reply");
  assert.deepEqual(attemptsSeen('b'), ['1', '2', '3']);
  assert.equal((await logLine('retry-b')).flags, 'URX');
});

test("a policy on one rule of the route overrides the Service's: attempts 0, one try", async () => {
  const r = await call('/once/fail/c/1', 'retry-c');
  assert.equal(r.status, 503);
  assert.deepEqual(attemptsSeen('c'), ['1']);
  assert.equal((await logLine('retry-c')).flags, '-');
});

test("the rule's timeouts.backendRequest is the per-try timeout: each hung try ends UT, is retried on reset, and the call is 504 UT,URX", async () => {
  const r = await call('/hang-rule/hang/d', 'retry-d');
  assert.equal(r.status, 504);
  assert.deepEqual(attemptsSeen('d'), ['1', '2']);
  assert.equal((await logLine('retry-d')).flags, 'UT,URX');
});

test("a RetryPolicy's timeouts.perTry does the same", async () => {
  const r = await call('/hang-policy/hang/e', 'retry-e');
  assert.equal(r.status, 504);
  assert.deepEqual(attemptsSeen('e'), ['1', '2']);
  assert.equal((await logLine('retry-e')).flags, 'UT,URX');
});
