// FaultInjectionPolicy over xDS (control-plane/xds/policies/fault-injection/): what it
// generates, held in golden files, and what a Sluice proxy makes of it: translated by the
// proxy's own translator, every rule gets the fault a static file with the same policies
// gives it.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { outboundRouteConfig, proxyListeners, serviceListeners, serviceRouteConfigs } from '../../../control-plane/xds/generate/resources.ts';
import { fractionalPercent, type FaultInjectionPolicyResource } from '../../../control-plane/xds/policies/fault-injection/generate.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/policies/fault-injection/golden/', import.meta.url));
const NS = 'shop';
const ORDERS = 'shop/orders'; // the HTTPRoute's rules are named <ns>/<route>/<rule>
const meta = (name: string, created = '2025-01-01T00:00:00Z') => ({ name, namespace: NS, creationTimestamp: created });
const PROXY = { kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: NS, outboundPort: 15001, appPorts: {} } as const;

const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('stock'), spec: { selector: { app: 'stock' }, ports: [{ name: 'grpc', port: 9090, appProtocol: 'grpc' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('billing'), spec: { selector: { app: 'billing' }, ports: [{ name: 'http', port: 80 }] } },
];
const workloads: Resource[] = ['orders', 'stock', 'billing', 'web'].map((app, i) => ({
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
      { name: 'checkout', matches: [{ path: { type: 'PathPrefix', value: '/checkout' } }], backendRefs: [{ name: 'orders', port: 80 }], timeouts: { request: '10s' } },
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
  route: { delay: { fixedDelay: '1s500ms', percent: 50 } },
  checkout: { abort: { httpStatus: 418, percent: 12.5 } },
  browse: { delay: { fixedDelay: '20ms' }, abort: { httpStatus: 502, percent: 0.0001 } },
  lookup: { abort: { grpcStatus: 14, percent: 33.3 }, delay: { fixedDelay: '5ms', percent: 100 } },
} as const;

const policy = (name: string, targetRefs: object[], spec: object, created?: string) =>
  ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'FaultInjectionPolicy', metadata: meta(name, created), spec: { targetRefs, ...spec } }) as unknown as FaultInjectionPolicyResource;
const ROUTE_GROUP = 'gateway.networking.k8s.io';
const faultInjectionPolicies = [
  // Newer than orders-route and on the same target: Gateway API gives the target to the oldest.
  policy('orders-late', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders' }], { abort: { httpStatus: 500 } }, '2025-06-01T00:00:00Z'),
  policy('orders-route', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders' }], SPECS.route),
  policy('orders-checkout', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders', sectionName: 'checkout' }], SPECS.checkout),
  policy('orders-browse', [{ group: ROUTE_GROUP, kind: 'HTTPRoute', name: 'orders', sectionName: 'browse' }], SPECS.browse),
  policy('stock-lookup', [{ group: ROUTE_GROUP, kind: 'GRPCRoute', name: 'stock', sectionName: 'lookup' }], SPECS.lookup),
];

const inputs = { revision: 7, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [httpRoute as never], grpcRoutes: [grpcRoute as never], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' };
const view = buildMeshView({ ...inputs, faultInjectionPolicies });

/** As a client receives it: packed and decoded, so a field the proto does not have cannot hide in a golden file. */
const wire = (typeUrl: string, list: readonly Pb[]) => list.map((o) => (unpack(pack(typeUrl, o)) as { value: Pb }).value);

test('golden: the fault filter in the outbound HCMs and the per-route HTTPFault, for Sluice proxies and for proxyless gRPC clients', () => {
  assertGoldenJson(GOLDEN, 'outbound-routes.json', wire(TYPE_URLS.RouteConfiguration, [outboundRouteConfig(view, NS)]));
  assertGoldenJson(GOLDEN, 'outbound-listener.json', wire(TYPE_URLS.Listener, proxyListeners(view, PROXY, [])));
  assertGoldenJson(GOLDEN, 'routes-proxyless.json', wire(TYPE_URLS.RouteConfiguration, serviceRouteConfigs(view)));
  assertGoldenJson(GOLDEN, 'listeners-proxyless.json', wire(TYPE_URLS.Listener, serviceListeners(view)));
});

test('with no FaultInjectionPolicy nothing is added: no fault filter, no typed_per_filter_config', () => {
  const bare = buildMeshView(inputs);
  const text = JSON.stringify([outboundRouteConfig(bare, NS), serviceRouteConfigs(bare)]);
  assert.ok(!text.includes('typed_per_filter_config'));
  const filters = (l: Pb) => (unpack(l.api_listener?.api_listener ?? l.filter_chains[0].filters[0].typed_config) as { value: Pb }).value.http_filters.map((f: Pb) => f.name);
  for (const l of [...proxyListeners(bare, PROXY, []), ...serviceListeners(bare)]) assert.deepEqual(filters(l), ['envoy.filters.http.router'], String(l.name));
  // With policies, only the listeners of Services a targeted route belongs to run the filter.
  assert.deepEqual(
    serviceListeners(view).map((l) => [l.name, filters(l)]),
    [
      ['billing.shop.svc.cluster.local:80', ['envoy.filters.http.router']],
      ['orders.shop.svc.cluster.local:80', ['envoy.filters.http.fault', 'envoy.filters.http.router']],
      ['stock.shop.svc.cluster.local:9090', ['envoy.filters.http.fault', 'envoy.filters.http.router']],
    ],
  );
});

test("a percentage is Envoy's FractionalPercent with the smallest denominator that says it exactly", () => {
  assert.deepEqual(
    [100, 50, 0, 12.5, 0.01, 0.0001, 33.3333333].map(fractionalPercent),
    [
      { numerator: 100, denominator: 'HUNDRED' },
      { numerator: 50, denominator: 'HUNDRED' },
      { numerator: 0, denominator: 'HUNDRED' },
      { numerator: 1250, denominator: 'TEN_THOUSAND' },
      { numerator: 1, denominator: 'TEN_THOUSAND' },
      { numerator: 1, denominator: 'MILLION' },
      { numerator: 333333, denominator: 'MILLION' },
    ],
  );
});

/** The proxy's config, from the snapshot a proxy in `shop` is sent, through its translator. */
function meshConfig(): ProxyConfig {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor(PROXY)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

/** The same route and policies in a static file: the orders Service is the Backend `orders`. */
function staticConfig(): ProxyConfig {
  const item = (name: string, target: object, spec: object) => `  - ${JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'FaultInjectionPolicy', metadata: { name }, spec: { targetRefs: [target], ...spec } })}`;
  const yaml = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: orders
    rules:
      - { name: checkout, matches: [{ path: { value: /checkout } }], backendRefs: [{ name: orders }], timeouts: { request: 10s } }
      - { name: browse, matches: [{ path: { value: /browse } }], backendRefs: [{ name: orders }] }
      - { name: rest, backendRefs: [{ name: orders }] }
backends: [{ name: orders, endpoints: [{ address: 10.0.0.1, port: 8080 }] }]
policies:
${item('orders-route', { kind: 'HTTPRoute', name: 'orders' }, SPECS.route)}
${item('orders-checkout', { kind: 'HTTPRoute', name: 'orders', sectionName: 'checkout' }, SPECS.checkout)}
${item('orders-browse', { kind: 'HTTPRoute', name: 'orders', sectionName: 'browse' }, SPECS.browse)}
`;
  const r = parseStaticConfig(yaml);
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return r.value;
}

test('a proxy following the control plane injects, rule by rule, the faults the static file gives', () => {
  const mesh = meshConfig();
  const file = staticConfig();
  const meshRules = mesh.routes.find((r) => r.name === `outbound/orders.${NS}.svc.cluster.local:80`)!.rules;
  for (const rule of file.routes[0].rules) {
    const twins = meshRules.filter((r) => r.name === `${ORDERS}/${rule.name}`);
    assert.ok(twins.length > 0, `${rule.name}: no such rule in the mesh config`);
    // A Gateway path prefix is two Envoy routes (/checkout and /checkout/): each has the rule's fault.
    for (const twin of twins) assert.deepEqual(twin.fault, rule.fault, rule.name);
  }
  // And what each rule gets, spelled out: the rule's policy replaces the route's whole.
  const fault = (name: string) => meshRules.find((r) => r.name === `${ORDERS}/${name}`)!.fault;
  assert.deepEqual(fault('checkout'), { abort: { httpStatus: 418, percent: 12.5 } });
  assert.deepEqual(fault('browse'), { delay: { fixedDelayMs: 20, percent: 100 }, abort: { httpStatus: 502, percent: 0.0001 } });
  assert.deepEqual(fault('rest'), { delay: { fixedDelayMs: 1500, percent: 50 } });
});

test('a gRPC rule aborts with its grpc_status (a request that is not a gRPC call gets 200, as from Envoy); routes no policy targets get none', () => {
  const mesh = meshConfig();
  const lookup = mesh.routes.find((r) => r.name === `outbound/stock.${NS}.svc.cluster.local:9090`)!.rules[0];
  assert.deepEqual(lookup.fault, { delay: { fixedDelayMs: 5, percent: 100 }, abort: { httpStatus: 200, grpcStatus: 14, percent: 33.3 } });
  const billing = mesh.routes.find((r) => r.name === `outbound/billing.${NS}.svc.cluster.local:80`)!.rules[0];
  assert.equal(billing.fault, undefined);
});
