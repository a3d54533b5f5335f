// The CLI's printers on their own: kubectl's table and ages, and the unified diff that
// `sluicectl diff` prints, checked against GNU diff -u's output for the same texts.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unifiedDiff } from '../../../control-plane/cli/print/diff.ts';
import { canonical, sameContent } from '../../../control-plane/cli/print/resource.ts';
import { formatTable, shortAge } from '../../../control-plane/cli/print/table.ts';

describe('table', () => {
  test('headers are upper case, columns two spaces apart, the last one unpadded', () => {
    assert.equal(formatTable(['name', 'trust domain', 'age'], [['default', 'mesh.example', '3h'], ['a', 'b', '45s']]), 'NAME     TRUST DOMAIN  AGE\ndefault  mesh.example  3h\na        b             45s\n');
  });

  test('ages take the largest whole unit, as kubectl prints them', () => {
    const s = 1000;
    assert.deepEqual(
      [0, 45 * s, 59 * s, 60 * s, 12 * 60 * s, 3 * 3600 * s, 23 * 3600 * s + 59 * 60 * s, 5 * 86_400 * s, 400 * 86_400 * s, -500, -5 * s].map(shortAge),
      ['0s', '45s', '59s', '1m', '12m', '3h', '23h', '5d', '1y', '0s', '<invalid>'],
    );
  });
});

describe('unified diff', () => {
  const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
  const b = [...a.slice(0, 2), 'X', ...a.slice(3, 15), ...a.slice(16), 'new'];

  test('prints hunks with three lines of context and diff -u headers', () => {
    assert.equal(
      unifiedDiff(a.join('\n') + '\n', b.join('\n') + '\n', 'live', 'applied'),
      '--- live\n+++ applied\n' +
        '@@ -1,6 +1,6 @@\n l0\n l1\n-l2\n+X\n l3\n l4\n l5\n' +
        '@@ -13,8 +13,8 @@\n l12\n l13\n l14\n-l15\n l16\n l17\n l18\n l19\n+new\n',
    );
  });

  test('is empty for equal texts, and all additions against nothing', () => {
    assert.equal(unifiedDiff('x\ny\n', 'x\ny\n', 'a', 'b'), '');
    assert.equal(unifiedDiff('', 'x\ny\n', 'live', 'applied'), '--- live\n+++ applied\n@@ -0,0 +1,2 @@\n+x\n+y\n');
  });
});

describe('resource comparison', () => {
  test('key order and server-set metadata are not differences; a value is', () => {
    const live = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'd', uid: 'u', resourceVersion: '7', generation: 2, creationTimestamp: 't' }, spec: { ports: [{ port: 80, name: 'http' }] } };
    const doc = { kind: 'Service', apiVersion: 'v1', spec: { ports: [{ name: 'http', port: 80 }] }, metadata: { namespace: 'd', name: 'a' } };
    assert.ok(sameContent(live, doc));
    assert.ok(!sameContent(live, { ...doc, spec: { ports: [{ name: 'http', port: 81 }] } }));
    assert.deepEqual(Object.keys(canonical(doc) as object), ['apiVersion', 'kind', 'metadata', 'spec']);
  });
});
