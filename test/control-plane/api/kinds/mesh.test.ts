// Mesh: the settings the whole mesh shares, cluster-scoped; a table of bad documents, each
// refused at exactly its paths.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import { accepted, assertViolations, type Expected } from './assert-kind.ts';

const mesh = (spec: object, metadata: object = { name: 'default' }) => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata, spec });

describe('Mesh', () => {
  test('the full form and the minimal one are accepted; get shows the defaults', () => {
    accepted(mesh({ trustDomain: 'demo.sluice.dev', mtls: { mode: 'STRICT' }, dnsDomain: 'mesh.internal' }));
    const minimal = accepted(mesh({ trustDomain: 'example.org' }));
    assert.deepEqual(findKind('mesh')!.columns.map((c) => c.value(minimal)), ['example.org', 'PERMISSIVE', 'cluster.local']);
  });

  const table: [string, object, Expected][] = [
    ['no trust domain', mesh({}), [['spec.trustDomain', /is required/]]],
    ['a trust domain with upper case', mesh({ trustDomain: 'Example.org' }), [['spec.trustDomain', /lower-case letters, digits/]]],
    ['a trust domain given as a SPIFFE ID', mesh({ trustDomain: 'spiffe://example.org' }), [['spec.trustDomain', /a trust domain name, not a URI/]]],
    ['an mTLS mode misspelled', mesh({ trustDomain: 'a.org', mtls: { mode: 'STRICTT' } }), [['spec.mtls.mode', /must be one of STRICT, PERMISSIVE, DISABLE; got 'STRICTT'; did you mean 'STRICT'\?/]]],
    ['mtls without a mode', mesh({ trustDomain: 'a.org', mtls: {} }), [['spec.mtls.mode', /is required/]]],
    ['a DNS domain that is not one', mesh({ trustDomain: 'a.org', dnsDomain: 'Cluster..local' }), [['spec.dnsDomain', /is not a DNS domain/]]],
    ['an unknown field', mesh({ trustDomain: 'a.org', trustdomain: 'b.org' }), [['spec.trustdomain', /unknown field 'trustdomain'; did you mean 'trustDomain'\?/]]],
    ['a namespace (a Mesh is cluster-scoped)', mesh({ trustDomain: 'a.org' }, { name: 'default', namespace: 'shop' }), [['metadata.namespace', /cluster-scoped/]]],
  ];
  for (const [what, doc, expected] of table) test(`refused: ${what}`, () => assertViolations(doc, expected));
});
