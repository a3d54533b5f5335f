import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { RequestContext } from '../../../proxy/http/context.ts';
import { createFailureReporter, EXPLAIN_METADATA } from '../../../proxy/telemetry/failure-report.ts';
import { recordOf } from '../../../control-plane/explain/access-log-service.ts';

function ctx(status: number, flags: RequestContext['flags'] = [], id = 'req-1'): RequestContext {
  const c = new RequestContext('outbound', 'HTTP/1.1', '127.0.0.1:5000', performance.now(), 'GET', 'orders', '/api', 'a=1', {}, null, id);
  c.status = status;
  c.flags = flags;
  return c;
}

test('queues nothing until a sender enables it, and never a request that succeeded', () => {
  const r = createFailureReporter({ now: () => 0 });
  r.offer(ctx(503, ['UH']));
  assert.equal(r.take(10).length, 0);
  let signalled = 0;
  r.enable(() => signalled++);
  r.offer(ctx(200));
  r.offer(ctx(302));
  assert.equal(r.take(10).length, 0);
  r.offer(ctx(404, ['NR']));
  r.offer(ctx(500));
  assert.equal(r.take(10).length, 2);
  assert.equal(signalled, 2);
});

test('is rate limited, and drops the oldest past its queue bound, counting both', () => {
  let now = 0;
  const r = createFailureReporter({ now: () => now, perSecond: 5, maxQueued: 3 });
  r.enable(() => {});
  for (let i = 0; i < 8; i++) r.offer(ctx(503, ['UF'], `r${i}`));
  assert.equal(r.stats.limited, 3, 'a burst of at most perSecond');
  assert.equal(r.stats.dropped, 2);
  now += 1000;
  r.offer(ctx(503, ['UF'], 'later'));
  const ids = r.take(10).map((e) => (e as { request: { request_id: string } }).request.request_id);
  assert.deepEqual(ids, ['r3', 'r4', 'later']);
});

test('an entry carries the flags, the status and the failure site\'s notes, and reads back as the record explain uses', () => {
  const r = createFailureReporter({ now: () => 0 });
  r.enable(() => {});
  const c = ctx(503, ['UF', 'URX']);
  c.upstreamHost = '127.0.0.1:8080';
  c.backend = 'outbound|80||orders';
  c.attempts = 2;
  c.details = 'upstream_connect_failure';
  c.explain = { tries: [{ endpoint: '127.0.0.1:8080', outcome: '503' }], peer: { expected: ['spiffe://td/ns/a/sa/b'], seen: 'spiffe://td/ns/a/sa/c' } };
  r.offer(c);
  const entry = r.take(1)[0]! as Record<string, any>;
  assert.equal(entry.common_properties.response_flags.upstream_connection_failure, true);
  assert.equal(entry.common_properties.response_flags.upstream_retry_limit_exceeded, true);
  assert.ok(entry.common_properties.metadata.filter_metadata[EXPLAIN_METADATA]);
  const rec = recordOf('caller.default', '2026-12-06T00:00:00.000Z', entry);
  assert.deepEqual(rec.flags, ['UF', 'URX']);
  assert.equal(rec.status, 503);
  assert.equal(rec.path, '/api?a=1');
  assert.equal(rec.upstreamHost, '127.0.0.1:8080');
  assert.equal(rec.listener, 'outbound');
  assert.deepEqual(rec.notes, { tries: [{ endpoint: '127.0.0.1:8080', outcome: '503' }], peer: { expected: ['spiffe://td/ns/a/sa/b'], seen: 'spiffe://td/ns/a/sa/c' } });
});

test("another thread's entries (--workers) are queued once a sender is attached, and signal it", () => {
  const r = createFailureReporter({ now: () => 0, maxQueued: 3 });
  r.add([{ a: 1 }]);
  assert.equal(r.take(10).length, 0, 'nothing queued before a sender');
  let signalled = 0;
  r.enable(() => signalled++);
  r.add([]);
  assert.equal(signalled, 0);
  r.add([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }]);
  assert.equal(signalled, 1);
  assert.deepEqual(r.take(10), [{ a: 2 }, { a: 3 }, { a: 4 }]);
  assert.equal(r.stats.dropped, 1);
});
