// A backendRef to a Service that does not exist (Gateway API: ResolvedRefs=False,
// BackendNotFound): its share of the calls is answered 500, not given to the other
// backends. The control plane keeps its weight, names the cluster the Service would have,
// and sets Envoy's cluster_not_found_response_code: INTERNAL_SERVER_ERROR on the route.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { outboundRouteConfig, serviceRouteConfigs } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';

const svc = (name: string): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
const route = (rules: object[]): Resource => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'orders', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], rules },
});
const view = (routes: Resource[]) =>
  buildMeshView({ revision: 1, meshes: [], services: [svc('orders')] as never, workloads: [], httpRoutes: routes as never, grpcRoutes: [], trustBundle: 'pem', defaultTrustDomain: 'cluster.local' });

const ORDERS = 'outbound|80||orders.default.svc.cluster.local';
const TYPO = 'outbound|80||ordres.default.svc.cluster.local';

test("a 50/50 split with a typo'd Service keeps the missing share as a cluster that is never generated, answered 500", () => {
  const v = view([route([{ backendRefs: [{ name: 'orders', port: 80, weight: 50 }, { name: 'ordres', port: 80, weight: 50 }] }])]);
  const [vh] = outboundRouteConfig(v, 'default').virtual_hosts as { routes: { route: Record<string, unknown> }[] }[];
  assert.deepEqual(vh.routes[0].route.weighted_clusters, { clusters: [{ name: ORDERS, weight: { value: 50 } }, { name: TYPO, weight: { value: 50 } }] });
  assert.equal(vh.routes[0].route.cluster_not_found_response_code, 'INTERNAL_SERVER_ERROR');
  // Proxyless clients get the same route.
  const generic = serviceRouteConfigs(v)[0] as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
  assert.equal(generic.virtual_hosts[0].routes[0].route.cluster_not_found_response_code, 'INTERNAL_SERVER_ERROR');
  // The consistency check lets this one dangling name through, and only because of the code.
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(v));
  assert.ok(cache.snapshotFor({ kind: 'proxy', id: 'p', workload: 'w', namespace: 'default', outboundPort: 15001, appPorts: {} }));
});

test('a rule whose every backend is missing (or names a port the Service lacks) is all 500, not left out (404)', () => {
  const v = view([route([
    { matches: [{ path: { type: 'PathPrefix', value: '/gone' } }], backendRefs: [{ name: 'gone', port: 80 }] },
    { matches: [{ path: { type: 'PathPrefix', value: '/port' } }], backendRefs: [{ name: 'orders', port: 8080 }] },
  ])]);
  const routes = (outboundRouteConfig(v, 'default').virtual_hosts as { routes: { match: unknown; route: Record<string, unknown> }[] }[])[0].routes;
  const byPrefix = (p: string) => routes.find((r) => (r.match as { prefix?: string }).prefix === p)!.route;
  assert.equal(byPrefix('/gone/').cluster, 'outbound|80||gone.default.svc.cluster.local');
  assert.equal(byPrefix('/gone/').cluster_not_found_response_code, 'INTERNAL_SERVER_ERROR');
  assert.equal(byPrefix('/port/').cluster, 'outbound|8080||orders.default.svc.cluster.local');
  assert.equal(byPrefix('/port/').cluster_not_found_response_code, 'INTERNAL_SERVER_ERROR');
});

test('a route whose backends all exist does not carry the code', () => {
  const v = view([route([{ backendRefs: [{ name: 'orders', port: 80 }] }])]);
  const routes = (outboundRouteConfig(v, 'default').virtual_hosts as { routes: { route: Record<string, unknown> }[] }[])[0].routes;
  assert.deepEqual(Object.keys(routes[0].route).sort(), ['cluster', 'timeout']);
});
