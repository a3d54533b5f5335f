// The log shapes an ELK or Loki pipeline is set up for (README, "Logs"), read from real
// processes: every line sluice-proxy and sluice-cp log on stderr is one JSON object with
// time, level, msg and component; every access-log line has the documented fields, with
// trace_id and span_id null when the request is not traced, and a sampled caller's trace id
// when tracing is off.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from './helpers/control-plane.ts';
import { startProxy, type ProxyProcess } from './helpers/proxy-process.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';
import { waitFor } from './helpers/wait.ts';

/** The access log's fields, in order (README, "Logs"). */
const ACCESS_FIELDS = [
  'time', 'request_id', 'method', 'authority', 'path', 'protocol', 'status', 'flags', 'details', 'route', 'upstream', 'upstream_host',
  'bytes_received', 'bytes_sent', 'duration_ms', 'downstream_remote', 'downstream_peer', 'listener', 'trace_id', 'span_id',
];
const LEVELS = ['debug', 'info', 'warn', 'error'];

let app: Upstream;
let proxy: ProxyProcess;
let cp: ControlPlaneProcess;

before(async () => {
  app = await startUpstream('app');
  cp = await startControlPlane({ dataDir: join(mkdtempSync(join(tmpdir(), 'sluice-logs-')), 'cp'), timeoutMs: 60_000 });
  proxy = await startProxy(`
listeners:
  - { name: main, address: 127.0.0.1, port: 0, protocol: http }
routes:
  - { name: all, parentRefs: [{ name: main }], rules: [{ backendRefs: [{ name: app }] }] }
backends:
  - { name: app, endpoints: [{ address: 127.0.0.1, port: ${app.port} }] }
`, [], { readyTimeoutMs: 60_000 });
});
after(async () => {
  await proxy?.stop();
  await cp?.stop();
  await app?.close();
});

function get(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: proxy.ports.main, path, headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject);
  });
}

/** Each line of a program's stderr, parsed; Node's own runtime warnings ("(node:PID) ...") are not the program's log. */
function programLines(name: string, stderr: string): Record<string, unknown>[] {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(node:') && !l.startsWith('(Use `node'));
  assert.ok(lines.length > 0, `${name} logged nothing`);
  return lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return assert.fail(`${name}: not a JSON line: ${l}`);
    }
  });
}

test('every line of sluice-proxy\'s and sluice-cp\'s own log is JSON with time, level, msg and component', async () => {
  await get('/x', {});
  await Promise.all([proxy.stop(), cp.stop()]);
  for (const [name, stderr] of [['sluice-proxy', proxy.stderr()], ['sluice-cp', cp.stderr()]] as const) {
    for (const line of programLines(name, stderr)) {
      assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${name}: time of ${JSON.stringify(line)}`);
      assert.ok(LEVELS.includes(String(line.level)), `${name}: level of ${JSON.stringify(line)}`);
      assert.equal(typeof line.msg, 'string', `${name}: msg of ${JSON.stringify(line)}`);
      assert.equal(line.component, name, `${name}: component of ${JSON.stringify(line)}`);
    }
  }
});

test('an access-log line has the documented fields; trace_id is a sampled caller\'s with tracing off, span_id null, both null untraced', async (t) => {
  if (proxy.child.exitCode !== null) proxy = await restart();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  assert.equal(await get('/traced', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }), 200);
  assert.equal(await get('/unsampled', { traceparent: `00-${'1'.repeat(32)}-00f067aa0ba902b7-00` }), 200);
  assert.equal(await get('/plain', {}), 200);
  const line = (path: string) => waitFor(() => proxy.accessLog().find((l) => l.path === path), 5000, `the access log line of ${path}`);
  for (const path of ['/traced', '/unsampled', '/plain']) assert.deepEqual(Object.keys(await line(path)), ACCESS_FIELDS);
  assert.deepEqual([(await line('/traced')).trace_id, (await line('/traced')).span_id], [traceId, null]);
  assert.deepEqual([(await line('/unsampled')).trace_id, (await line('/unsampled')).span_id], [null, null]);
  assert.deepEqual([(await line('/plain')).trace_id, (await line('/plain')).span_id], [null, null]);
  t.diagnostic('access log checked');
});

async function restart(): Promise<ProxyProcess> {
  return startProxy(proxy.configFile, [], { readyTimeoutMs: 60_000 });
}
