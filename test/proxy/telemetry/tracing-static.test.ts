// Tracing from the static file, in real proxy processes: a proxy whose config has no
// `tracing:` never loads the OpenTelemetry SDK (a preloaded hook reports every
// @opentelemetry module the process resolves); one with it exports client spans from an
// OUTBOUND listener and server spans from the other to a real OTLP receiver; a bad
// `tracing:` section is refused with its field path.

import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startProxy, writeConfig, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../../helpers/otlp-receiver.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { closedPort } from '../../helpers/ports.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';

const REPORTER = fileURLToPath(new URL('../../fixtures/tracing/module-report.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-tracing-static-'));
let app: Upstream;
let receiver: OtlpReceiver;
const running: ProxyProcess[] = [];
/** A loaded machine starts a proxy slowly; a bound, not a timing assertion. */
const READY_MS = 60_000;

before(async () => {
  app = await startUpstream('app');
  receiver = await startOtlpReceiver('http/protobuf');
});
after(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await app?.close();
  await receiver?.close();
});

const config = (tracing: string, direction = '') => `
listeners:
  - { name: main, address: 127.0.0.1, port: 0, protocol: http${direction} }
routes:
  - { name: all, parentRefs: [{ name: main }], rules: [{ backendRefs: [{ name: app }] }] }
backends:
  - { name: app, endpoints: [{ address: 127.0.0.1, port: ${app.port} }] }
${tracing}`;

async function reported(yaml: string, name: string): Promise<{ proxy: ProxyProcess; modules: () => string[] }> {
  const report = join(dir, `${name}.modules`);
  const proxy = await startProxy(writeConfig(yaml, mkdtempSync(join(dir, name))), [], { env: { SLUICE_MODULE_REPORT: report, NODE_OPTIONS: `--import ${REPORTER}` }, readyTimeoutMs: READY_MS });
  running.push(proxy);
  return { proxy, modules: () => (existsSync(report) ? readFileSync(report, 'utf8').split('\n').filter((l) => l !== '') : []) };
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject);
  });
}

test('a proxy without tracing never loads the OpenTelemetry SDK, and one with it does', async () => {
  const off = await reported(config(''), 'off');
  for (let i = 0; i < 5; i++) assert.equal(await get(off.proxy.ports.main, `/off/${i}`, { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` }), 200);
  assert.deepEqual(off.modules(), [], 'no @opentelemetry module was resolved by the proxy without tracing');
  // The hook sees the SDK when it is loaded: the check above can fail.
  const on = await reported(config(`tracing: { samplingPercent: 100, otlp: { protocol: http/protobuf, endpoint: '${receiver.endpoint}' } }`), 'on');
  assert.equal(await get(on.proxy.ports.main, '/on'), 200);
  assert.ok(on.modules().some((m) => m.includes('/@opentelemetry/sdk-trace-base/')), `the SDK was loaded: ${on.modules().slice(0, 3)}`);
});

test('the static file\'s tracing: an OUTBOUND listener makes client spans, another server spans, with the file\'s service name', async () => {
  const tracing = `tracing: { samplingPercent: 100, serviceName: edge, otlp: { protocol: http/protobuf, endpoint: '${receiver.endpoint}' } }`;
  const out = await startProxy(config(tracing, ', direction: OUTBOUND'), [], { readyTimeoutMs: READY_MS });
  const inb = await startProxy(config(tracing), [], { readyTimeoutMs: READY_MS });
  running.push(out, inb);
  const traceId = '5b'.repeat(16);
  assert.equal(await get(out.ports.main, '/client', { traceparent: `00-${traceId}-${'1a'.repeat(8)}-01` }), 200);
  assert.equal(await get(inb.ports.main, '/server', { traceparent: `00-${traceId}-${'2a'.repeat(8)}-01` }), 200);
  await receiver.waitFor((spans) => spans.filter((s) => s.traceId === traceId).length === 2);
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  assert.deepEqual(spans.map((s) => [s.attributes['url.path'], s.kind, s.parentSpanId]).sort(), [
    ['/client', 'SPAN_KIND_CLIENT', '1a'.repeat(8)],
    ['/server', 'SPAN_KIND_SERVER', '2a'.repeat(8)],
  ]);
  assert.ok(spans.every((s) => s.resource['service.name'] === 'edge'));
});

test('at 0 % a proxy samples no trace it starts, but keeps a caller\'s sampled one', async () => {
  const p = await startProxy(config(`tracing: { samplingPercent: 0, otlp: { protocol: http/protobuf, endpoint: '${receiver.endpoint}' } }`), [], { readyTimeoutMs: READY_MS });
  running.push(p);
  const before = receiver.spans.length;
  assert.equal(await get(p.ports.main, '/unsampled'), 200);
  const traceId = '7c'.repeat(16);
  assert.equal(await get(p.ports.main, '/sampled', { traceparent: `00-${traceId}-${'3a'.repeat(8)}-01` }), 200);
  await receiver.waitFor((spans) => spans.some((s) => s.traceId === traceId));
  const seen = app.seen.find((s) => s.url === '/unsampled')!;
  assert.match(String(seen.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'an unsampled trace is still propagated, flagged unsampled');
  // An unsampled caller keeps its trace id; the proxy's id replaces the parent's, still unsampled.
  const quiet = '8d'.repeat(16);
  assert.equal(await get(p.ports.main, '/caller-unsampled', { traceparent: `00-${quiet}-${'4a'.repeat(8)}-00` }), 200);
  assert.match(String(app.seen.find((s) => s.url === '/caller-unsampled')!.headers.traceparent), new RegExp(`^00-${quiet}-(?!${'4a'.repeat(8)})[0-9a-f]{16}-00$`));
  assert.deepEqual(receiver.spans.slice(before).map((s) => s.attributes['url.path']), ['/sampled']);
});

/**
 * The exporter gives a batch up only after its retries, some 15 s: this proxy starts with
 * the file and the test below awaits what it saw, while the tests before it run.
 */
async function exportToNobody(): Promise<{ endpoint: string; line: Record<string, unknown>; still: number; first: number }> {
  const port = await closedPort();
  const endpoint = `http://127.0.0.1:${port}/v1/traces`;
  const p = await startProxy(config(`tracing: { otlp: { protocol: http/protobuf, endpoint: '${endpoint}' } }`), [], { readyTimeoutMs: READY_MS });
  running.push(p);
  const first = await get(p.ports.main, '/lost');
  const line = JSON.parse(await p.waitForLog(/spans could not be exported/, 30_000)) as Record<string, unknown>;
  return { endpoint, line, first, still: await get(p.ports.main, '/still') };
}
let toNobody: Promise<Awaited<ReturnType<typeof exportToNobody>>>;
before(() => {
  toNobody = exportToNobody();
  // Awaited (and its failure reported) by the test; not an unhandled rejection meanwhile.
  toNobody.catch(() => {});
});

test('spans a collector does not take are dropped, and the proxy says so on its log, and keeps serving', async () => {
  const { endpoint, line, first, still } = await toNobody;
  assert.equal(first, 200);
  assert.deepEqual([line.level, line.endpoint], ['warn', endpoint]);
  assert.equal(still, 200);
});

test('a tracing: section that cannot work is refused with its field path', () => {
  const bad = (tracing: string) => {
    const r = parseStaticConfig(`listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]\n${tracing}\n`);
    assert.equal(r.ok, false);
    return r.ok ? [] : r.error.map((v) => `${v.path}: ${v.message}`);
  };
  assert.match(bad("tracing: { otlp: { protocol: grpc, endpoint: 'http://collector:4317/v1/traces' } }").join('\n'), /^tracing\.otlp\.endpoint: .*no path/m);
  assert.match(bad("tracing: { otlp: { protocol: http/protobuf, endpoint: 'collector:4318' } }").join('\n'), /^tracing\.otlp\.endpoint: /m);
  assert.match(bad("tracing: { samplingPercent: 150, otlp: { protocol: grpc, endpoint: 'http://c:4317' } }").join('\n'), /^tracing\.samplingPercent: /m);
  assert.match(bad("tracing: { otlp: { protocol: zipkin, endpoint: 'http://c:4317' } }").join('\n'), /^tracing\.otlp\.protocol: /m);
});
