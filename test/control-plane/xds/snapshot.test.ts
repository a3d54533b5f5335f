// Snapshots: content-hash versions (stable across rebuilds and restarts, different when
// anything sent differs) and the consistency check that keeps a dangling name from ever
// reaching a client.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { httpConnectionManager } from '../../../control-plane/xds/generate/envoy.ts';
import { inboundPorts, proxyListeners } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { danglingNames, versionOf } from '../../../control-plane/xds/snapshot.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';

const svc = (name: string, port: number): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ports: [{ name: 'http', port }] } });
const wl = (name: string, app: string, port: number): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: 'default', labels: { app } }, spec: { address: '10.0.0.1', ports: { http: port } } });
const view = (services: Resource[], workloads: Resource[]) =>
  buildMeshView({ revision: 1, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], trustBundle: 'pem', defaultTrustDomain: 'cluster.local' });
const GENERIC = { kind: 'generic', id: 'x' } as const;

function versions(services: Resource[], workloads: Resource[]): Record<string, string> {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view(services, workloads)));
  const snap = cache.snapshotFor(GENERIC)!;
  return Object.fromEntries(Object.entries(TYPE_URLS).map(([k, t]) => [k, versionOf(snap.get(t)!, null)]));
}

test('versions are content hashes: equal for the same mesh built twice, changed only for the types whose content changed', () => {
  const a = versions([svc('orders', 80)], [wl('o-1', 'orders', 8080)]);
  assert.deepEqual(versions([svc('orders', 80)], [wl('o-1', 'orders', 8080)]), a);
  const moved = versions([svc('orders', 80)], [wl('o-1', 'orders', 9090)]);
  assert.notEqual(moved.ClusterLoadAssignment, a.ClusterLoadAssignment);
  for (const same of ['Listener', 'RouteConfiguration', 'Cluster', 'Secret']) assert.equal(moved[same], a[same], same);
  const added = versions([svc('orders', 80), svc('billing', 80)], [wl('o-1', 'orders', 8080)]);
  for (const changed of ['Listener', 'RouteConfiguration', 'Cluster', 'ClusterLoadAssignment']) assert.notEqual(added[changed], a[changed], changed);
});

test('a subscription to some names has the version of those names only', () => {
  const cache = new SnapshotCache(() => {});
  cache.setView(view([svc('orders', 80), svc('billing', 80)], []));
  const lds = cache.snapshotFor(GENERIC)!.get(TYPE_URLS.Listener)!;
  const orders = versionOf(lds, new Set(['orders.default.svc.cluster.local:80']));
  assert.notEqual(orders, versionOf(lds, null));
  assert.equal(orders, versionOf(lds, new Set(['orders.default.svc.cluster.local:80', 'not-there'])), 'a name that does not exist adds nothing');
});

test('a view that changes only what a proxy is routed keeps its other types\' maps: versionOf is not recomputed and the proxy is not checked again', () => {
  const route = (weightB: number): Resource => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'split', namespace: 'default' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 80, weight: 100 - weightB }, { name: 'billing', port: 80, weight: weightB }] }] },
  });
  const services = [svc('orders', 80), svc('billing', 80)];
  const workloads = [wl('o-1', 'orders', 8080)];
  const node = { kind: 'proxy', id: 'o-1.default', workload: 'o-1', namespace: 'default', outboundPort: 15001, appPorts: {} } as const;
  const at = (weightB: number, more: Resource[] = []) =>
    buildMeshView({ revision: 1, meshes: [], services: [...services, ...more] as never, workloads: workloads as never, httpRoutes: [route(weightB)] as never, grpcRoutes: [], trustBundle: 'pem', defaultTrustDomain: 'cluster.local' });
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(at(10)));
  const first = cache.snapshotFor(node)!;
  assert.ok(cache.setView(at(30)));
  const second = cache.snapshotFor(node)!;
  for (const t of [TYPE_URLS.Listener, TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.Secret]) assert.equal(second.get(t), first.get(t), `${t}: the same map object`);
  assert.notEqual(second.get(TYPE_URLS.RouteConfiguration), first.get(TYPE_URLS.RouteConfiguration));
  assert.notEqual(versionOf(second.get(TYPE_URLS.RouteConfiguration)!, null), versionOf(first.get(TYPE_URLS.RouteConfiguration)!, null));
  // The same content twice in a row keeps even the route map; a new Service changes the clusters.
  assert.ok(cache.setView(at(30)));
  assert.equal(cache.snapshotFor(node)!.get(TYPE_URLS.RouteConfiguration), second.get(TYPE_URLS.RouteConfiguration));
  assert.ok(cache.setView(at(30, [svc('stock', 80)])));
  const grown = cache.snapshotFor(node)!;
  assert.notEqual(grown.get(TYPE_URLS.Cluster), second.get(TYPE_URLS.Cluster));
  assert.ok(grown.get(TYPE_URLS.Cluster)!.has('outbound|80||stock.default.svc.cluster.local'));
});

test('proxies serving the same Service port share one HttpConnectionManager per view, built and packed once', () => {
  const v = view([svc('orders', 80), svc('billing', 80)], [wl('o-1', 'orders', 8080), wl('o-2', 'orders', 8080), wl('b-1', 'billing', 8080)]);
  const hcms = (workload: string) => {
    const node = { kind: 'proxy', id: `${workload}.default`, workload, namespace: 'default', outboundPort: 15001, appPorts: {} } as const;
    return proxyListeners(v, node, inboundPorts(v, node)).map((l) => ((l.filter_chains as { filters: unknown[] }[])[0].filters[0]));
  };
  const [o1, o2, b1] = [hcms('o-1'), hcms('o-2'), hcms('b-1')];
  assert.equal(o1[0], o2[0], "o-1 and o-2 serve orders' port: one inbound manager");
  assert.notEqual(o1[0], b1[0], 'billing has its own (its policies may differ)');
  assert.equal(o1.at(-1), b1.at(-1), 'the outbound manager is one for every proxy');
});

test('the consistency check names every dangling reference, and generated snapshots have none', () => {
  const decode = (any: unknown) => {
    const r = unpack(any as { type_url: string; value: Buffer });
    return r.ok ? (r.value as Record<string, unknown>) : undefined;
  };
  const problems = danglingNames(
    {
      listeners: [{ name: 'l', filter_chains: [{ filters: [httpConnectionManager('l', 'missing-routes')] }] }],
      routes: [{ name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '' }, route: { weighted_clusters: { clusters: [{ name: 'c', weight: { value: 1 } }, { name: 'gone', weight: { value: 1 } }] } } }] }] }],
      clusters: [{ name: 'c', type: 'EDS' }],
      endpoints: [],
      secrets: [],
    },
    decode,
  );
  assert.deepEqual(problems, [
    "listener 'l' names route config 'missing-routes', which is not generated",
    "route config 'r' routes to cluster 'gone', which is not generated",
    "cluster 'c' has no load assignment",
  ]);
});
