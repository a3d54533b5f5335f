// LoadBalancingPolicy over xDS (control-plane/xds/policies/load-balancing/): what it
// generates, held in golden files, and what a Sluice proxy makes of it: translated by the
// proxy's own translator, each Service's backend balances, hashes and fails over as the
// static file's backend with the same policy does.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { loadAssignments, outboundClusters, outboundRouteConfig, serviceRouteConfigs } from '../../../control-plane/xds/generate/resources.ts';
import { overprovisioningFactor, type LoadBalancingPolicyResource } from '../../../control-plane/xds/policies/load-balancing/generate.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { combinedHash, requestHash } from '../../../proxy/upstream/lb/hash.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/policies/load-balancing/golden/', import.meta.url));
const NS = 'shop';
const meta = (name: string, created = '2025-01-01T00:00:00Z') => ({ name, namespace: NS, creationTimestamp: created });
const APPS = ['orders', 'sessions', 'stock', 'billing', 'payments', 'web'];

const services: Resource[] = APPS.map((app) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta(app),
  spec: { selector: { app }, ports: app === 'stock' ? [{ name: 'grpc', port: 9090, appProtocol: 'grpc' }] : [{ name: 'http', port: 80 }] },
}));
const workloads: Resource[] = APPS.flatMap((app, i) =>
  ['a', 'b'].map((zone, k) => ({
    apiVersion: 'mesh.sluice.dev/v1alpha1',
    kind: 'Workload',
    metadata: { ...meta(`${app}-${zone}`), labels: { app } },
    spec: { address: `10.0.${i}.${k + 1}`, ports: { http: 8080, grpc: 9090 }, serviceAccount: app, zone },
  })),
);
// Most of orders' calls go to orders, some to sessions: the route hashes on both Services' sources.
const httpRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('orders'),
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }],
    rules: [
      { name: 'split', matches: [{ path: { type: 'PathPrefix', value: '/split' } }], backendRefs: [{ name: 'orders', port: 80, weight: 80 }, { name: 'sessions', port: 80, weight: 20 }] },
      { name: 'rest', backendRefs: [{ name: 'orders', port: 80 }] },
    ],
  },
};

/** The policies' specs without targets, shared by the mesh and the static file below. */
const SPECS = {
  orders: { type: 'RingHash', hashOn: { type: 'Header', name: 'X-User' }, failoverThreshold: 50 },
  sessions: { type: 'Maglev', hashOn: { type: 'Cookie', name: 'sid' } },
  stock: { type: 'Maglev', hashOn: { type: 'Header', name: 'x-tenant' } },
  billing: { type: 'RoundRobin' },
  payments: { type: 'LeastRequest', failoverThreshold: 100 },
  // Every zone alike, wherever the caller runs.
  web: { zones: 'Spread' },
} as const;

const policy = (name: string, service: string, spec: object, created?: string) =>
  ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'LoadBalancingPolicy', metadata: meta(name, created), spec: { targetRefs: [{ kind: 'Service', name: service }], ...spec } }) as unknown as LoadBalancingPolicyResource;
const loadBalancingPolicies = [
  // Newer than `orders` and on the same target: Gateway API gives the target to the oldest.
  policy('orders-late', 'orders', { type: 'RoundRobin' }, '2025-06-01T00:00:00Z'),
  ...Object.entries(SPECS).map(([svc, spec]) => policy(svc, svc, spec)),
];

const inputs = { revision: 7, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [httpRoute as never], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' };
const view = buildMeshView({ ...inputs, loadBalancingPolicies });

/** As a client receives it: packed and decoded, so a field the proto does not have cannot hide in a golden file. */
const wire = (typeUrl: string, list: readonly Pb[]) => list.map((o) => (unpack(pack(typeUrl, o)) as { value: Pb }).value);
/** A cluster's mTLS, protocol options and outlier detection (the cross-zone default) are not this policy's: left out, so a change there does not touch these files. */
const withoutTls = (list: readonly Pb[]) => list.map(({ transport_socket: _, typed_extension_protocol_options: __, outlier_detection: ___, ...rest }) => rest);

test('golden: the clusters, routes and load assignments a LoadBalancingPolicy sets, for Sluice proxies and for proxyless gRPC clients', () => {
  assertGoldenJson(GOLDEN, 'clusters-proxy.json', withoutTls(wire(TYPE_URLS.Cluster, outboundClusters(view, 'proxy'))));
  assertGoldenJson(GOLDEN, 'clusters-proxyless.json', wire(TYPE_URLS.Cluster, outboundClusters(view, 'generic')));
  assertGoldenJson(GOLDEN, 'outbound-routes.json', wire(TYPE_URLS.RouteConfiguration, [outboundRouteConfig(view, NS)]));
  assertGoldenJson(GOLDEN, 'routes-proxyless.json', wire(TYPE_URLS.RouteConfiguration, serviceRouteConfigs(view)));
  assertGoldenJson(GOLDEN, 'assignments.json', wire(TYPE_URLS.ClusterLoadAssignment, loadAssignments(view)));
  // For nodes in zone a: zone b at priority 1, but web's (Spread) all at 0.
  assertGoldenJson(GOLDEN, 'assignments-zone-a.json', wire(TYPE_URLS.ClusterLoadAssignment, loadAssignments(view, 'a')));
});

test('priorities: the node\'s zone 0 and the others 1; all 0 for a node of no zone, under Spread, and when no endpoint is in the node\'s zone', () => {
  const levels = (zone: string | undefined, app: string) =>
    (loadAssignments(view, zone).find((c) => c.cluster_name === `outbound|80||${app}.${NS}.svc.cluster.local`)!.endpoints as Pb[]).map((l) => [l.locality.zone, l.priority ?? 0]);
  assert.deepEqual(levels('a', 'orders'), [['a', 0], ['b', 1]]);
  assert.deepEqual(levels('b', 'orders'), [['a', 1], ['b', 0]]);
  assert.deepEqual(levels(undefined, 'orders'), [['a', 0], ['b', 0]]);
  assert.deepEqual(levels('a', 'web'), [['a', 0], ['b', 0]], 'Spread');
  assert.deepEqual(levels('c', 'orders'), [['a', 0], ['b', 0]], 'nothing local: the levels start at 0');
  // Only what differs from a zone-less node's is generated again per zone.
  assert.deepEqual(loadAssignments(view, 'a', true).map((c) => c.cluster_name).sort(), APPS.filter((a) => a !== 'web').map((a) => `outbound|${a === 'stock' ? 9090 : 80}||${a}.${NS}.svc.cluster.local`).sort());
});

test('with no LoadBalancingPolicy nothing is added: the flavour defaults, no hash_policy, no ring or table config, no assignment policy', () => {
  const bare = buildMeshView(inputs);
  const text = JSON.stringify([outboundRouteConfig(bare, NS), outboundClusters(bare, 'proxy'), serviceRouteConfigs(bare), loadAssignments(bare)]);
  for (const field of ['hash_policy', 'ring_hash_lb_config', 'maglev_lb_config', 'overprovisioning_factor']) assert.ok(!text.includes(field), field);
  assert.deepEqual([...new Set(outboundClusters(bare, 'proxy').map((c) => c.lb_policy))], ['LEAST_REQUEST']);
  assert.deepEqual([...new Set(outboundClusters(bare, 'generic').map((c) => c.lb_policy))], ['ROUND_ROBIN']);
});

test('a failover threshold survives the trip through Envoy\'s overprovisioning factor, whole percent for whole percent', () => {
  assert.equal(overprovisioningFactor(71), 141);
  assert.equal(overprovisioningFactor(100), 100);
  for (let t = 1; t <= 100; t++) assert.equal(Math.round(10000 / overprovisioningFactor(t)), t, `threshold ${t}`);
});

/** The proxy's config, from the snapshot a proxy in `shop` (zone a) is sent, through its translator. */
function meshConfig(): ProxyConfig {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor({ kind: 'proxy', id: 'web-a.shop', workload: 'web-a', namespace: NS, outboundPort: 15001, appPorts: {} })!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { zone: 'a', identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

/** The same Services as Backends of a static file, each with its policy. */
function staticConfig(): ProxyConfig {
  const item = (name: string, spec: object) => `  - ${JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'LoadBalancingPolicy', metadata: { name }, spec: { targetRefs: [{ kind: 'Backend', name }], ...spec } })}`;
  const yaml = `
node: { zone: a }
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [${APPS.map((a) => `{ name: ${a} }`).join(', ')}] }] }]
backends:
${APPS.map((a, i) => `  - { name: ${a}, endpoints: [{ address: 10.0.${i}.1, port: 8080, zone: a }, { address: 10.0.${i}.2, port: 8080, zone: b }] }`).join('\n')}
policies:
${Object.entries(SPECS).map(([name, spec]) => item(name, spec)).join('\n')}
`;
  const r = parseStaticConfig(yaml, { loadBalancers: ['round-robin', 'least-request', 'ring-hash', 'maglev'] });
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return r.value;
}

test('a proxy following the control plane balances, fails over and hashes each Service as the static file does its backend', () => {
  const mesh = meshConfig();
  const file = staticConfig();
  const meshRoutes = mesh.routes.filter((r) => r.name.startsWith('outbound/'));
  const request = { headers: { 'x-user': 'alice', 'x-tenant': 'acme', cookie: 'sid=s-42' }, remote: '10.9.9.9' };
  for (const app of ['orders', 'sessions', 'billing', 'payments', 'web']) {
    const meshBackend = mesh.backends.find((b) => b.name === `outbound|80||${app}.${NS}.svc.cluster.local`)!;
    const fileBackend = file.backends.find((b) => b.name === app)!;
    assert.deepEqual([meshBackend.loadBalancer, meshBackend.failoverThreshold], [fileBackend.loadBalancer, fileBackend.failoverThreshold], app);
    assert.deepEqual(
      meshBackend.endpoints.map((e) => e.priority),
      fileBackend.endpoints.map((e) => e.priority),
      `${app}: the endpoint in the proxy's zone first, the other its failover level`,
    );
    // Over xDS the hash sources are on the routes to the Service; each is the backend's own in the file.
    const vhost = meshRoutes.find((r) => r.name === `outbound/${app}.${NS}.svc.cluster.local:80`);
    for (const rule of vhost?.rules ?? []) {
      if (rule.backendRefs.length !== 1) continue;
      const meshHash = rule.hashOn === undefined ? undefined : combinedHash(rule.hashOn, request.headers, request.remote);
      const fileHash = fileBackend.hashOn === undefined ? undefined : requestHash(fileBackend.hashOn, request.headers, request.remote);
      assert.equal(meshHash, fileHash, `${app}: rule ${rule.name}`);
    }
  }
  const orders = meshRoutes.find((r) => r.name === `outbound/orders.${NS}.svc.cluster.local:80`)!;
  assert.deepEqual(orders.rules.find((r) => r.name === `${NS}/orders/split`)?.hashOn, [{ type: 'Header', name: 'x-user' }, { type: 'Cookie', name: 'sid' }], 'a split over two hashing Services hashes on both');
  assert.equal(mesh.backends.find((b) => b.name === `outbound|9090||stock.${NS}.svc.cluster.local`)?.loadBalancer, 'maglev');
});
