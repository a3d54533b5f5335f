// The path is normalized once, before routing: the known mesh-bypass spellings all land on
// the path an authorization rule would name, and nothing that should stay encoded is decoded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizePath, normalizeTarget } from '../../../kinds/normalize-path.ts';

describe('normalizePath', () => {
  const same: [string, string][] = [
    ['/', '/'],
    ['/api/users', '/api/users'],
    ['/api/users/', '/api/users/'],
    ['/a//b///c', '/a/b/c'],
    ['//admin', '/admin'],
    ['/admin/../x', '/x'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/%2e%2e/admin', '/admin'],
    ['/a/%2E/b', '/a/b'],
    ['/%7Euser', '/~user'],
    ['/%41%62c', '/Abc'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%5cb', '/a%5Cb'],
    ['/a%2F..%2Fb', '/a%2F..%2Fb'],
    ['/x/%2e%2e%2fadmin', '/x/..%2Fadmin'],
  ];
  for (const [input, want] of same) {
    test(`normalizes ${input} to ${want}`, () => {
      assert.deepEqual(normalizePath(input), { ok: true, path: want, query: '' });
    });
  }

  test('keeps the query byte for byte and out of the path rules', () => {
    assert.deepEqual(normalizePath('/a//b?x=/../y&z=%2e'), { ok: true, path: '/a/b', query: 'x=/../y&z=%2e' });
    assert.deepEqual(normalizeTarget('/a/./b?q=1'), { ok: true, target: '/a/b?q=1' });
  });

  const refused: [string, RegExp][] = [
    ['/admin#frag', /#/],
    ['/a?b#c', /#/],
    ['/a%zz', /percent-escape/],
    ['/a%4', /percent-escape/],
    ['a/b', /start with/],
    ['*', /start with/],
    ['/a\x00b', /control/],
    ['/a b', /control/],
    ['/caf\u00e9', /non-ASCII/],
  ];
  for (const [input, reason] of refused) {
    test(`refuses ${JSON.stringify(input)}`, () => {
      const r = normalizePath(input);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, reason);
    });
  }

  test('returns an already-normal path as the same string', () => {
    const p = '/api/v1/items/42';
    assert.equal((normalizePath(p) as { path: string }).path, p);
  });
});
