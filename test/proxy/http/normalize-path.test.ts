// The path is normalized once, before routing and authorization, the way Envoy's
// normalize_path + merge_slashes does: every known mesh-bypass spelling lands on the path a
// rule would name, and nothing that must stay encoded is decoded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { normalizePath, normalizeTarget } from '../../../kinds/normalize-path.ts';

describe('normalizePath', () => {
  const normalized: [title: string, input: string, path: string][] = [
    ['keeps the root', '/', '/'],
    ['keeps an already-normal path', '/api/users', '/api/users'],
    ['keeps a trailing slash', '/api/users/', '/api/users/'],
    ['merges repeated slashes', '/a//b///c', '/a/b/c'],
    ['merges a leading double slash (//admin)', '//admin', '/admin'],
    ['merges slashes before a trailing slash', '/a//', '/a/'],
    ['resolves .. against the segment before it (/admin/../x)', '/admin/../x', '/x'],
    ['drops . segments', '/a/./b', '/a/b'],
    ['leaves a directory after a trailing ..', '/a/b/..', '/a/'],
    ['leaves a directory after a trailing .', '/a/b/.', '/a/b/'],
    ['keeps .. above the root at the root', '/..', '/'],
    ['keeps repeated .. above the root at the root', '/../../etc/passwd', '/etc/passwd'],
    ['resolves .. that climbs past the root mid-path', '/a/../../b', '/b'],
    ['resolves dots before merging slashes, as Envoy does', '/a//../b', '/a/b'],
    ['leaves names that only start with dots alone', '/a/..b/.c/.../.well-known', '/a/..b/.c/.../.well-known'],
    ['decodes %2e%2e into a dot segment and resolves it (/%2e%2e/admin)', '/%2e%2e/admin', '/admin'],
    ['decodes an upper-case %2E dot segment (/a/%2E/b)', '/a/%2E/b', '/a/b'],
    ['resolves a half-encoded dot segment', '/x/.%2E/admin', '/admin'],
    ['decodes unreserved escapes', '/%7Euser/%41%62c', '/~user/Abc'],
    ['decodes every unreserved punctuation escape', '/%2D%5F%2E%7E', '/-_.~'],
    ['keeps an encoded slash encoded, one segment (/a%2Fb)', '/a%2Fb', '/a%2Fb'],
    ['upper-cases a kept escape', '/a%2fb', '/a%2Fb'],
    ['keeps an encoded backslash encoded (/a%5Cb)', '/a%5Cb', '/a%5Cb'],
    ['upper-cases an encoded backslash', '/a%5cb', '/a%5Cb'],
    ['does not resolve dots hidden behind encoded slashes', '/a%2F..%2Fb', '/a%2F..%2Fb'],
    ['does not treat ..%2F as a dot segment', '/x/%2e%2e%2fadmin', '/x/..%2Fadmin'],
    ['decodes only once (%252e stays %252e)', '/%252e%252e/admin', '/%252e%252e/admin'],
    ['keeps an encoded question mark and NUL encoded', '/a%3fb%00', '/a%3Fb%00'],
  ];
  for (const [title, input, path] of normalized) {
    test(`${title}: ${input} -> ${path}`, () => {
      assert.deepEqual(normalizePath(input), { ok: true, path, query: '' });
    });
  }

  const queries: [title: string, input: string, path: string, query: string][] = [
    ['keeps the query byte for byte and out of the path rules', '/a//b?x=/../y&z=%2e', '/a/b', 'x=/../y&z=%2e'],
    ['splits at the first question mark only', '/a?b?c', '/a', 'b?c'],
    ['returns an empty query for a bare question mark', '/a?', '/a', ''],
    ['leaves a malformed escape in the query to the application', '/a?x=%zz', '/a', 'x=%zz'],
    ['does not let a ? inside an escape split the target', '/a%3F/..?q', '/', 'q'],
  ];
  for (const [title, input, path, query] of queries) {
    test(`${title}: ${input}`, () => {
      assert.deepEqual(normalizePath(input), { ok: true, path, query });
    });
  }

  const refused: [title: string, input: string, reason: RegExp][] = [
    ['a fragment in the path', '/admin#frag', /#/],
    ['a fragment in the query', '/a?b#c', /#/],
    ['an escape with non-hex digits', '/a%zz', /percent-escape/],
    ['an escape cut short', '/a%4', /percent-escape/],
    ['a lone percent sign', '/a%', /percent-escape/],
    ['a relative path', 'a/b', /start with/],
    ['the asterisk form', '*', /start with/],
    ['an empty target', '', /start with/],
    ['a target that is only a query', '?x=1', /start with/],
    ['an absolute-form target (the caller strips the authority)', 'http://h/a', /start with/],
    ['a NUL byte', '/a\x00b', /control/],
    ['a space', '/a b', /control/],
    ['a tab', '/a\tb', /control/],
    ['DEL', '/a\x7fb', /control/],
    ['a control byte in the query', '/a?b=\x1b', /control/],
    ['a non-ASCII character', '/caf\u00e9', /non-ASCII/],
  ];
  for (const [title, input, reason] of refused) {
    test(`refuses ${title}: ${JSON.stringify(input)}`, () => {
      const r = normalizePath(input);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, reason);
    });
  }

  test('returns an already-normal path unchanged, whatever its query', () => {
    for (const p of ['/api/v1/items/42', '/a.b/c..d/e.', '/x/', '/~user/a-b_c']) {
      assert.deepEqual(normalizePath(`${p}?q=/../%2e`), { ok: true, path: p, query: 'q=/../%2e' });
    }
  });

  // Seeded, so a failure replays: paths built from the pieces bypasses are made of.
  const pieces = ['/', '/', '.', '..', '%2e', '%2E', '%2f', '%5C', '%41', '%7e', '%25', 'a', 'b'];
  const paths = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => `/${p.join('')}`);

  test('is idempotent: a normalized path normalizes to itself', () => {
    fc.assert(
      fc.property(paths, (raw) => {
        const once = normalizePath(raw);
        if (!once.ok) return;
        assert.deepEqual(normalizePath(once.path), once);
      }),
      { seed: 20240601, numRuns: 2000 },
    );
  });

  test('leaves no empty segment, dot segment, unreserved escape or lower-case escape', () => {
    fc.assert(
      fc.property(paths, (raw) => {
        const r = normalizePath(raw);
        if (!r.ok) return;
        assert.ok(r.path.startsWith('/'), r.path);
        const inner = r.path.slice(1).split('/');
        inner.forEach((s, k) => assert.ok((s !== '' || k === inner.length - 1) && s !== '.' && s !== '..', `${raw} -> ${r.path}`));
        assert.doesNotMatch(r.path, /%(?:[0-9A-F][a-f]|[a-f][0-9A-Fa-f])|%(?:2D|2E|5F|7E|[46][1-9A-F]|[57][0-9A]|3[0-9])/, `${raw} -> ${r.path}`);
      }),
      { seed: 20240601, numRuns: 2000 },
    );
  });
});

describe('normalizeTarget', () => {
  const cases: [title: string, input: string, target: string][] = [
    ['joins the normalized path and the untouched query', '/a/./b?q=1', '/a/b?q=1'],
    ['drops the question mark of an empty query', '/a//b?', '/a/b'],
    ['returns a target without a query as its path', '/%2e%2e/admin', '/admin'],
  ];
  for (const [title, input, target] of cases) {
    test(`${title}: ${input} -> ${target}`, () => {
      assert.deepEqual(normalizeTarget(input), { ok: true, target });
    });
  }

  test('passes a refusal through', () => {
    assert.equal(normalizeTarget('/a#b').ok, false);
  });
});

describe('escaped slashes and backslashes (CVE-2021-31920)', () => {
  const modes: [input: string, reject: string | null, unescape: string, keep: string][] = [
    ['/a%2Fb', null, '/a/b', '/a%2Fb'],
    ['/a%2fb', null, '/a/b', '/a%2Fb'],
    ['/a%5Cb', null, '/a/b', '/a%5Cb'],
    ['/public%2F..%2Fadmin', null, '/admin', '/public%2F..%2Fadmin'],
    ['/x/%2e%2e%2fadmin', null, '/admin', '/x/..%2Fadmin'],
    ['/plain/path', '/plain/path', '/plain/path', '/plain/path'],
  ];
  for (const [input, reject, unescape, keep] of modes) {
    test(`${input}: Reject ${reject ?? 'refuses'}, Unescape gives ${unescape}, Keep gives ${keep}`, () => {
      const r = normalizePath(input, 'Reject');
      if (reject === null) {
        assert.equal(r.ok, false);
        assert.match((r as { reason: string }).reason, /escaped slash/);
      } else assert.deepEqual(r, { ok: true, path: reject, query: '' });
      assert.deepEqual(normalizePath(input, 'Unescape'), { ok: true, path: unescape, query: '' });
      assert.deepEqual(normalizePath(input, 'Keep'), { ok: true, path: keep, query: '' });
    });
  }

  test('a raw backslash is a slash in every mode, so dot segments behind it resolve', () => {
    for (const mode of ['Reject', 'Unescape', 'Keep'] as const) {
      assert.deepEqual(normalizePath('/public\\..\\admin', mode), { ok: true, path: '/admin', query: '' });
      assert.deepEqual(normalizePath('/\\\\admin', mode), { ok: true, path: '/admin', query: '' });
    }
  });

  test('a backslash or escaped slash in the query is left alone', () => {
    assert.deepEqual(normalizePath('/a?x=%2F\\', 'Reject'), { ok: true, path: '/a', query: 'x=%2F\\' });
  });

  test("';' path parameters: refused, cut per segment before the dot segments, or kept", () => {
    const cases: [string, string][] = [
      ['/admin;x=1', '/admin'],
      ['/x/..;/admin', '/admin'],
      ['/a;b/c;d=e/f', '/a/c/f'],
      ['/public;/../admin', '/admin'],
      ['/a/%2e%2e;x/b', '/b'],
      ['/a;x%2Fy/b', '/a/b'],
      ['/;', '/'],
      ['/a;', '/a'],
    ];
    for (const [input, stripped] of cases) {
      assert.deepEqual(normalizePath(input, 'Reject', 'Reject'), { ok: false, reason: "the path holds a ';' path parameter, which this listener refuses (pathParameters: Reject)" }, input);
      assert.deepEqual(normalizePath(input, 'Reject', 'Strip'), { ok: true, path: stripped, query: '' }, input);
      assert.equal(normalizePath(input, 'Keep', 'Keep').ok, true, input);
    }
    assert.deepEqual(normalizePath('/admin;x=1', 'Reject', 'Keep'), { ok: true, path: '/admin;x=1', query: '' });
    // The query is not the path: a ';' there is no parameter, in any mode.
    assert.deepEqual(normalizePath('/a?x=1;y=2', 'Reject', 'Reject'), { ok: true, path: '/a', query: 'x=1;y=2' });
    // An escaped ';' is no parameter to Tomcat either.
    assert.deepEqual(normalizePath('/a%3bb', 'Reject', 'Reject'), { ok: true, path: '/a%3Bb', query: '' });
  });

  test('Strip leaves no parameter and is idempotent', () => {
    const pieces = ['/', '.', '..', ';', ';x=1', '%2e', 'a', '%3B'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), (p) => {
        const r = normalizePath(`/${p.join('')}`, 'Reject', 'Strip');
        assert.ok(r.ok);
        assert.doesNotMatch(r.path, /;/);
        assert.deepEqual(normalizePath(r.path, 'Reject', 'Strip'), r);
      }),
      { seed: 20261206, numRuns: 2000 },
    );
  });

  test('Unescape is idempotent and leaves no escaped slash', () => {
    const pieces = ['/', '.', '..', '%2e', '%2f', '%2F', '%5c', '%5C', '\\', '%25', 'a'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), (p) => {
        const r = normalizePath(`/${p.join('')}`, 'Unescape');
        if (!r.ok) return;
        assert.doesNotMatch(r.path, /%2F|%5C|\\/i);
        assert.deepEqual(normalizePath(r.path, 'Unescape'), r);
      }),
      { seed: 20261123, numRuns: 2000 },
    );
  });
});
