// Workload as an API resource: one instance outside Kubernetes, selected by its labels as
// a Pod is; every mistake reported at its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import { validateResource } from '../../../../control-plane/api/validate.ts';
import { accepted, assertViolations, type Expected } from './assert-kind.ts';

const GREETER_A = `
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata: { name: greeter-a, namespace: default, labels: { app: greeter, version: v1 } }
spec:
  address: 127.0.0.1
  ports: { grpc: 50061 }   # Service port name -> the port this instance listens on
  zone: dc-1
  serviceAccount: greeter
`;

function workload(spec: string): object {
  return { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: 'vm-7', namespace: 'shop', labels: { app: 'orders' } }, spec: parse(spec) };
}

describe('Workload', () => {
  test('accepts a VM instance with its address, named ports, zone and service account', () => {
    const r = validateResource(parse(GREETER_A));
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.violations));
    assert.equal(r.kind.kind, 'Workload');
    assert.deepEqual(r.resource.metadata.labels, { app: 'greeter', version: 'v1' });
  });

  test('accepts a DNS name, an IPv6 address, a weight, and no ports at all', () => {
    for (const spec of ['{ address: vm-7.dc1.example.internal, weight: 10 }', `{ address: 'fd00::7', ports: { http: 8080, metrics-admin: 9102 } }`, '{ address: localhost }']) {
      const r = validateResource(workload(spec));
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.violations));
    }
  });

  test('accepts the Service ports its app calls, each on a local port, in its own namespace or another', () => {
    const r = accepted(workload('{ address: 10.0.3.7, ports: { http: 8080 }, outbound: [{ service: redis, port: 6379, localPort: 16379 }, { service: web, namespace: front, port: 80, localPort: 18080 }] }'));
    assert.deepEqual((r.spec as { outbound: unknown[] }).outbound[1], { service: 'web', namespace: 'front', port: 80, localPort: 18080 });
  });

  test('is found as wl, gets a CRD, and lists address, ports, zone and service account (default "default")', () => {
    const kind = findKind('wl');
    assert.equal(kind?.kind, 'Workload');
    assert.equal(kind!.crd, true);
    assert.match(kind!.description, /default 'default'/);
    const rows = (doc: object) => {
      const r = validateResource(doc);
      assert.ok(r.ok);
      return kind!.columns.map((c) => [c.name, c.value(r.resource)]);
    };
    assert.deepEqual(rows(parse(GREETER_A)), [['ADDRESS', '127.0.0.1'], ['PORTS', 'grpc:50061'], ['ZONE', 'dc-1'], ['SERVICE ACCOUNT', 'greeter']]);
    assert.deepEqual(rows(workload('{ address: 10.0.3.7 }')), [['ADDRESS', '10.0.3.7'], ['PORTS', '<none>'], ['ZONE', '<none>'], ['SERVICE ACCOUNT', 'default']]);
  });

  const BAD: readonly (readonly [string, object, Expected])[] = [
    ['no address', workload('{ ports: { grpc: 50061 } }'), [['spec.address', /is required/]]],
    ['an address that is neither an IP nor a DNS name', workload('{ address: 10.0.3 }'), [['spec.address', /must be an IP address \(10.0.3.7, fd00::7\) or a DNS name \(vm-7.example.internal\); got '10.0.3'/]]],
    ['an address with a space', workload(`{ address: 'vm 7' }`), [['spec.address', /must be an IP address .* or a DNS name/]]],
    ['an unknown field, with the one meant', workload('{ address: 10.0.3.7, port: { grpc: 50061 } }'), [['spec.port', /unknown field 'port'; did you mean 'ports'\?/]]],
    ['an unknown field, listing the known ones', workload('{ address: 10.0.3.7, service: greeter }'), [['spec.service', /unknown field 'service'; known fields: address, ports, zone, serviceAccount, weight/]]],
    ['a port out of range', workload('{ address: 10.0.3.7, ports: { grpc: 0 } }'), [['spec.ports.grpc', /must be between 1 and 65535; got 0/]]],
    ['a quoted port', workload(`{ address: 10.0.3.7, ports: { grpc: '50061' } }`), [['spec.ports.grpc', /must be a whole number; got '50061'/]]],
    ['ports as a list', workload('{ address: 10.0.3.7, ports: [50061] }'), [['spec.ports', /must be a mapping; got a list/]]],
    ['a port name that is not a Service port name', workload('{ address: 10.0.3.7, ports: { GRPC: 50061, http_2: 8080 } }'), [
      ['spec.ports.GRPC', /'GRPC' is not a Service port name: use lower-case letters, digits and '-'/],
      ['spec.ports.http_2', /'http_2' is not a Service port name/],
    ]],
    ['a service account that is not a DNS subdomain', workload('{ address: 10.0.3.7, serviceAccount: Greeter }'), [['spec.serviceAccount', /'Greeter' is not a valid DNS subdomain/]]],
    ['a zone with a space', workload(`{ address: 10.0.3.7, zone: 'dc 1' }`), [['spec.zone', /'dc 1' is not a valid zone name: at most 63 letters, digits/]]],
    ['an empty zone', workload(`{ address: 10.0.3.7, zone: '' }`), [['spec.zone', /must not be empty/]]],
    ['a weight of 0', workload('{ address: 10.0.3.7, weight: 0 }'), [['spec.weight', /must be between 1 and 1000000; got 0/]]],
    ['a label a Service could not select by', { ...workload('{ address: 10.0.3.7 }'), metadata: { name: 'vm-7', labels: { app: 'orders v2' } } }, [['metadata.labels.app', /not a valid label value/]]],
    ['an outbound entry without its port and local port', workload('{ address: 10.0.3.7, outbound: [{ service: redis }] }'), [
      ['spec.outbound[0].port', /is required/],
      ['spec.outbound[0].localPort', /is required/],
    ]],
    ['an outbound entry naming a Service by a name no Service has, or with a field of its own', workload(`{ address: 10.0.3.7, outbound: [{ service: Redis_1, namespace: 'a.b', port: 6379, localPort: 16379, protocol: tcp }] }`), [
      ['spec.outbound[0].service', /not a valid DNS label/],
      ['spec.outbound[0].namespace', /not a valid DNS label/],
      ['spec.outbound[0].protocol', /unknown field 'protocol'/],
    ]],
    ['a local port out of range', workload('{ address: 10.0.3.7, outbound: [{ service: redis, port: 6379, localPort: 0 }] }'), [['spec.outbound[0].localPort', /must be between 1 and 65535; got 0/]]],
    ['a local port taken twice', workload('{ address: 10.0.3.7, outbound: [{ service: redis, port: 6379, localPort: 16379 }, { service: web, port: 80, localPort: 16379 }] }'), [
      ['spec.outbound[1].localPort', /16379 is already the localPort of spec.outbound\[0\]/],
    ]],
    ['a local port the Workload serves a Service port on (its inbound listener)', workload('{ address: 10.0.3.7, ports: { http: 8080 }, outbound: [{ service: web, port: 80, localPort: 8080 }] }'), [
      ['spec.outbound[0].localPort', /8080 is the port this Workload serves Service port 'http' on \(spec.ports.http\)/],
    ]],
    ["the proxy's own default ports", workload('{ address: 10.0.3.7, outbound: [{ service: a, port: 1, localPort: 15000 }, { service: b, port: 1, localPort: 15001 }, { service: c, port: 1, localPort: 15020 }] }'), [
      ['spec.outbound[0].localPort', /the proxy's default admin port/],
      ['spec.outbound[1].localPort', /the proxy's default outbound port/],
      ['spec.outbound[2].localPort', /the proxy's default stats port/],
    ]],
    [
      'every mistake in one document',
      workload(`{ address: '-bad-', ports: { Web: 80 }, zone: 'a/b' }`),
      [
        ['spec.address', /must be an IP address/],
        ['spec.ports.Web', /not a Service port name/],
        ['spec.zone', /not a valid zone name/],
      ],
    ],
  ];

  for (const [title, doc, expected] of BAD) test(`refuses ${title}`, () => assertViolations(doc, expected));
});
