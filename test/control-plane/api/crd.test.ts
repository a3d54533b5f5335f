// deploy/crds/ is generated from the kinds' schemas; this fails when it is stale (run
// `npm run gen:crds`) or when a schema has no structural form Kubernetes would accept.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { crdFiles, generatedFiles, structural } from '../../../control-plane/api/crd.ts';
import { KINDS } from '../../../control-plane/api/descriptors.ts';

const DIR = fileURLToPath(new URL('../../../deploy/crds/', import.meta.url));

/** Every node of a structural schema: typed (or int-or-string), no additionalProperties: false, no unions. */
function assertStructural(s: Record<string, unknown>, path: string): void {
  assert.ok(s.type !== undefined || s['x-kubernetes-int-or-string'] === true, `${path} has no type`);
  assert.notEqual(s.additionalProperties, false, `${path} has additionalProperties: false`);
  for (const key of ['anyOf', 'oneOf', 'allOf', 'patternProperties', 'const']) assert.equal(s[key], undefined, `${path} has ${key}`);
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) assertStructural(v, `${path}.${k}`);
  if (typeof s.additionalProperties === 'object') assertStructural(s.additionalProperties as Record<string, unknown>, `${path}.*`);
  if (s.items !== undefined) assertStructural(s.items as Record<string, unknown>, `${path}[]`);
}

describe('CRDs', () => {
  test('deploy/crds/ holds exactly the generated CRDs and their kustomization (run `npm run gen:crds` after changing a kind)', () => {
    const want = generatedFiles();
    assert.ok(want.has('kustomization.yaml'));
    assert.deepEqual(parse(want.get('kustomization.yaml')!).resources, [...crdFiles().keys()]);
    const have = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(have, [...want.keys()].sort());
    for (const [name, text] of want) assert.equal(readFileSync(`${DIR}/${name}`, 'utf8'), text, `${name} is stale`);
  });

  test('every Sluice kind has one, named <plural>.<group>, with its scope, names and a structural schema', () => {
    const sluiceKinds = KINDS.filter((k) => k.group === 'mesh.sluice.dev');
    assert.ok(sluiceKinds.length > 0);
    for (const kind of sluiceKinds) {
      assert.equal(kind.crd, true, `${kind.kind} is a Sluice kind and needs a CRD`);
      const crd = parse(crdFiles().get(`${kind.group}_${kind.plural}.yaml`)!);
      assert.equal(crd.metadata.name, `${kind.plural}.${kind.group}`);
      assert.equal(crd.spec.scope, kind.scope);
      assert.equal(crd.spec.names.kind, kind.kind);
      const version = crd.spec.versions[0];
      assert.equal(version.name, kind.version);
      assertStructural(version.schema.openAPIV3Schema.properties.spec, `${kind.kind}.spec`);
      assert.ok(version.additionalPrinterColumns.some((c: { name: string }) => c.name === 'Age'));
      assert.deepEqual(version.subresources, { status: {} }, `${kind.kind} has the status subresource`);
      assertStructural(version.schema.openAPIV3Schema.properties.status, `${kind.kind}.status`);
    }
  });

  test('the structural form: closed objects open up, maps become additionalProperties, int-or-string is marked', () => {
    const s = structural({
      type: 'object',
      additionalProperties: false,
      required: ['a'],
      properties: {
        a: { enum: ['X', 'Y'] },
        labels: { type: 'object', patternProperties: { '^.*$': { type: 'string' } } },
        port: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
        n: { const: 3 },
      },
    });
    assert.deepEqual(s, {
      type: 'object',
      required: ['a'],
      properties: { a: { enum: ['X', 'Y'], type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } }, port: { 'x-kubernetes-int-or-string': true }, n: { enum: [3], type: 'integer' } },
    });
    assert.throws(() => structural({ anyOf: [{ type: 'string' }, { type: 'boolean' }] }), /no structural form/);
  });
});
