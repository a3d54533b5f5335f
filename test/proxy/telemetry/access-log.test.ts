// The access log: one JSON line per request with Envoy's field names, batched into one write
// per event-loop turn (or per full buffer), and nothing at all when it is off.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { createAccessLog, type AccessLogEntry } from '../../../proxy/telemetry/index.ts';

const FIELDS = [
  'time', 'request_id', 'method', 'authority', 'path', 'protocol', 'status', 'flags', 'details', 'route',
  'upstream', 'upstream_host', 'bytes_received', 'bytes_sent', 'duration_ms', 'downstream_remote', 'downstream_peer', 'listener', 'trace_id', 'span_id',
];

const entry = (over: Partial<AccessLogEntry> = {}): AccessLogEntry => ({
  time: '',
  request_id: 'req-1',
  method: 'GET',
  authority: 'shop.example.com',
  path: '/cart',
  protocol: 'HTTP/1.1',
  status: 200,
  flags: '-',
  details: 'via_upstream',
  route: 'shop',
  upstream: 'cart',
  upstream_host: '10.0.0.7:8080',
  bytes_received: 12,
  bytes_sent: 345,
  duration_ms: 1.5,
  downstream_remote: '192.0.2.1:50000',
  downstream_peer: null,
  listener: 'main',
  trace_id: null,
  span_id: null,
  ...over,
});

const sink = () => {
  const writes: string[] = [];
  return { writes, out: { write: (s: string) => writes.push(s) }, lines: () => writes.join('').split('\n').filter((l) => l !== '') };
};

describe('access log', () => {
  test('writes many lines of one event-loop turn in one write, each a JSON object with the exact fields', async () => {
    const { writes, out, lines } = sink();
    const log = createAccessLog(out, { clock: () => Date.UTC(2024, 0, 2, 3, 4, 5, 678) });
    for (let i = 0; i < 100; i++) log.log(entry({ request_id: `r${i}` }));
    assert.equal(writes.length, 0, 'nothing is written synchronously');
    await tick();
    assert.equal(writes.length, 1);
    assert.ok(writes[0].endsWith('\n'));
    const parsed = lines().map((l) => JSON.parse(l));
    assert.equal(parsed.length, 100);
    assert.deepEqual(Object.keys(parsed[0]), FIELDS);
    assert.deepEqual(parsed[7], { ...entry({ request_id: 'r7' }), time: '2024-01-02T03:04:05.678Z' });
  });

  test('starts a new batch on the next turn', async () => {
    const { writes, out, lines } = sink();
    const log = createAccessLog(out);
    log.log(entry());
    await tick();
    log.log(entry());
    log.log(entry());
    await tick();
    assert.equal(writes.length, 2);
    assert.equal(lines().length, 3);
  });

  test('flushes at once when the buffer passes maxBufferBytes', () => {
    const { writes, out, lines } = sink();
    const log = createAccessLog(out, { maxBufferBytes: 1000 });
    for (let i = 0; i < 10; i++) log.log(entry());
    assert.ok(writes.length >= 2 && writes.length < 10, `${writes.length} writes`);
    assert.ok(writes.every((w) => w.length >= 1000 && w.endsWith('\n')));
    log.close();
    assert.equal(lines().length, 10);
  });

  test('waits flushIntervalMs before writing a batch when asked to', async () => {
    const { writes, out } = sink();
    const log = createAccessLog(out, { flushIntervalMs: 30 });
    log.log(entry());
    await tick();
    assert.equal(writes.length, 0);
    await new Promise((r) => setTimeout(r, 60));
    log.log(entry());
    assert.equal(writes.length, 1);
    log.close();
    assert.equal(writes.length, 2);
  });

  test('stamps the time at log time, rounds duration to 3 decimals and writes "-" for no flags', async () => {
    const { out, lines } = sink();
    let now = 0;
    const log = createAccessLog(out, { clock: () => now });
    log.log(entry({ duration_ms: 1.23456789, flags: '' }));
    now = 1000;
    log.log(entry({ time: 'ignored', flags: 'UF,URX', upstream: null, upstream_host: null, protocol: 'HTTP/2' }));
    await tick();
    const [a, b] = lines().map((l) => JSON.parse(l));
    assert.equal(a.time, '1970-01-01T00:00:00.000Z');
    assert.equal(a.duration_ms, 1.235);
    assert.equal(a.flags, '-');
    assert.equal(b.time, '1970-01-01T00:00:01.000Z');
    assert.equal(b.flags, 'UF,URX');
    assert.equal(b.upstream, null);
    assert.equal(b.upstream_host, null);
    assert.equal(b.protocol, 'HTTP/2');
  });

  test('close() writes what is queued and drops later lines', async () => {
    const { writes, out, lines } = sink();
    const log = createAccessLog(out);
    log.log(entry());
    log.close();
    assert.equal(writes.length, 1);
    log.log(entry());
    log.close();
    await tick();
    assert.equal(lines().length, 1);
  });

  test('is a no-op when off (null output)', () => {
    const log = createAccessLog(null);
    log.log(entry());
    log.flush();
    log.close();
  });

  test('keeps logging when the output throws', async () => {
    let calls = 0;
    const log = createAccessLog({ write: () => { calls++; throw new Error('EPIPE'); } });
    log.log(entry());
    await tick();
    log.log(entry());
    await tick();
    assert.equal(calls, 2);
  });

  test('does not keep the process alive with a pending batch timer', () => {
    const mod = new URL('../../../proxy/telemetry/access-log.ts', import.meta.url).href;
    const script = `import { createAccessLog } from ${JSON.stringify(mod)};
      createAccessLog(process.stdout, { flushIntervalMs: 60000 }).log({ status: 200, duration_ms: 1 });`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Date.now() - started < 15_000);
  });
});
