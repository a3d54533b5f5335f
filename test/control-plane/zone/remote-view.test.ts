// Remote zones in the view (issue 18): a Service is one Service across zones by
// namespace/name; each remote zone with an ingress and instances adds ONE endpoint per
// Service port (its ingress, weight = its instances, zone = that zone, the SAN list gains
// its identities); a Service known only remotely still gets clusters here. Without remote
// zones the view is what it always was (a golden written before remote zones existed).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { loadAssignments, outboundClusters } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, type MeshInputs } from '../../../control-plane/xds/mesh-view.ts';
import type { ZoneSummary } from '../../../control-plane/zone/model.ts';
import { assertGoldenJson, readable } from '../../helpers/golden.ts';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;
const svc = (name: string, ports: { name?: string; port: number; appProtocol?: string }[]): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector: { app: name }, ports } });
const wl = (name: string, app: string, zone?: string): Resource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'shop', labels: { app } },
  spec: { address: `10.0.0.${name.length}`, ports: { http: 8080 }, serviceAccount: app, ...(zone === undefined ? {} : { zone }) },
});
const INPUTS: MeshInputs = {
  revision: 3,
  meshes: [],
  services: [svc('orders', [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }]), svc('billing', [{ name: 'tcp-db', port: 5432 }])] as never,
  workloads: [wl('orders-1', 'orders', 'onprem'), wl('orders-22', 'orders', 'onprem'), wl('billing-1', 'billing')] as never,
  httpRoutes: [],
  grpcRoutes: [],
  trustBundle: 'pem',
  defaultTrustDomain: 'example.org',
};
const TD = 'spiffe://example.org/ns/shop/sa';
const cloud: ZoneSummary = {
  zone: 'cloud',
  ingress: { address: '198.51.100.7', port: 15443 },
  online: true,
  lastSync: '2026-12-06T12:00:00Z',
  services: [
    { namespace: 'shop', name: 'orders', ports: [{ name: 'http', port: 80, instances: 3, identities: [`${TD}/orders`, `${TD}/orders-canary`] }, { name: 'admin', port: 8081, instances: 1, identities: [`${TD}/orders`] }] },
    { namespace: 'shop', name: 'payments', ports: [{ name: 'grpc', port: 7070, instances: 2, identities: [`${TD}/payments`] }, { port: 7071, appProtocol: 'redis', instances: 0, identities: [] }] },
  ],
};
const dc: ZoneSummary = { zone: 'dc-vm', ingress: { address: '192.0.2.9', port: 15443 }, online: false, lastSync: '2026-12-06T11:00:00Z', services: [{ namespace: 'shop', name: 'payments', ports: [{ name: 'grpc', port: 7070, instances: 1, identities: [`${TD}/payments`] }] }] };
const noIngress: ZoneSummary = { zone: 'edge', ingress: null, online: true, lastSync: '2026-12-06T12:00:00Z', services: [{ namespace: 'shop', name: 'orders', ports: [{ name: 'http', port: 80, instances: 5, identities: [`${TD}/orders`] }] }] };

const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x instanceof Set ? [...x] : x)));

test('without remote zones the view, its clusters and load assignments are what they were before zones (golden)', () => {
  const view = buildMeshView(INPUTS);
  assertGoldenJson(GOLDEN, 'standalone-view.json', { services: plain(view.services), served: plain(view.served), assignments: loadAssignments(view) });
  // An empty list, or a summary of this zone only, changes nothing either (a local zone puts
  // the Workloads with no spec.zone in it, so that case is compared with the local zone alone).
  const local = buildMeshView({ ...INPUTS, localZone: 'cloud' });
  for (const [base, extra] of [[view, { remoteZones: [] }], [local, { localZone: 'cloud', remoteZones: [cloud] }]] as const) {
    const other = buildMeshView({ ...INPUTS, ...extra });
    assert.deepEqual(plain(other.services), plain(base.services));
    assert.deepEqual(readable(outboundClusters(other, 'proxy')), readable(outboundClusters(base, 'proxy')));
  }
});

test('a remote zone adds one endpoint per Service port: its ingress, weighted by its instances, in its zone, with its identities', () => {
  const view = buildMeshView({ ...INPUTS, localZone: 'onprem', remoteZones: [cloud, noIngress] });
  const orders = view.services.get('shop/orders')!;
  assert.deepEqual(orders.ports.map((p) => p.port), [80, 9090], 'the local Service keeps its own ports: the remote admin port 8081 is not added');
  const http = orders.ports[0];
  assert.deepEqual(http.endpoints.map((e) => [e.address, e.port, e.weight, e.zone]), [['10.0.0.8', 8080, 1, 'onprem'], ['10.0.0.9', 8080, 1, 'onprem'], ['198.51.100.7', 15443, 3, 'cloud']]);
  assert.deepEqual(http.endpoints[2].remote, { identities: [`${TD}/orders`, `${TD}/orders-canary`] });
  assert.deepEqual(orders.ports[1].endpoints.length, 2, 'cloud has no instance of port 9090: nothing added');
  // A remote ingress endpoint serves nothing of this zone.
  assert.deepEqual([...view.served.keys()].sort(), ['shop/billing-1', 'shop/orders-1', 'shop/orders-22']);

  const cla = loadAssignments(view).find((c) => c.cluster_name === 'outbound|80||orders.shop.svc.cluster.local') as { endpoints: { locality: object; load_balancing_weight: { value: number }; lb_endpoints: unknown[] }[] };
  assert.deepEqual(cla.endpoints.map((l) => [l.locality, l.load_balancing_weight.value, l.lb_endpoints.length]), [[{ zone: 'cloud' }, 3, 1], [{ zone: 'onprem' }, 2, 2]]);
  const cluster = readable(outboundClusters(view, 'proxy').find((c) => c.name === 'outbound|80||orders.shop.svc.cluster.local')) as { transport_socket: { typed_config: { sni: string; common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: { exact: string } }[] } } } } } };
  const tlsContext = cluster.transport_socket.typed_config;
  assert.equal(tlsContext.sni, 'outbound_.80_._.orders.shop.svc.cluster.local');
  assert.deepEqual(tlsContext.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map((m) => m.matcher.exact), [`${TD}/orders`, `${TD}/orders-canary`]);
});

test('a Service known only from remote zones gets its ports from the summaries and one endpoint per zone with instances', () => {
  const view = buildMeshView({ ...INPUTS, localZone: 'onprem', remoteZones: [dc, cloud] });
  const payments = view.services.get('shop/payments')!;
  assert.equal(payments.host, 'payments.shop.svc.cluster.local');
  // 7071 has no instance anywhere: no port (its cluster would have no identity to check).
  assert.deepEqual(payments.ports.map((p) => [p.name, p.port, p.protocol, p.sniffed]), [['grpc', 7070, 'grpc', false]]);
  assert.deepEqual(payments.ports[0].endpoints.map((e) => [e.workload, e.address, e.weight, e.zone]), [['zone-ingress.cloud', '198.51.100.7', 2, 'cloud'], ['zone-ingress.dc-vm', '192.0.2.9', 1, 'dc-vm']]);
  // In key order whatever order the zones came in, and with clusters of its own.
  assert.deepEqual([...view.services.keys()], ['shop/billing', 'shop/orders', 'shop/payments']);
  assert.deepEqual(plain(buildMeshView({ ...INPUTS, localZone: 'onprem', remoteZones: [cloud, dc] }).services), plain(view.services));
  const names = outboundClusters(view, 'proxy').map((c) => c.name);
  assert.ok(names.includes('outbound|7070||payments.shop.svc.cluster.local'), names.join(', '));
  assert.ok(!names.includes('outbound|7071||payments.shop.svc.cluster.local'), names.join(', '));
  // The remote port with the redis appProtocol is opaque TCP once a zone has instances of it.
  const redis: ZoneSummary = { ...dc, services: [{ namespace: 'shop', name: 'payments', ports: [{ port: 7071, appProtocol: 'redis', instances: 4, identities: [`${TD}/payments`] }] }] };
  const withRedis = buildMeshView({ ...INPUTS, localZone: 'onprem', remoteZones: [cloud, redis] }).services.get('shop/payments')!;
  assert.deepEqual(withRedis.ports.map((p) => [p.name, p.port, p.protocol, p.endpoints.map((e) => e.weight)]), [['grpc', 7070, 'grpc', [2]], ['', 7071, 'tcp', [4]]]);
});

test('every mesh cluster sends the Service port\'s SNI in Istio\'s format', () => {
  const view = buildMeshView(INPUTS);
  const snis = outboundClusters(view, 'proxy').map((c) => (readable(c) as { transport_socket: { typed_config: { sni: string } } }).transport_socket.typed_config.sni);
  assert.deepEqual(snis, ['outbound_.5432_._.billing.shop.svc.cluster.local', 'outbound_.80_._.orders.shop.svc.cluster.local', 'outbound_.9090_._.orders.shop.svc.cluster.local']);
});
