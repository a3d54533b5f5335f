// One deadline per request (issue 20, point 2): the route's timeouts.request and a backend's
// RetryPolicy timeouts.request both bound the whole request, so the request keeps one timer,
// brought forward when the second limit is sooner, and the note says which limit fired.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SluiceError } from '../../../proxy/errors.ts';
import { RequestContext } from '../../../proxy/http/context.ts';
import { armDeadline, type DeadlineOwner } from '../../../proxy/http/filters/timeout.ts';
import { notesOf } from '../../../proxy/telemetry/failure-notes.ts';

const ctx = () => new RequestContext('l', 'HTTP/1.1', '127.0.0.1:1', performance.now(), 'GET', 'h', '/', '', {}, null, 'id');

/** An owner that records when it was told, and a try in flight that records its cancel. */
function watch(c: RequestContext) {
  const seen: { expired: SluiceError | null; at: number; cancelled: Error | null } = { expired: null, at: 0, cancelled: null };
  const owner: DeadlineOwner = {
    expire: (err) => {
      seen.expired = err;
      seen.at = performance.now();
    },
  };
  c.upstreamTry = { cancel: (err) => (seen.cancelled = err) };
  return { seen, owner };
}

const until = async (ok: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

test("a sooner backend limit moves the route's deadline forward: one timer, the backend's note", async () => {
  const c = ctx();
  const { seen, owner } = watch(c);
  const d = armDeadline(c, 10_000, 'route', owner);
  assert.ok(d !== null && c.deadline === d);
  // The backend's limit: no second deadline, the first one moves.
  assert.equal(armDeadline(c, 30, 'request', { expire: () => assert.fail('a second owner told') }), null);
  await until(() => seen.expired !== null, 5000);
  assert.equal(seen.expired?.code, 'UPSTREAM_TIMEOUT');
  assert.match(seen.expired!.message, /no response within 30 ms/);
  assert.deepEqual(notesOf(c).timeout, { kind: 'request', ms: 30 });
  assert.equal(c.aborted, seen.expired, 'the request is given up with the same error');
  assert.equal(seen.cancelled, seen.expired, 'and the try in flight cancelled');
  assert.ok(d.over);
});

test('a later backend limit leaves the route deadline as it is', async () => {
  const c = ctx();
  const { seen, owner } = watch(c);
  armDeadline(c, 30, 'route', owner);
  armDeadline(c, 10_000, 'request', owner);
  await until(() => seen.expired !== null, 5000);
  assert.deepEqual(notesOf(c).timeout, { kind: 'route', ms: 30 });
});

test('a deadline cleared in time never fires; a request with none arms its own', async () => {
  const c = ctx();
  const { seen, owner } = watch(c);
  const d = armDeadline(c, 20, 'request', owner)!;
  d.clear();
  assert.ok(d.over);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(seen.expired, null);
  assert.equal(c.aborted, null);
  assert.equal(c.explain, null);
  // Cleared, it is no one's any more: a later limit on the request starts its own.
  const again = armDeadline(c, 10_000, 'request', owner);
  assert.ok(again !== null && again !== d);
  again.clear();
});
