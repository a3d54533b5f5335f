// Header hygiene helpers on the request path: the request id minted per request and the
// hop-by-hop filter, including the shortcuts taken for the common Connection values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureRequestId, forwardableHeaders, requestIdV4 } from '../../../proxy/http/headers.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('minted request ids are version-4 UUIDs, all different, across pool refills', () => {
  const seen = new Set<string>();
  // 256 ids per pool fill: this crosses four refills.
  for (let i = 0; i < 1000; i++) {
    const id = requestIdV4();
    assert.match(id, UUID_V4);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
  // Every hex digit shows up in every free position over 1000 ids: the bytes are not stuck.
  const first = new Set([...seen].map((id) => id[0]));
  assert.equal(first.size, 16);
});

test('a sane x-request-id is kept; a missing or unsafe one is replaced by a new UUID', () => {
  const kept = { 'x-request-id': 'abc-123' };
  assert.equal(ensureRequestId(kept), 'abc-123');
  for (const given of [undefined, '', 'has space', 'x'.repeat(129), ['a', 'b']]) {
    const headers: Record<string, string | string[]> = given === undefined ? {} : { 'x-request-id': given };
    const id = ensureRequestId(headers);
    assert.match(id, UUID_V4);
    assert.equal(headers['x-request-id'], id);
  }
});

test('hop-by-hop fields are dropped, and whatever Connection names, one name or many', () => {
  for (const connection of ['keep-alive', 'close', 'Keep-Alive', ' Close ']) {
    const out = forwardableHeaders({ connection, 'keep-alive': 'timeout=5', 'content-type': 'text/plain', close: 'a field named close', 'x-other': '1' });
    const named = connection.trim().toLowerCase() === 'close';
    assert.deepEqual(out, { 'content-type': 'text/plain', 'x-other': '1', ...(named ? {} : { close: 'a field named close' }) }, connection);
  }
  assert.deepEqual(forwardableHeaders({ connection: 'X-Private', 'x-private': 'secret', 'x-public': 'ok' }), { 'x-public': 'ok' });
  // Any other Connection value still removes the fields it names.
  const out = forwardableHeaders({ connection: 'keep-alive, x-private', 'x-private': 'secret', 'x-public': 'ok', te: 'trailers' });
  assert.deepEqual(out, { 'x-public': 'ok', te: 'trailers' });
  const listed = forwardableHeaders({ connection: ['close', 'x-a'], 'x-a': '1', 'x-b': '2' });
  assert.deepEqual(listed, { 'x-b': '2' });
});
