// Tracing through real joined proxies over mTLS: app -> caller's proxy -> shop's proxy ->
// app, with the Mesh's spec.tracing carried as Envoy's HttpConnectionManager `tracing` and
// spans exported to real OTLP receivers that decode the standard protobufs
// (test/helpers/otlp-receiver.ts). One trace id across every span, each span's parent the
// hop before it, over OTLP/HTTP and OTLP/gRPC, from a W3C or a B3 caller; switched from one
// exporter to the other and off again on the running proxies.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'shop.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-tracing-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let outbound: number;
let httpReceiver: OtlpReceiver;
let grpcReceiver: OtlpReceiver;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

const mesh = (tracing?: object) => JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'e2e.sluice.dev', mtls: { mode: 'STRICT' }, ...(tracing === undefined ? {} : { tracing }) } });

/** A call from the caller's app to its proxy's outbound port; at most 15 s. */
function call(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: HOST, ...headers }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls an async check until it holds; bounded, so a config that never arrives fails the test. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not seen in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const seenBy = (path: string) => waitFor(() => app.seen.find((s) => s.url === path), 5000, `the app's copy of ${path}`);

/** The two spans of one trace (client from the caller's proxy, server from shop's), once both arrived. */
async function twoSpans(receiver: OtlpReceiver, traceId: string): Promise<{ client: ReceivedSpan; server: ReceivedSpan }> {
  await receiver.waitFor((spans) => spans.filter((s) => s.traceId === traceId).length >= 2);
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  assert.equal(spans.length, 2, `exactly two spans of trace ${traceId}: ${JSON.stringify(spans)}`);
  const client = spans.find((s) => s.kind === 'SPAN_KIND_CLIENT');
  const server = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
  assert.ok(client !== undefined && server !== undefined, `one client and one server span: ${spans.map((s) => s.kind)}`);
  return { client, server };
}

before(async () => {
  app = await startUpstream('shop');
  [httpReceiver, grpcReceiver] = await Promise.all([startOtlpReceiver('http/protobuf'), startOtlpReceiver('grpc')]);
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  const workloadPort = await closedPort();
  outbound = await closedPort();
  await ctl(['apply', '-f', '-'], [
    mesh({ samplingPercent: 100, otlp: { protocol: 'http/protobuf', endpoint: httpReceiver.endpoint, headers: { 'x-tenant': 'e2e' } } }),
    'apiVersion: v1\nkind: Service\nmetadata: { name: shop }\nspec: { selector: { app: shop }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: shop-1, labels: { app: shop } }\nspec: { address: 127.0.0.1, ports: { http: ${workloadPort} }, serviceAccount: shop }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('\n---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('shop-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort())]);
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
  // Until the route is there, the outbound port answers 404 NR.
  await until(async () => (await call('/ready-check', {}).catch(() => 0)) === 200, 20_000, 'a route to shop');
});

after(async () => {
  await Promise.all([caller?.stop(), server?.stop()]);
  await app?.close();
  await cp?.stop();
  await Promise.all([httpReceiver?.close(), grpcReceiver?.close()]);
});

/** Sends a request with `headers`, then checks the chain: caller span -> client span -> server span -> what the app saw. */
async function traced(receiver: OtlpReceiver, path: string, headers: Record<string, string>, traceId: string, callerSpan: string) {
  assert.equal(await call(path, headers), 200);
  const seen = await seenBy(path);
  const { client, server: srv } = await twoSpans(receiver, traceId);
  assert.equal(client.parentSpanId, callerSpan, "the outbound proxy's client span is a child of the calling app's span");
  assert.equal(srv.parentSpanId, client.spanId, "the inbound proxy's server span is a child of the client span");
  assert.equal(seen.headers.traceparent, `00-${traceId}-${srv.spanId}-01`, "the app sees the inbound proxy's span as its parent");
  // Each proxy's access-log line names the trace and its own span, and the span its flags.
  const line = (p: ProxyProcess) => waitFor(() => p.accessLog().find((l) => l.path === path), 5000, `the access log line of ${path}`);
  const lines = new Map([[client, await line(caller)], [srv, await line(server)]]);
  assert.deepEqual([lines.get(client)!.trace_id, lines.get(client)!.span_id], [traceId, client.spanId]);
  assert.deepEqual([lines.get(srv)!.trace_id, lines.get(srv)!.span_id], [traceId, srv.spanId]);
  for (const s of [client, srv]) {
    // A pooled connection the app closed as it was reused is UC and retried: the span says what the access log says.
    assert.equal(s.attributes['sluice.response_flags'], lines.get(s)!.flags);
    assert.equal(typeof s.attributes['sluice.retry_count'], 'number');
    assert.equal(s.attributes['http.request.method'], 'GET');
    assert.equal(s.attributes['url.path'], path);
    assert.equal(s.attributes['http.response.status_code'], 200);
    assert.equal(s.attributes['server.address'], HOST);
    assert.equal(s.attributes['network.protocol.version'], s === client ? '1.1' : '2');
    assert.equal(s.attributes['sluice.destination.service'], 'shop');
  }
  assert.equal(client.attributes['sluice.source.workload'], 'caller-1');
  assert.equal(srv.attributes['sluice.destination.workload'], 'shop-1');
  assert.equal(srv.attributes['sluice.source.principal'], 'spiffe://e2e.sluice.dev/ns/default/sa/caller');
  assert.equal(client.resource['service.name'], 'sluice-proxy');
  return { seen, client, server: srv };
}

test('one trace id across the calling app, both proxies and the called app, each span the child of the hop before, exported over OTLP/HTTP', async () => {
  const traceId = hex(16);
  const parent = hex(8);
  await traced(httpReceiver, '/w3c', { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=1' }, traceId, parent);
  const seen = app.seen.find((s) => s.url === '/w3c')!;
  assert.equal(seen.headers.tracestate, 'vendor=1', 'tracestate is passed on unchanged');
  assert.ok(httpReceiver.requestHeaders.some((h) => h['x-tenant'] === 'e2e'), 'the exporter sends the Mesh\'s otlp.headers');
});

test('a request with no trace context starts a trace at the outbound proxy (a root client span)', async () => {
  assert.equal(await call('/root', {}), 200);
  const seen = await seenBy('/root');
  const [, traceId] = String(seen.headers.traceparent).split('-');
  const { client } = await twoSpans(httpReceiver, traceId);
  assert.equal(client.parentSpanId, '');
});

test('B3 single and multi header are accepted, and passed on in the same form with the inbound proxy\'s span', async () => {
  const traceId = hex(16);
  const parent = hex(8);
  const { seen, server: srv } = await traced(httpReceiver, '/b3-single', { b3: `${traceId}-${parent}-1` }, traceId, parent);
  assert.match(String(seen.headers.b3), new RegExp(`^${traceId}-${srv.spanId}-1-[0-9a-f]{16}$`));
  const multiTrace = hex(16);
  const multiParent = hex(8);
  const multi = await traced(httpReceiver, '/b3-multi', { 'x-b3-traceid': multiTrace, 'x-b3-spanid': multiParent, 'x-b3-sampled': '1' }, multiTrace, multiParent);
  assert.equal(multi.seen.headers['x-b3-traceid'], multiTrace);
  assert.equal(multi.seen.headers['x-b3-spanid'], multi.server.spanId);
  assert.equal(multi.seen.headers['x-b3-parentspanid'], multi.client.spanId);
});

test('the exporter switches to OTLP/gRPC on the running proxies, then tracing goes off, without a restart', async () => {
  const pids = [caller.child.pid, server.child.pid];
  await ctl(['apply', '-f', '-'], mesh({ samplingPercent: 100, otlp: { protocol: 'grpc', endpoint: grpcReceiver.endpoint, headers: { authorization: 'Bearer e2e' } } }));
  await until(async () => {
    const traceId = hex(16);
    await call(`/switch/${traceId}`, { traceparent: `00-${traceId}-${hex(8)}-01` });
    await new Promise((r) => setTimeout(r, 1500));
    return grpcReceiver.spans.filter((s) => s.traceId === traceId).length >= 2;
  }, 30_000, 'spans at the gRPC receiver');
  const traceId = hex(16);
  const parent = hex(8);
  await traced(grpcReceiver, '/grpc', { traceparent: `00-${traceId}-${parent}-01` }, traceId, parent);
  assert.ok(grpcReceiver.requestHeaders.some((h) => h.authorization === 'Bearer e2e'), 'the headers go as gRPC metadata');

  await ctl(['apply', '-f', '-'], mesh());
  let sent = '';
  await until(async () => {
    sent = `00-${hex(16)}-${hex(8)}-01`;
    const path = `/off/${hex(4)}`;
    await call(path, { traceparent: sent });
    return (await seenBy(path)).headers.traceparent === sent;
  }, 30_000, 'the traceparent passed through untouched');
  const offTrace = `${hex(16)}`;
  await call('/off-check', { traceparent: `00-${offTrace}-${hex(8)}-01` });
  // Longer than the exporters' batch delay (1 s): a span of this trace would have arrived by now.
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual([...httpReceiver.spans, ...grpcReceiver.spans].filter((s) => s.traceId === offTrace || sent.includes(s.traceId)), [], `no span once tracing is off (${sent} ${offTrace})`);
  // Off, a sampled caller's trace id is still logged; the proxy has no span of its own.
  const offLine = await waitFor(() => caller.accessLog().find((l) => l.path === '/off-check'), 5000, 'the access log line of /off-check');
  assert.deepEqual([offLine.trace_id, offLine.span_id], [offTrace, null]);
  assert.deepEqual([caller.child.pid, server.child.pid], pids);
  assert.equal(caller.child.exitCode, null);
});
