// The envelope every kind shares (apiVersion, kind, metadata, unknown top-level fields),
// and how schema and rule violations of one document are reported together.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateResource } from '../../../control-plane/api/validate.ts';

const paths = (doc: unknown) => {
  const r = validateResource(doc);
  return r.ok ? [] : r.violations.map((v) => `${v.path}: ${v.message}`);
};
const route = (spec: object, metadata: object = { name: 'r' }) => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], ...spec } });

describe('resource envelope', () => {
  const table: [string, unknown, RegExp[]][] = [
    ['not a mapping', [1], [/^\(document\): must be a mapping/]],
    ['no kind, no apiVersion', { metadata: { name: 'x' } }, [/^apiVersion: is required/, /^kind: is required/]],
    ['a kind misspelled', { apiVersion: 'v1', kind: 'Sevrice', metadata: { name: 'x' }, spec: {} }, [/^kind: unknown kind 'Sevrice'; did you mean 'Service'\?/]],
    ['a kind at another version', { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'HTTPRoute', metadata: { name: 'x' }, spec: {} }, [/^apiVersion: HTTPRoute is served as gateway.networking.k8s.io\/v1; got/]],
    ['no metadata, no spec', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh' }, [/^metadata: is required/, /^spec: is required/]],
    ['an unknown top-level field', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'm' }, spec: { trustDomain: 'a.org' }, sepc: {} }, [/^sepc: unknown field 'sepc'; did you mean 'spec'\?/]],
    ['a namespace on a cluster-scoped kind', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'm', namespace: 'x' }, spec: { trustDomain: 'a.org' } }, [/^metadata.namespace: a Mesh is cluster-scoped/]],
    ['bad names, namespace, labels and annotations', route({}, { name: 'R_1', namespace: 'Shop', labels: { 'app.kubernetes.io/name': 'a b', 'bad key!': 'x' }, annotations: { '/x': 'y' } }), [
      /^metadata.name: 'R_1' is not a valid HTTPRoute name/,
      /^metadata.namespace: 'Shop' is not a valid namespace/,
      /^metadata.labels\["app.kubernetes.io\/name"\]: 'a b' is not a valid label value/,
      /^metadata.labels\["bad key!"\]: 'bad key!' is not a valid label key/,
      /^metadata.annotations\["\/x"\]: '\/x' is not a valid annotation key/,
    ]],
    ['a Service name must start with a letter (it becomes a DNS name)', { apiVersion: 'v1', kind: 'Service', metadata: { name: '1orders' }, spec: { ports: [{ port: 80 }] } }, [/^metadata.name: '1orders' is not a valid Service name: use a DNS-1035 label/]],
  ];
  for (const [what, doc, want] of table) {
    test(what, () => {
      const got = paths(doc);
      assert.equal(got.length, want.length, got.join('\n'));
      want.forEach((re, i) => assert.match(got[i], re));
    });
  }

  test('an absent namespace is filled with the default one given; a valid document comes back whole', () => {
    const r = validateResource(route({ rules: [{ backendRefs: [{ name: 'orders', port: 80 }] }] }), 'shop');
    assert.ok(r.ok);
    assert.equal(r.resource.metadata.namespace, 'shop');
    assert.equal(r.kind.kind, 'HTTPRoute');
  });

  test('an unknown field does not hide the rules broken beside it, but what a misspelled field would say is not repeated', () => {
    const got = paths(route({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: 'x' } }], backendRefs: [{ name: 'orders', wieght: 3 }] }] }));
    assert.deepEqual(got.map((g) => g.split(':')[0]).sort(), ['spec.rules[0].backendRefs[0].port', 'spec.rules[0].backendRefs[0].wieght', 'spec.rules[0].matches[0].path.value']);
  });

  test('a wrong type stops the rules (they would read what is not there), and the schema errors are all reported', () => {
    const got = paths(route({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: 'x' } }], backendRefs: [{ name: 'orders', port: '80' }] }] }));
    assert.deepEqual(got.map((g) => g.split(':')[0]), ['spec.rules[0].backendRefs[0].port']);
  });
});
