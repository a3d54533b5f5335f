// The retry machinery's parts on their own: the budget's arithmetic over a driven clock,
// full-jitter backoff, and the replayable body's streams.

import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { backoffMs } from '../../../proxy/upstream/resilience/attempts.ts';
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
