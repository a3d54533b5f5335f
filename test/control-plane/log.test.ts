// The control plane's log sink: a stream that failed once (EPIPE: its reader is gone) drops
// every later line, its errors never become uncaught exceptions, and the logger never
// throws (the process-level test is apiserver/broken-stderr.test.ts).

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { createLogger, logSink } from '../../control-plane/log.ts';

class FakeStream extends EventEmitter {
  lines: string[] = [];
  throwOnWrite = false;
  write(s: string): boolean {
    if (this.throwOnWrite) throw new Error('write EPIPE');
    this.lines.push(s);
    return true;
  }
}

test('a failed sink drops later lines; the logger never throws', () => {
  const stream = new FakeStream();
  const sink = logSink(stream);
  const log = createLogger(sink, () => 0);
  log('info', 'first', { n: 1 });
  stream.emit('error', new Error('write EPIPE'));
  log('info', 'second');
  assert.deepEqual(stream.lines, ['{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"first","n":1,"component":"sluice-cp"}\n']);
  assert.equal(sink.broken, true);

  const throwing = new FakeStream();
  throwing.throwOnWrite = true;
  const direct = createLogger(throwing);
  assert.doesNotThrow(() => direct('error', 'lost', { big: 1n }));
  const viaSink = logSink(throwing);
  viaSink.write('x');
  assert.equal(viaSink.broken, true);
});
