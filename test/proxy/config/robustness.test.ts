// Property tests: whatever a config file holds, the loader answers with a frozen config or
// a list of violations; it never throws and never crashes in the semantic pass on a
// document the schema only half accepted. fast-check prints the seed of any failure.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';

/** A valid document touching every part of the schema. */
const VALID = {
  listeners: [
    { name: 'main', address: '127.0.0.1', port: 0, protocol: 'http', limits: { maxHeaders: 50 } },
    { name: 'db', address: '127.0.0.1', port: 0, protocol: 'tcp', backend: 'api' },
  ],
  routes: [
    {
      name: 'r',
      parentRefs: [{ name: 'main' }],
      hostnames: ['*.example.com'],
      rules: [
        {
          name: 'a',
          matches: [{ path: { type: 'PathPrefix', value: '/a' }, headers: [{ name: 'x-a', value: '1' }], queryParams: [{ type: 'RegularExpression', name: 'q', value: '^x' }], method: 'GET' }],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-b', value: '2' }], remove: ['x-c'] } },
            { type: 'URLRewrite', urlRewrite: { hostname: 'b.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'api' }, percent: 5 } },
          ],
          backendRefs: [{ name: 'api', weight: 2 }],
          timeouts: { request: '2s', backendRequest: '1s' },
        },
        { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 443, statusCode: 301 } }] },
      ],
    },
  ],
  backends: [{ name: 'api', protocol: 'http2', connectTimeoutMs: 100, endpoints: [{ address: '127.0.0.1', port: 8080, weight: 1 }] }],
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path into `value`: [] is the document itself. */
function paths(value: Json, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => paths(v, [...at, i])));
  if (value !== null && typeof value === 'object') return here.concat(...Object.entries(value).map(([k, v]) => paths(v, [...at, k])));
  return here;
}

/** A copy of `doc` with the value at `path` replaced or removed (`undefined`); as is when an earlier mutation took the path away. */
function mutate(doc: Json, path: (string | number)[], replacement: Json | undefined): Json {
  if (path.length === 0) return replacement ?? null;
  if (doc === null || typeof doc !== 'object') return doc;
  const copy = structuredClone(doc) as Record<string | number, Json>;
  let parent = copy;
  for (const key of path.slice(0, -1)) {
    const next = parent[key];
    if (next === null || typeof next !== 'object') return doc;
    parent = next as Record<string | number, Json>;
  }
  const last = path[path.length - 1];
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = replacement;
  return copy;
}

const ALL_PATHS = paths(VALID as unknown as Json);
const INTERESTING: Json[] = ['', '/', '*', '(', 'Exact', 'RegularExpression', 'ReplaceFullPath', 'RequestRedirect', 'URLRewrite', 'tcp', 'api', 'main', 'x\r\ny', -1, 0, 1, 65536, 1.5, true, null, [], {}, [{}], { name: 'api' }];

const mutation = fc.record({
  path: fc.integer({ min: 0, max: ALL_PATHS.length - 1 }).map((i) => ALL_PATHS[i]),
  replacement: fc.oneof(fc.constantFrom<Json | undefined>(...INTERESTING, undefined), fc.jsonValue() as fc.Arbitrary<Json>),
});

describe('the static config loader under arbitrary input', () => {
  test('accepts the unmutated document', () => {
    const r = parseStaticConfig(stringify(VALID));
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.error));
  });

  test('answers every mutated document with a frozen config or violations that each have a path and a message', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let doc = VALID as unknown as Json;
        for (const m of mutations) doc = mutate(doc, m.path, m.replacement);
        const r = parseStaticConfig(stringify(doc));
        if (r.ok) {
          assert.ok(Object.isFrozen(r.value) && Object.isFrozen(r.value.listeners[0]));
          return;
        }
        assert.ok(r.error.length > 0);
        for (const v of r.error) assert.ok(v.path !== '' && v.message !== '', JSON.stringify(v));
        assert.equal(new Set(r.error.map((v) => `${v.path}: ${v.message}`)).size, r.error.length, 'no violation twice');
      }),
      { numRuns: 1500 },
    );
  });

  test('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const r = parseStaticConfig(text);
        assert.ok(r.ok || r.error.length > 0);
      }),
      { numRuns: 1000 },
    );
  });
});
