// The proxy's log sinks: a logger never throws, whatever its fields or its stream do, and a
// sink that failed once drops every later line instead of failing again (the process-level
// test, a real proxy whose stdout and stderr readers are gone, is broken-log-sinks.test.ts).

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { createLogger, logSink, MAX_QUEUED_LOG_BYTES } from '../../proxy/log.ts';

/** A stream that records writes, and fails (throws, or reports an error event) when told to. */
class FakeStream extends EventEmitter {
  lines: string[] = [];
  throwOnWrite = false;
  /** What a stream to a reader that does not keep up holds in memory. */
  writableLength = 0;
  write(s: string): boolean {
    if (this.throwOnWrite) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    this.lines.push(s);
    return true;
  }
}

test('a failed sink is told once, drops every later line, and its errors are handled', () => {
  const stream = new FakeStream();
  const broken: Error[] = [];
  const sink = logSink(stream, (err) => broken.push(err));
  sink.write('one\n');
  // Unhandled, an 'error' event would throw here.
  stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  stream.emit('error', new Error('again'));
  sink.write('two\n');
  assert.deepEqual(stream.lines, ['one\n']);
  assert.equal(sink.broken, true);
  assert.deepEqual(broken.map((e) => e.message), ['write EPIPE']);
});

test('a sink whose write throws is broken, and the throw goes no further', () => {
  const stream = new FakeStream();
  const sink = logSink(stream, () => {
    throw new Error('the listener fails too');
  });
  stream.throwOnWrite = true;
  sink.write('one\n');
  assert.equal(sink.broken, true);
  stream.throwOnWrite = false;
  sink.write('two\n');
  assert.deepEqual(stream.lines, []);
});

test('the logger never throws: fields it cannot serialize, a stream that throws', () => {
  const stream = new FakeStream();
  const log = createLogger(stream, () => 0);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log('error', 'uncaught exception', { big: 1n });
  log('warn', 'cyclic', { cycle });
  assert.deepEqual(
    stream.lines.map((l) => JSON.parse(l).msg),
    ['uncaught exception', 'cyclic'],
  );
  assert.match(stream.lines[0], /"log_error":"fields not serializable: /);
  stream.throwOnWrite = true;
  assert.doesNotThrow(() => log('info', 'lost'));
});

test('a reader that does not keep up: lines are dropped while too much is queued, then written again', () => {
  const stream = new FakeStream();
  const overflows: number[] = [];
  const sink = logSink(stream, undefined, (queued) => overflows.push(queued));
  stream.writableLength = MAX_QUEUED_LOG_BYTES + 1;
  sink.write('dropped\n');
  stream.writableLength = 0;
  sink.write('kept\n');
  assert.deepEqual(stream.lines, ['kept\n']);
  assert.deepEqual(overflows, [MAX_QUEUED_LOG_BYTES + 1]);
  assert.equal(sink.broken, false);
});
