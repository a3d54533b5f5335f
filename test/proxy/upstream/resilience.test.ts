// The retry machinery's parts on their own: the budget's arithmetic over a driven clock,
// full-jitter backoff, and the replayable body's streams.

import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import type { RetryOn } from '../../../proxy/config/model.ts';
import { backoffMs, failureCovered, retryReason } from '../../../proxy/upstream/resilience/attempts.ts';
import { ReplayBody } from '../../../proxy/upstream/resilience/replay-body.ts';
import { RetryBudget } from '../../../proxy/upstream/resilience/retry-budget.ts';

describe('RetryBudget', () => {
  test('allows retries up to percent of the requests plus the floor, over the window', () => {
    let now = 0;
    const budget = new RetryBudget({ percent: 20, minRetriesPerSecond: 1, ttlMs: 10_000 }, () => now);
    for (let i = 0; i < 100; i++) budget.deposit();
    // 20 % of 100, plus 1/s x 10 s.
    let granted = 0;
    while (budget.tryWithdraw() && granted < 1000) granted++;
    assert.equal(granted, 30);
  });

  test('forgets requests and retries once they leave the window', () => {
    let now = 0;
    const budget = new RetryBudget({ percent: 50, minRetriesPerSecond: 0, ttlMs: 1000 }, () => now);
    for (let i = 0; i < 10; i++) budget.deposit();
    let granted = 0;
    while (budget.tryWithdraw()) granted++;
    assert.equal(granted, 5);
    now = 2000;
    assert.equal(budget.tryWithdraw(), false, 'no requests in the new window, no floor: no retry');
    budget.deposit();
    budget.deposit();
    assert.equal(budget.tryWithdraw(), true);
    assert.equal(budget.tryWithdraw(), false);
  });
});

describe('backoffMs (full jitter)', () => {
  const policy = { backoffBaseMs: 25, backoffMaxMs: 250 };
  test('draws from 0 up to base x 2^(n-1), capped at the max', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 10].map((n) => backoffMs(n, policy, () => 0.999999)), [24, 49, 99, 199, 249, 249]);
    assert.equal(backoffMs(3, policy, () => 0), 0);
    assert.equal(backoffMs(2, policy, () => 0.5), 25);
  });
});

describe('ReplayBody', () => {
  test('a second try reads the whole body again: the kept part, then the rest as it arrives', async () => {
    const source = new PassThrough();
    const body = new ReplayBody(source, 1024);
    const first = body.stream();
    const got: string[] = [];
    first.on('data', (c: Buffer) => got.push(c.toString()));
    source.write('abc');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['abc']);
    first.on('error', () => {});
    first.destroy(new Error('try failed'));
    const second = body.stream();
    const all = text(second);
    source.end('def');
    assert.equal(await all, 'abcdef');
    assert.equal(body.replayable, true);
    assert.equal(await text(body.stream()), 'abcdef', 'and a third, after the source ended');
  });

  test('past the limit the copy is dropped: the body streams on but cannot be replayed', async () => {
    const body = new ReplayBody(Readable.from([Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')], { objectMode: false }), 1000);
    const first = await text(body.stream());
    assert.equal(first.length, 1200);
    assert.equal(body.replayable, false);
  });

  test('a source error fails the try that reads it', async () => {
    const source = new PassThrough();
    const body = new ReplayBody(source, 1024);
    const s = body.stream();
    const read = text(s);
    source.destroy(new Error('client went away'));
    await assert.rejects(read, /client went away/);
  });
});

describe('retryReason: which answers ask for a retry under which retryOn', () => {
  const grpc = (code: string) => ({ status: 200, headers: { 'content-type': 'application/grpc', 'grpc-status': code } });
  const http = (status: number) => ({ status, headers: {} });
  const cases: [string, { status: number; headers: Record<string, string> }, RetryOn[], RetryOn | null][] = [
    ['500 under 5xx', http(500), ['5xx'], '5xx'],
    ['500 under gateway-error', http(500), ['gateway-error'], null],
    ['502 under gateway-error', http(502), ['gateway-error'], 'gateway-error'],
    ['504 under gateway-error', http(504), ['gateway-error'], 'gateway-error'],
    ['429 in the list', http(429), ['retriable-status-codes'], 'retriable-status-codes'],
    ['503 not in the list', http(503), ['retriable-status-codes'], null],
    ['503 under connect-failure only', http(503), ['connect-failure', 'reset'], null],
    ['200 under everything', http(200), ['5xx', 'gateway-error', 'retriable-status-codes', 'unavailable'], null],
    ['grpc 14 under unavailable', grpc('14'), ['unavailable'], 'unavailable'],
    ['grpc 1 under cancelled', grpc('1'), ['cancelled'], 'cancelled'],
    ['grpc 4 under deadline-exceeded', grpc('4'), ['deadline-exceeded'], 'deadline-exceeded'],
    ['grpc 8 under resource-exhausted', grpc('8'), ['resource-exhausted'], 'resource-exhausted'],
    ['grpc 14 without unavailable', grpc('14'), ['cancelled', '5xx'], null],
    ['grpc 0', grpc('0'), ['unavailable', 'cancelled'], null],
    ['grpc 13 (internal) is not retriable', grpc('13'), ['unavailable', 'cancelled', 'deadline-exceeded', 'resource-exhausted'], null],
  ];
  for (const [what, res, retryOn, want] of cases) {
    test(what, () => assert.equal(retryReason(res, { retryOn, retriableStatusCodes: [429] }), want));
  }
});

describe('failureCovered: failures before a head under each retryOn', () => {
  const cases: [string, Parameters<typeof failureCovered>[0], RetryOn[], boolean][] = [
    ['a refused connection under connect-failure', 'UPSTREAM_CONNECT_FAILURE', ['connect-failure'], true],
    ['a reset under connect-failure', 'UPSTREAM_CONNECTION_TERMINATION', ['connect-failure'], false],
    ['a refused stream under refused-stream', 'UPSTREAM_REFUSED_STREAM', ['refused-stream'], true],
    ['an h2 reset under refused-stream', 'UPSTREAM_RESET', ['refused-stream'], false],
    ['a per-try timeout under reset', 'UPSTREAM_TIMEOUT', ['reset'], true],
    ['a refused connection under gateway-error', 'UPSTREAM_CONNECT_FAILURE', ['gateway-error'], true],
    ['a reset under 5xx', 'UPSTREAM_CONNECTION_TERMINATION', ['5xx'], true],
    ['a reset under gRPC conditions only', 'UPSTREAM_CONNECTION_TERMINATION', ['unavailable', 'cancelled'], false],
  ];
  for (const [what, code, retryOn, want] of cases) test(what, () => assert.equal(failureCovered(code, retryOn), want));
});
