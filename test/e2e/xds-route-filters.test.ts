// Route filters through real joined proxies over mTLS: sluice-cp, one Workload serving
// three Services (an echo app, a shadow app for mirrors, a gRPC app), its proxy, and a
// caller's proxy that joined with a token. The routes are applied with sluicectl; the
// caller's proxy does what the static file's tests show a proxy does with the same filters
// (test/proxy/route-filters.test.ts), and each effect is seen at the app.

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
import { startH2Upstream, startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'echo.default.svc.cluster.local';
const STOCK = 'stock.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-filters-'));
let cp: ControlPlaneProcess;
let echo: Upstream;
let shadow: Upstream;
let grpc: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

type Answer = { status: number; headers: http.IncomingHttpHeaders; json: any };

/** A call from the caller's app to its proxy's outbound port; at most 15 s. */
function call(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: HOST, ...headers }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: body.startsWith('{') ? JSON.parse(body) : null }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A gRPC call (h2c with prior knowledge, as a gRPC client speaks) to the caller's outbound port: its status and grpc-status. */
function grpcCall(path: string): Promise<{ status: number; grpcStatus: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${outbound}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, ':authority': STOCK, 'content-type': 'application/grpc', te: 'trailers' }, { signal: AbortSignal.timeout(15_000) });
    let status = 0;
    let grpcStatus: string | undefined;
    req.on('response', (h) => {
      status = Number(h[':status']);
      grpcStatus ??= h['grpc-status'] as string | undefined;
    });
    req.on('trailers', (t) => (grpcStatus = t['grpc-status'] as string | undefined));
    req.on('error', reject);
    req.resume();
    req.on('end', () => {
      session.close();
      resolve({ status, grpcStatus });
    });
    // An empty gRPC message: flag 0, length 0.
    req.end(Buffer.alloc(5));
  });
}

const yaml = (doc: object) => JSON.stringify(doc);
const prefix = (value: string) => [{ path: { type: 'PathPrefix', value } }];
const ECHO = { name: 'echo', port: 80 };

before(async () => {
  [echo, shadow] = await Promise.all([startUpstream('echo'), startUpstream('shadow')]);
  grpc = await startH2Upstream('stock', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5));
  });
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const [httpPort, shadowPort, grpcPort] = [await closedPort(), await closedPort(), await closedPort()];
  outbound = await closedPort();
  const service = (name: string, port: object) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: ${JSON.stringify({ selector: { app: 'app' }, ports: [port] })}\n`;
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    service('echo', { name: 'http', port: 80 }),
    service('shadow', { name: 'shadow', port: 80 }),
    service('stock', { name: 'grpc', port: 9090, appProtocol: 'grpc' }),
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: app-1, labels: { app: app } }\nspec: { address: 127.0.0.1, ports: { http: ${httpPort}, shadow: ${shadowPort}, grpc: ${grpcPort} }, serviceAccount: app }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('app-1', ['--app', `http=${echo.port}`, '--app', `shadow=${shadow.port}`, '--app', `grpc=${grpc.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off']);
  caller = await join_('caller-1', ['--outbound-port', String(outbound), '--access-log', 'off']);
  await ctl(['apply', '-f', '-'], [
    yaml({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'echo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }],
        rules: [
          {
            name: 'headers',
            matches: prefix('/headers'),
            filters: [
              { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 's' }], add: [{ name: 'x-add', value: 'two' }], remove: ['x-drop'] } },
              { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'r' }], remove: ['x-upstream'] } },
            ],
            backendRefs: [ECHO],
          },
          { name: 'old', matches: prefix('/old'), filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'new.internal', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }], backendRefs: [ECHO] },
          { name: 'full', matches: prefix('/full'), filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/replaced' } } }], backendRefs: [ECHO] },
          { name: 'moved', matches: prefix('/moved'), filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'elsewhere.example.com', statusCode: 301 } }] },
          { name: 'mirrored', matches: prefix('/mirrored'), filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 } } }], backendRefs: [ECHO] },
          {
            name: 'backend',
            matches: prefix('/backend'),
            backendRefs: [{ ...ECHO, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'v1' }], remove: ['x-drop'] } }, { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'v1' }] } }] }],
          },
          { name: 'rest', backendRefs: [ECHO] },
        ],
      },
    }),
    yaml({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GRPCRoute',
      metadata: { name: 'stock' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'stock', port: 9090 }],
        rules: [{ name: 'lookup', matches: [{ method: { service: 'stock.Stock', method: 'Lookup' } }], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-caller', value: 'web' }] } }], backendRefs: [{ name: 'stock', port: 9090 }] }],
      },
    }),
  ].join('\n---\n'));
  // Bounded wait for the push: before it, /moved is forwarded to the app like any path.
  const deadline = Date.now() + 20_000;
  while ((await call('/moved/warm').catch(() => ({ status: 0 }))).status !== 301) {
    if (Date.now() > deadline) assert.fail("the routes' filters did not reach the caller's proxy in 20 s");
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await Promise.all([echo?.close(), shadow?.close(), grpc?.close()]);
  await cp?.stop();
});

test('sets, adds and removes request and response headers', async () => {
  const r = await call('/headers', { 'x-add': 'one', 'x-drop': 'gone', 'x-set': 'old' });
  assert.equal(r.json.headers['x-set'], 's');
  assert.equal(r.json.headers['x-add'], 'one, two');
  assert.equal(r.json.headers['x-drop'], undefined);
  assert.equal(r.headers['x-resp'], 'r');
  assert.equal(r.headers['x-upstream'], undefined);
});

test('rewrites the host and the matched prefix, keeping the query', async () => {
  const r = await call('/old/page?q=1');
  assert.equal(r.json.url, '/new/page?q=1');
  assert.equal(r.json.headers.host, 'new.internal');
  assert.equal((await call('/old')).json.url, '/new', 'the prefix itself becomes the replacement');
});

test('rewrites the full path', async () => {
  const r = await call('/full/a/b?q=2');
  assert.equal(r.json.url, '/replaced?q=2');
  assert.equal(r.json.headers.host, HOST);
});

test('redirects without contacting a backend', async () => {
  const r = await call('/moved/here?x=1');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://elsewhere.example.com/moved/here?x=1');
  assert.equal(echo.seen.filter((s) => s.url.startsWith('/moved/here')).length, 0, 'never forwarded');
});

test('mirrors a request to the shadow Service and answers from the real one', async () => {
  const r = await call('/mirrored/1');
  assert.equal(r.json.name, 'echo');
  const copy = await waitFor(() => shadow.seen.find((s) => s.url === '/mirrored/1'), 5000, 'the mirrored copy at the shadow app');
  assert.match(String(copy.headers.host), /-shadow$/);
  assert.equal(echo.seen.filter((s) => s.url === '/mirrored/1').length, 1);
});

test("a backendRef's own header filters change the requests sent to it and its responses", async () => {
  const r = await call('/backend', { 'x-drop': 'gone' });
  assert.equal(r.json.headers['x-backend'], 'v1');
  assert.equal(r.json.headers['x-drop'], undefined);
  assert.equal(r.headers['x-served-by'], 'v1');
  assert.equal((await call('/other')).json.headers['x-backend'], undefined, 'only on that rule');
});

test("a GRPCRoute's header filter reaches the gRPC app", async () => {
  const r = await grpcCall('/stock.Stock/Lookup');
  assert.deepEqual(r, { status: 200, grpcStatus: '0' });
  const seen = grpc.seen.filter((s) => s.url === '/stock.Stock/Lookup');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers['x-caller'], 'web');
});
