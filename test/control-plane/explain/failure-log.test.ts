import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureLog, type FailureRecord } from '../../../control-plane/explain/failure-log.ts';
import { failuresQuery } from '../../../control-plane/apiserver/failures.ts';

const record = (node: string, requestId: string, authority = 'orders'): FailureRecord => ({
  node, sequence: 0, receivedAt: '2026-12-06T00:00:00.000Z', startTime: '2026-12-06T00:00:00.000Z', requestId, method: 'GET', authority, path: '/',
  status: 503, flags: ['UH'], details: 'no_healthy_upstream', listener: 'outbound', route: '', upstreamCluster: 'orders', upstreamHost: null, downstreamPeer: null, attempts: 0, notes: {},
});

test('keeps the last perNode records of each proxy, newest first, and counts the ones it let go', () => {
  const log = new FailureLog({ perNode: 3 });
  for (let i = 0; i < 5; i++) log.add(record('a.default', `r${i}`));
  log.add(record('b.default', 'b0'));
  assert.deepEqual(log.query({ node: 'a.default' }).map((r) => r.requestId), ['r4', 'r3', 'r2']);
  assert.equal(log.overwritten, 2);
  assert.deepEqual(log.query({}).map((r) => r.requestId), ['b0', 'r4', 'r3', 'r2']);
});

test('forgets the proxy heard from longest ago past maxNodes', () => {
  const log = new FailureLog({ perNode: 10, maxNodes: 2 });
  log.add(record('a.default', 'a0'));
  log.add(record('b.default', 'b0'));
  log.add(record('a.default', 'a1'));
  log.add(record('c.default', 'c0'));
  assert.deepEqual(log.query({}).map((r) => r.node).sort(), ['a.default', 'a.default', 'c.default']);
  assert.equal(log.overwritten, 1);
});

test('finds a request by id across proxies, and by host without port or case', () => {
  const log = new FailureLog();
  log.add(record('caller.default', 'x'));
  log.add(record('callee.default', 'x'));
  log.add(record('caller.default', 'y', 'Payments:8080'));
  assert.deepEqual(log.query({ requestId: 'x' }).map((r) => r.node), ['callee.default', 'caller.default']);
  assert.deepEqual(log.query({ node: 'caller.default', authority: 'payments' }).map((r) => r.requestId), ['y']);
  assert.deepEqual(log.query({ limit: 1 }).map((r) => r.requestId), ['y']);
});

test('the API query names a wrong parameter or limit', () => {
  assert.match(String(failuresQuery(new URLSearchParams('request_id=1'))), /unknown query parameter 'request_id'/);
  assert.match(String(failuresQuery(new URLSearchParams('limit=0'))), /limit must be a whole number from 1 to 100; got '0'/);
  assert.deepEqual(failuresQuery(new URLSearchParams('requestId=abc')), { limit: 100, requestId: 'abc' });
});
