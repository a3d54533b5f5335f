// SPIFFE ID parsing against the SPIFFE-ID standard: each rule of the standard has a row
// below with the exact refusal a user sees.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSpiffeId, parseTrustDomain, workloadId, workloadOf } from '../../certs/spiffe-id.ts';

const LONG_ID = `spiffe://example.org/${'a'.repeat(2049 - 'spiffe://example.org/'.length)}`;
const LONG_TD = `${'a'.repeat(252)}.org`;

describe('parseSpiffeId accepts', () => {
  test('a trust-domain-only ID, with an empty path', () => {
    assert.deepEqual(parseSpiffeId('spiffe://example.org'), {
      ok: true,
      value: { trustDomain: 'example.org', path: '', uri: 'spiffe://example.org' },
    });
  });

  test('a workload ID with namespace and service account segments', () => {
    assert.deepEqual(parseSpiffeId('spiffe://example.org/ns/default/sa/web'), {
      ok: true,
      value: { trustDomain: 'example.org', path: '/ns/default/sa/web', uri: 'spiffe://example.org/ns/default/sa/web' },
    });
  });

  test("'.', '-' and '_' in the trust domain and in path segments", () => {
    assert.deepEqual(parseSpiffeId('spiffe://td.example_1/a.b-c_d'), {
      ok: true,
      value: { trustDomain: 'td.example_1', path: '/a.b-c_d', uri: 'spiffe://td.example_1/a.b-c_d' },
    });
  });

  test('upper-case letters in path segments, which only the trust domain forbids', () => {
    const r = parseSpiffeId('spiffe://example.org/Payments/V2');
    assert.ok(r.ok);
    assert.equal(r.value.path, '/Payments/V2');
  });

  test('an ID of exactly 2048 bytes and a trust domain of exactly 255 characters', () => {
    assert.equal(parseSpiffeId(LONG_ID.slice(0, -1)).ok, true);
    assert.equal(parseSpiffeId(`spiffe://${LONG_TD.slice(1)}/x`).ok, true);
  });

  test('returns a frozen value', () => {
    const r = parseSpiffeId('spiffe://example.org/x');
    assert.ok(r.ok);
    assert.ok(Object.isFrozen(r.value));
  });
});

// One row per rule of the standard; `rule` is the test title.
const REFUSALS: readonly { rule: string; input: string; error: string }[] = [
  { rule: 'an empty string is not an ID', input: '', error: 'a SPIFFE ID may not be empty' },
  {
    rule: 'the scheme must be lower case',
    input: 'SPIFFE://example.org/x',
    error: "the scheme must be 'spiffe://' in lower case; got 'SPIFFE://'",
  },
  {
    rule: "the scheme must be followed by '//'",
    input: 'spiffe:/example.org',
    error: "a SPIFFE ID must start with 'spiffe://'; got 'spiffe:/example.org'",
  },
  {
    rule: 'the scheme must be spiffe',
    input: 'https://example.org/x',
    error: "a SPIFFE ID must start with 'spiffe://'; got 'https://example.org/x'",
  },
  { rule: 'the trust domain may not be missing', input: 'spiffe://', error: 'the trust domain may not be empty' },
  { rule: 'the trust domain may not be empty before a path', input: 'spiffe:///path', error: 'the trust domain may not be empty' },
  {
    rule: 'the trust domain may not contain upper-case letters',
    input: 'spiffe://Example.org/x',
    error: "the trust domain may contain only lower-case letters, digits, '.', '-' and '_'; got 'Example.org'",
  },
  {
    rule: 'the trust domain may not contain a port',
    input: 'spiffe://example.org:8080/x',
    error: "the trust domain may not contain a port (':'); got 'example.org:8080'",
  },
  {
    rule: 'the trust domain may not contain user info',
    input: 'spiffe://user@example.org/x',
    error: "the trust domain may not contain user info ('@'); got 'user@example.org'",
  },
  {
    rule: 'the trust domain may not be an IP literal',
    input: 'spiffe://[::1]/x',
    error: "the trust domain may not be an IP literal ('[...]'); got '[::1]'",
  },
  {
    rule: 'the trust domain may not be percent-encoded',
    input: 'spiffe://example%2Eorg/x',
    error: "the trust domain may not be percent-encoded ('%'); got 'example%2Eorg'",
  },
  {
    rule: 'the trust domain may not be a wildcard',
    input: 'spiffe://*.example.org/x',
    error: "the trust domain may not contain a wildcard ('*'); got '*.example.org'",
  },
  {
    rule: 'the trust domain may be at most 255 characters',
    input: `spiffe://${LONG_TD}/x`,
    error: 'the trust domain may be at most 255 characters long; got 256',
  },
  {
    rule: "the path may not end with '/' (even a bare '/')",
    input: 'spiffe://example.org/',
    error: "the path may not end with '/'; got '/'",
  },
  {
    rule: "the path may not end with '/' after a segment",
    input: 'spiffe://example.org/ns/',
    error: "the path may not end with '/'; got '/ns/'",
  },
  {
    rule: 'a path segment may not be empty',
    input: 'spiffe://example.org//x',
    error: "a path segment may not be empty ('//'); got '//x'",
  },
  { rule: "a path segment may not be '.'", input: 'spiffe://example.org/./x', error: "a path segment may not be '.'" },
  { rule: "a path segment may not be '..'", input: 'spiffe://example.org/../x', error: "a path segment may not be '..'" },
  {
    rule: 'a path segment may not be percent-encoded',
    input: 'spiffe://example.org/a%2Fb',
    error: "a path segment may not be percent-encoded ('%'); got 'a%2Fb'",
  },
  {
    rule: 'a path segment may not be a wildcard',
    input: 'spiffe://example.org/*',
    error: "a path segment may not contain a wildcard ('*'); got '*'",
  },
  {
    rule: 'a path segment may not contain a space',
    input: 'spiffe://example.org/a b',
    error: "a path segment may contain only letters, digits, '.', '-' and '_'; got 'a b'",
  },
  {
    rule: 'an ID may not have a query',
    input: 'spiffe://example.org/x?y=1',
    error: "a SPIFFE ID may not have a query ('?'); got 'spiffe://example.org/x?y=1'",
  },
  {
    rule: 'an ID may not have a query right after the trust domain',
    input: 'spiffe://example.org?y=1',
    error: "a SPIFFE ID may not have a query ('?'); got 'spiffe://example.org?y=1'",
  },
  {
    rule: 'an ID may not have a fragment',
    input: 'spiffe://example.org/x#frag',
    error: "a SPIFFE ID may not have a fragment ('#'); got 'spiffe://example.org/x#frag'",
  },
  {
    rule: 'an ID may be at most 2048 bytes',
    input: LONG_ID,
    error: 'a SPIFFE ID may be at most 2048 bytes long; got 2049',
  },
  {
    rule: 'the 2048 limit counts UTF-8 bytes, not characters',
    input: `spiffe://example.org/${'é'.repeat(1014)}`,
    error: 'a SPIFFE ID may be at most 2048 bytes long; got 2049',
  },
];

describe('parseSpiffeId refuses', () => {
  for (const { rule, input, error } of REFUSALS) {
    test(rule, () => {
      assert.deepEqual(parseSpiffeId(input), { ok: false, error });
    });
  }
});

describe('parseTrustDomain', () => {
  test('accepts a bare trust domain name', () => {
    assert.deepEqual(parseTrustDomain('td.example_1'), { ok: true, value: 'td.example_1' });
  });

  test('refuses a spiffe:// URI, which belongs in a SPIFFE ID, not in --trust-domain', () => {
    assert.deepEqual(parseTrustDomain('spiffe://example.org'), {
      ok: false,
      error: "expected a trust domain name, not a URI; got 'spiffe://example.org'",
    });
  });

  test('refuses a name followed by a path', () => {
    assert.deepEqual(parseTrustDomain('example.org/x'), {
      ok: false,
      error: "the trust domain may contain only lower-case letters, digits, '.', '-' and '_'; got 'example.org/x'",
    });
  });

  test('refuses what a SPIFFE ID refuses in its trust domain, with the same words', () => {
    for (const td of ['', 'Example.org', 'example.org:8080', 'user@example.org', '[::1]', '*.example.org', LONG_TD]) {
      const viaId = parseSpiffeId(`spiffe://${td}/x`);
      assert.equal(viaId.ok, false, td);
      assert.deepEqual(parseTrustDomain(td), viaId, td);
    }
  });
});

describe('workload IDs', () => {
  test('workloadId spells spiffe://<td>/ns/<ns>/sa/<sa>', () => {
    assert.equal(workloadId('example.org', 'default', 'web'), 'spiffe://example.org/ns/default/sa/web');
  });

  test('workloadOf reads back what workloadId wrote', () => {
    const r = parseSpiffeId(workloadId('cluster.local', 'payments-v2', 'api.reader'));
    assert.ok(r.ok);
    assert.deepEqual(workloadOf(r.value), { namespace: 'payments-v2', serviceAccount: 'api.reader' });
  });

  test('workloadOf is null unless the path is exactly /ns/<ns>/sa/<sa>', () => {
    for (const uri of [
      'spiffe://example.org',
      'spiffe://example.org/ns/default',
      'spiffe://example.org/ns/default/sa',
      'spiffe://example.org/ns/default/sa/web/extra',
      'spiffe://example.org/sa/web/ns/default',
      'spiffe://example.org/NS/default/SA/web',
    ]) {
      const r = parseSpiffeId(uri);
      assert.ok(r.ok, uri);
      assert.equal(workloadOf(r.value), null, uri);
    }
  });

  test('workloadId asserts rather than return an ID that would not parse', () => {
    assert.throws(() => workloadId('Example.org', 'default', 'web'), { code: 'ERR_ASSERTION' });
    assert.throws(() => workloadId('example.org', '', 'web'), { code: 'ERR_ASSERTION' });
  });
});
