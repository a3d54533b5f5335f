// RetryPolicy over xDS (control-plane/xds/policies/retry/): what it generates, held in
// golden files, and what a Sluice proxy makes of it: translated by the proxy's own
// translator, every rule runs the retry policy, budget and timeouts a static file with the
// same policies gives it.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { outboundClusters, outboundRouteConfig, serviceRouteConfigs } from '../../../control-plane/xds/generate/resources.ts';
import type { RetryPolicyResource } from '../../../control-plane/xds/policies/retry/generate.ts';
import { DEFAULT_RETRY } from '../../../kinds/resilience-defaults.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { ProxyConfig, RouteRule } from '../../../proxy/config/model.ts';
import { effectivePolicy } from '../../../proxy/http/filters/router.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/policies/retry/golden/', import.meta.url));
const NS = 'shop';
const ORDERS = 'shop/orders'; // the HTTPRoute and its rules are named <ns>/<route>/<rule>
const meta = (name: string, created = '2025-01-01T00:00:00Z') => ({ name, namespace: NS, creationTimestamp: created });

const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('stock'), spec: { selector: { app: 'stock' }, ports: [{ name: 'grpc', port: 9090, appProtocol: 'grpc' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('billing'), spec: { selector: { app: 'billing' }, ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('payments'), spec: { selector: { app: 'payments' }, ports: [{ name: 'http', port: 80 }] } },
];
const workloads: Resource[] = ['orders', 'stock', 'billing', 'payments', 'web'].map((app, i) => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { ...meta(`${app}-1`), labels: { app } },
  spec: { address: `10.0.0.${i + 1}`, ports: { http: 8080, grpc: 9090 }, serviceAccount: app },
}));
const httpRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('orders'),
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }],
    rules: [
      { name: 'checkout', matches: [{ path: { type: 'PathPrefix', value: '/checkout' } }], backendRefs: [{ name: 'orders', port: 80 }], timeouts: { request: '10s', backendRequest: '2s' } },
      { name: 'browse', matches: [{ path: { type: 'PathPrefix', value: '/browse' } }], backendRefs: [{ name: 'orders', port: 80 }] },
      { name: 'rest', backendRefs: [{ name: 'orders', port: 80 }] },
    ],
  },
};
const grpcRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'GRPCRoute',
  metadata: meta('stock'),
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'stock', port: 9090 }], rules: [{ name: 'lookup', matches: [{ method: { service: 'stock.Stock', method: 'Lookup' } }], backendRefs: [{ name: 'stock', port: 9090 }] }] },
};

/** The policies' specs without targets, shared by the mesh and the static file below. */
const SPECS = {
  service: {
    attempts: 3,
    retryOn: ['5xx', 'reset', 'retriable-status-codes'],
    retriableStatusCodes: [429],
    backoff: { baseInterval: '10ms' },
    timeouts: { perTry: '1s', request: '20s', connect: '2s', idle: '30s' },
    budget: { percent: 30, minRetriesPerSecond: 5 },
  },
  route: { retryNonIdempotent: true, bufferLimitBytes: 1024 },
  browse: { attempts: 0 },
  lookup: { attempts: 4, retryOn: ['unavailable'], backoff: { baseInterval: '50ms', maxInterval: '1s' } },
  payments: { attempts: 1, retryOn: ['gateway-error'], retryNonIdempotent: true, timeouts: { request: '3s' } },
} as const;

const policy = (name: string, targetRefs: object[], spec: object, created?: string) =>
  ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: meta(name, created), spec: { targetRefs, ...spec } }) as unknown as RetryPolicyResource;
const ROUTE_GROUP = 'gateway.networking.k8s.io';
const retryPolicies = [
  // Newer than orders-service and on the same target: Gateway API gives the target to the oldest.
  policy('orders-late', [{ kind: 'Service', name: 'orders' }], { attempts: 9 }, '2025-06-01T00:00:00Z'),
  policy('orders-service', [{ kind: 'Service', name: 'orders' }], SPECS.service),
  policy('orders-route', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders' }], SPECS.route),
  policy('orders-browse', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders', sectionName: 'browse' }], SPECS.browse),
  policy('payments', [{ kind: 'Service', name: 'payments' }], SPECS.payments),
  policy('stock-lookup', [{ group: ROUTE_GROUP, kind: 'GRPCRoute', name: 'stock', sectionName: 'lookup' }], SPECS.lookup),
];

const view = buildMeshView({
  revision: 7,
  meshes: [],
  services: services as never,
  workloads: workloads as never,
  httpRoutes: [httpRoute as never],
  grpcRoutes: [grpcRoute as never],
  retryPolicies,
  trustBundle: ROOT_PEM,
  defaultTrustDomain: 'cluster.local',
});

/** As a client receives it: packed and decoded, so a field the proto does not have cannot hide in a golden file. */
const wire = (typeUrl: string, list: readonly Pb[]) => list.map((o) => (unpack(pack(typeUrl, o)) as { value: Pb }).value);
/** A cluster's mTLS is not this policy's: left out, so a change there does not touch these files. */
const withoutTls = (list: readonly Pb[]) => list.map(({ transport_socket: _, ...rest }) => rest);

test('golden: the virtual host, routes and clusters a RetryPolicy sets, for Sluice proxies and for proxyless gRPC clients', () => {
  assertGoldenJson(GOLDEN, 'outbound-routes.json', wire(TYPE_URLS.RouteConfiguration, [outboundRouteConfig(view, NS)]));
  assertGoldenJson(GOLDEN, 'clusters-proxy.json', withoutTls(wire(TYPE_URLS.Cluster, outboundClusters(view, 'proxy'))));
  assertGoldenJson(GOLDEN, 'routes-proxyless.json', wire(TYPE_URLS.RouteConfiguration, serviceRouteConfigs(view)));
  assertGoldenJson(GOLDEN, 'clusters-proxyless.json', wire(TYPE_URLS.Cluster, outboundClusters(view, 'generic')));
});

test('with no RetryPolicy and no backendRequest nothing is added: no retry_policy, no buffer limit, no circuit_breakers', () => {
  const rules = httpRoute.spec.rules.map((r) => ({ ...r, timeouts: undefined }));
  const route = { ...httpRoute, spec: { ...httpRoute.spec, rules } };
  const bare = buildMeshView({ revision: 1, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [route as never], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
  const text = JSON.stringify([outboundRouteConfig(bare, NS), outboundClusters(bare, 'proxy'), serviceRouteConfigs(bare)]);
  for (const field of ['retry_policy', 'per_request_buffer_limit_bytes', 'circuit_breakers']) assert.ok(!text.includes(field), field);
  // A rule's backendRequest alone is a route retry_policy: the no-policy defaults, with that per-try timeout.
  const timed = buildMeshView({ revision: 1, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [httpRoute as never], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
  const checkout = (outboundRouteConfig(timed, NS).virtual_hosts as Pb[]).find((v) => String(v.name).startsWith('orders.'))!.routes.find((r: Pb) => r.name === `${ORDERS}/checkout`);
  assert.deepEqual([checkout.route.retry_policy.num_retries, checkout.route.retry_policy.per_try_timeout], [{ value: 2 }, { seconds: '2', nanos: 0 }]);
});

/** The proxy's config, from the snapshot a proxy in `shop` is sent, through its translator. */
function meshConfig(): ProxyConfig {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor({ kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: NS, outboundPort: 15001, appPorts: {} })!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

/** The same routes and policies in a static file: the orders Service is the Backend `orders`. */
function staticConfig(): ProxyConfig {
  const item = (name: string, target: object, spec: object) => `  - ${JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: { name }, spec: { targetRefs: [target], ...spec } })}`;
  const yaml = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: orders
    rules:
      - { name: checkout, matches: [{ path: { value: /checkout } }], backendRefs: [{ name: orders }], timeouts: { request: 10s, backendRequest: 2s } }
      - { name: browse, matches: [{ path: { value: /browse } }], backendRefs: [{ name: orders }] }
      - { name: rest, backendRefs: [{ name: orders }] }
backends: [{ name: orders, endpoints: [{ address: 10.0.0.1, port: 8080 }] }]
policies:
${item('orders-service', { kind: 'Backend', name: 'orders' }, SPECS.service)}
${item('orders-route', { kind: 'HTTPRoute', name: 'orders' }, SPECS.route)}
${item('orders-browse', { kind: 'HTTPRoute', name: 'orders', sectionName: 'browse' }, SPECS.browse)}
`;
  const r = parseStaticConfig(yaml);
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return r.value;
}

test('a proxy following the control plane runs, rule by rule, the retries, budget and timeouts the static file gives', () => {
  const mesh = meshConfig();
  const file = staticConfig();
  const cluster = 'outbound|80||orders.shop.svc.cluster.local';
  const meshBackend = mesh.backends.find((b) => b.name === cluster)!;
  const fileBackend = file.backends[0];
  assert.deepEqual(
    [meshBackend.retryBudget, meshBackend.connectTimeoutMs, meshBackend.idleTimeoutMs],
    [fileBackend.retryBudget, fileBackend.connectTimeoutMs, fileBackend.idleTimeoutMs],
    'the budget and connection timeouts of the Service',
  );
  const meshRules = new Map(mesh.routes.find((r) => r.name === `outbound/orders.${NS}.svc.cluster.local:80`)!.rules.map((r) => [r.name, r]));
  // The mesh's request timeout is the route's (Envoy has no other); the static file's policy keeps its own.
  const run = (backend: ProxyConfig['backends'][number], rule: RouteRule) => {
    // Over xDS every retry_policy moves a retry past the zone it failed in (previous_priorities); a static file's stays: checked below.
    const { requestTimeoutMs, failoverOnRetry: _, ...policy } = effectivePolicy(backend.retry, rule);
    // With no retries, the conditions say nothing (xDS sends none: gRPC refuses num_retries 0).
    const conditions = policy.attempts === 0 ? { retryOn: [], retriableStatusCodes: [] } : {};
    return { policy: { ...policy, ...conditions }, timeout: Math.min(rule.timeouts.request ?? Infinity, requestTimeoutMs ?? Infinity) };
  };
  for (const rule of file.routes[0].rules) {
    const twin = meshRules.get(`${ORDERS}/${rule.name}`);
    assert.ok(twin !== undefined, `${rule.name}: no such rule in the mesh config (${[...meshRules.keys()].join(', ')})`);
    assert.deepEqual(run(meshBackend, twin), run(fileBackend, rule), rule.name);
  }
  for (const rule of meshRules.values()) assert.equal(effectivePolicy(meshBackend.retry, rule).failoverOnRetry, true, `${rule.name}: a retry goes to the next zone`);
  // And what each rule runs, spelled out.
  const browse = effectivePolicy(meshBackend.retry, meshRules.get(`${ORDERS}/browse`)!);
  assert.deepEqual([browse.attempts, browse.retryNonIdempotent, browse.bufferLimitBytes, browse.perTryTimeoutMs], [0, true, 1024, 1000], 'rule over route over Service');
  const checkout = effectivePolicy(meshBackend.retry, meshRules.get(`${ORDERS}/checkout`)!);
  assert.deepEqual([checkout.attempts, checkout.perTryTimeoutMs, meshRules.get(`${ORDERS}/checkout`)!.timeouts.request], [3, 2000, 10_000], "the rule's backendRequest is the per-try timeout; its request timeout is shorter than the policy's");
  assert.equal(meshRules.get(`${ORDERS}/rest`)!.timeouts.request, 20_000, "a rule with no request timeout gets the policy's");
});

test("a Service's policy reaches the calls no route governs; a gRPC rule's own policy replaces the Service's defaults whole", () => {
  const mesh = meshConfig();
  const stock = mesh.routes.find((r) => r.name === `outbound/stock.${NS}.svc.cluster.local:9090`)!.rules[0];
  const stockBackend = mesh.backends.find((b) => b.name === 'outbound|9090||stock.shop.svc.cluster.local')!;
  const lookup = effectivePolicy(stockBackend.retry, stock);
  assert.deepEqual([lookup.attempts, lookup.retryOn, lookup.backoffBaseMs, lookup.backoffMaxMs, lookup.retryNonIdempotent], [4, ['unavailable'], 50, 1000, false]);
  // payments: no route, so its Service's policy (on the virtual host) governs the default route; the request timeout is the route's.
  const payments = mesh.routes.find((r) => r.name === `outbound/payments.${NS}.svc.cluster.local:80`)!.rules[0];
  const paymentsBackend = mesh.backends.find((b) => b.name === 'outbound|80||payments.shop.svc.cluster.local')!;
  assert.deepEqual(effectivePolicy(paymentsBackend.retry, payments), { ...DEFAULT_RETRY, attempts: 1, retryOn: ['gateway-error'], retryNonIdempotent: true, failoverOnRetry: true });
  assert.equal(payments.timeouts.request, 3000);
  // billing: no policy, so the backend's no-policy defaults, exactly as before RetryPolicy was carried.
  const billing = mesh.routes.find((r) => r.name === `outbound/billing.${NS}.svc.cluster.local:80`)!.rules[0];
  assert.equal(billing.retry, undefined);
});
