// CircuitBreakerPolicy over xDS (control-plane/xds/policies/circuit-breaker/): what it
// generates on a Service's clusters, held in golden files, and what a Sluice proxy makes of
// it: translated by the proxy's own translator, each backend gets the limits, outlier
// detection and health check a static file with the same policy gives it.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { outboundClusters } from '../../../control-plane/xds/generate/resources.ts';
import { circuitBreakerPolicy, type CircuitBreakerPolicyResource } from '../../../control-plane/xds/policies/circuit-breaker/generate.ts';
import type { ServicePortAt } from '../../../control-plane/xds/policies/index.ts';
import { retryPolicy, type RetryPolicyResource } from '../../../control-plane/xds/policies/retry/generate.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { Backend } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/policies/circuit-breaker/golden/', import.meta.url));
const NS = 'shop';
const meta = (name: string, created = '2025-01-01T00:00:00Z') => ({ name, namespace: NS, creationTimestamp: created });

const services: Resource[] = ['orders', 'stock', 'billing', 'payments'].map((name) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: meta(name),
  spec: {
    selector: { app: name },
    // orders also has a raw TCP port: no HTTP health check can pass there.
    ports: name === 'stock' ? [{ name: 'grpc', port: 9090, appProtocol: 'grpc' }] : name === 'orders' ? [{ name: 'http', port: 80 }, { name: 'tcp-db', port: 5432 }] : [{ name: 'http', port: 80 }],
  },
}));
const workloads: Resource[] = ['orders', 'stock', 'billing', 'payments', 'web'].map((app, i) => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { ...meta(`${app}-1`), labels: { app } },
  spec: { address: `10.0.0.${i + 1}`, ports: { http: 8080, grpc: 9090, 'tcp-db': 5432 }, serviceAccount: app },
}));

/** The policies' specs without targets, shared by the mesh and the static file below. */
const SPECS = {
  // Everything: limits, consecutive and success-rate ejection, a health check.
  orders: {
    limits: { maxConnections: 10, maxPendingRequests: 5, maxActiveRequests: 20, maxActiveRetries: 2 },
    outlierDetection: { interval: '2s', consecutive5xx: 3, consecutiveGatewayErrors: 0, baseEjectionTime: '5s', maxEjectionTime: '1m', maxEjectionPercent: 30, successRate: { minimumHosts: 2, requestVolume: 10, stdevFactor: 1000 } },
    healthCheck: { path: '/healthz', interval: '3s', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1, expectedStatuses: [{ from: 200, to: 204 }, { from: 304, to: 304 }] },
  },
  // Defaults only, and a health check with its own Host and default statuses.
  stock: { healthCheck: { path: '/ready', host: 'probe.local' } },
  // Outlier detection off, limits only.
  billing: { limits: { maxActiveRequests: 7 }, outlierDetection: { disabled: true } },
} as const;

const policy = (name: string, service: string, spec: object, created?: string) =>
  ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'CircuitBreakerPolicy', metadata: meta(name, created), spec: { targetRefs: [{ kind: 'Service', name: service }], ...spec } }) as unknown as CircuitBreakerPolicyResource;
const breakers = [
  // Newer than `orders` and on the same target: Gateway API gives the target to the oldest.
  policy('orders-late', 'orders', { limits: { maxConnections: 99 } }, '2025-06-01T00:00:00Z'),
  policy('orders', 'orders', SPECS.orders),
  policy('stock', 'stock', SPECS.stock),
  policy('billing', 'billing', SPECS.billing),
];
// A retry budget on orders: it shares the one threshold with the limits.
const retries = [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: meta('orders'), spec: { targetRefs: [{ kind: 'Service', name: 'orders' }], budget: { percent: 30, minRetriesPerSecond: 5 } } }] as unknown as RetryPolicyResource[];

const viewOf = (circuitBreakerPolicies: CircuitBreakerPolicyResource[], retryPolicies: RetryPolicyResource[] = retries) =>
  buildMeshView({ revision: 3, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], retryPolicies, circuitBreakerPolicies, trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
const view = viewOf(breakers);

/** As a client receives it: packed and decoded, so a field the proto does not have cannot hide in a golden file. */
const wire = (typeUrl: string, list: readonly Pb[]) => list.map((o) => (unpack(pack(typeUrl, o)) as { value: Pb }).value);
/** A cluster's mTLS is not this policy's: left out, so a change there does not touch these files. */
const withoutTls = (list: readonly Pb[]) => list.map(({ transport_socket: _, ...rest }) => rest);

test('golden: the clusters a CircuitBreakerPolicy sets, for Sluice proxies and for proxyless gRPC clients', () => {
  assertGoldenJson(GOLDEN, 'clusters-proxy.json', withoutTls(wire(TYPE_URLS.Cluster, outboundClusters(view, 'proxy'))));
  assertGoldenJson(GOLDEN, 'clusters-proxyless.json', wire(TYPE_URLS.Cluster, outboundClusters(view, 'generic')));
});

test("the limits and RetryPolicy's budget share one threshold of priority DEFAULT, whichever policy runs first", () => {
  const orders = view.services.get(`${NS}/orders`)!;
  const at: ServicePortAt = { view, flavor: 'proxy', service: orders, port: orders.ports[0] };
  const cbFirst: Pb = {};
  circuitBreakerPolicy.cluster!(cbFirst, at);
  retryPolicy.cluster!(cbFirst, at);
  const retryFirst: Pb = {};
  retryPolicy.cluster!(retryFirst, at);
  circuitBreakerPolicy.cluster!(retryFirst, at);
  for (const c of [cbFirst, retryFirst]) {
    assert.equal(c.circuit_breakers.thresholds.length, 1);
    const t = c.circuit_breakers.thresholds[0];
    assert.equal(t.priority, undefined, 'DEFAULT, the enum zero');
    assert.deepEqual(t.retry_budget, { budget_percent: { value: 30 }, min_retry_concurrency: { value: 5 } });
    assert.deepEqual([t.max_connections, t.max_pending_requests, t.max_requests, t.max_retries], [{ value: 10 }, { value: 5 }, { value: 20 }, { value: 2 }]);
  }
});

test('proxyless gRPC clients get only what they read: max_requests, and outlier_detection only for success-rate ejection', () => {
  const clusters = new Map(outboundClusters(view, 'generic').map((c) => [String(c.name), c as Pb]));
  const orders = clusters.get('outbound|80||orders.shop.svc.cluster.local')!;
  assert.deepEqual(Object.keys(orders.circuit_breakers.thresholds[0]).sort(), ['max_requests', 'retry_budget']);
  assert.deepEqual(Object.keys(orders.outlier_detection).sort(), ['base_ejection_time', 'enforcing_success_rate', 'interval', 'max_ejection_percent', 'max_ejection_time', 'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor']);
  assert.equal(orders.health_checks, undefined);
  for (const name of ['outbound|9090||stock.shop.svc.cluster.local', 'outbound|80||billing.shop.svc.cluster.local']) {
    assert.equal(clusters.get(name)!.outlier_detection, undefined, name);
    assert.equal(clusters.get(name)!.health_checks, undefined, name);
  }
});

test("a tcp port's cluster gets the limits and outlier detection, and no HTTP health check", () => {
  const tcp = outboundClusters(view, 'proxy').find((c) => c.name === 'outbound|5432||orders.shop.svc.cluster.local') as Pb;
  assert.equal(tcp.health_checks, undefined);
  assert.equal(tcp.outlier_detection.successful_active_health_check_uneject_host, undefined);
  assert.deepEqual(tcp.circuit_breakers.thresholds[0].max_connections, { value: 10 });
});

test('with no CircuitBreakerPolicy nothing is added', () => {
  const text = JSON.stringify([outboundClusters(viewOf([], []), 'proxy'), outboundClusters(viewOf([], []), 'generic')]);
  for (const field of ['circuit_breakers', 'outlier_detection', 'health_checks']) assert.ok(!text.includes(field), field);
});

/** The backends of the snapshot a proxy in `shop` is sent, through its translator. */
function meshBackends(): Map<string, Backend> {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor({ kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: NS, outboundPort: 15001, appPorts: {} })!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return new Map(r.value.config.backends.map((b) => [b.name, b]));
}

/** The same policies in a static file: each Service is the Backend of its name. */
function staticBackends(): Map<string, Backend> {
  const item = (name: string, spec: object) => `  - ${JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'CircuitBreakerPolicy', metadata: { name }, spec: { targetRefs: [{ kind: 'Backend', name }], ...spec } })}`;
  const yaml = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: orders }] }] }]
backends: [${['orders', 'stock', 'billing', 'payments'].map((n, i) => `{ name: ${n}, endpoints: [{ address: 10.0.0.${i + 1}, port: 8080 }] }`).join(', ')}]
policies:
${Object.entries(SPECS).map(([name, spec]) => item(name, spec)).join('\n')}
`;
  const r = parseStaticConfig(yaml);
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return new Map(r.value.backends.map((b) => [b.name, b]));
}

test('a proxy following the control plane gets, backend by backend, the limits, ejection and health check the static file gives', () => {
  const mesh = meshBackends();
  const file = staticBackends();
  const pick = (b: Backend) => ({ limits: b.limits, outlierDetection: b.outlierDetection, healthCheck: b.healthCheck });
  for (const [name, port] of [['orders', 80], ['stock', 9090], ['billing', 80], ['payments', 80]] as const) {
    const m = pick(mesh.get(`outbound|${port}||${name}.${NS}.svc.cluster.local`)!);
    const f = pick(file.get(name)!);
    // The mesh's check names the Service as its Host (Envoy's way: one Host for every endpoint); the file's leaves it to each endpoint's address.
    const host = name === 'stock' ? 'probe.local' : `${name}.${NS}.svc.cluster.local`;
    const fileCheck = f.healthCheck === null ? null : { ...f.healthCheck, host: f.healthCheck.host ?? host };
    assert.deepEqual(m, { ...f, healthCheck: fileCheck }, name);
  }
  // Spelled out for the one with everything.
  const orders = mesh.get(`outbound|80||orders.${NS}.svc.cluster.local`)!;
  assert.deepEqual(orders.limits, { maxConnections: 10, maxPendingRequests: 5, maxActiveRequests: 20, maxActiveRetries: 2 });
  assert.deepEqual(orders.healthCheck?.expectedStatuses, [[200, 204], [304, 304]]);
  assert.equal(orders.outlierDetection?.consecutiveGatewayErrors, 0);
  assert.equal(mesh.get(`outbound|80||billing.${NS}.svc.cluster.local`)!.outlierDetection, null);
});

