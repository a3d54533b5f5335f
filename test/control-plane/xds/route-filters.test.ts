// Route filters over xDS (control-plane/xds/generate/route-filters.ts): what HTTPRoute and
// GRPCRoute filters become, held in golden files, and what a Sluice proxy makes of them:
// translated by its own translator, each rule runs the filters a static file with the same
// route gives it, with the same effect on the path (Gateway API's ReplacePrefixMatch table).

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { notCarried } from '../../../control-plane/api/carried.ts';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { outboundRouteConfig, serviceRouteConfigs } from '../../../control-plane/xds/generate/resources.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { HttpRoute, ProxyConfig, RouteFilter } from '../../../proxy/config/model.ts';
import type { RequestContext } from '../../../proxy/http/context.ts';
import { rewritePath } from '../../../proxy/http/filters/url-rewrite.ts';
import { compileRouteTable } from '../../../proxy/http/route-table.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/generate/filters/golden/', import.meta.url));
const NS = 'shop';
const meta = (name: string) => ({ name, namespace: NS, creationTimestamp: '2025-01-01T00:00:00Z' });
const FACTS = { trustDomain: 'cluster.local' };

const services: Resource[] = ['orders', 'orders-v2', 'shadow'].map((name) => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } }));
services.push({ apiVersion: 'v1', kind: 'Service', metadata: meta('stock'), spec: { selector: { app: 'stock' }, ports: [{ name: 'grpc', port: 9090, appProtocol: 'grpc' }] } });
const workloads: Resource[] = ['orders', 'orders-v2', 'shadow', 'stock', 'web'].map((app, i) => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { ...meta(`${app}-1`), labels: { app } },
  spec: { address: `10.0.0.${i + 1}`, ports: { http: 8080, grpc: 9090 }, serviceAccount: app },
}));

/** The rules both the mesh and the static file get; `backend(name)` spells a backendRef in each. */
function rules(backend: (name: string) => object, mirror: (name: string) => object) {
  const prefix = (value: string) => [{ path: { type: 'PathPrefix', value } }];
  const rewrite = (name: string, value: string, replacement: string) => ({
    name,
    matches: prefix(value),
    filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: replacement } } }],
    backendRefs: [backend('orders')],
  });
  return [
    {
      name: 'headers',
      matches: prefix('/headers'),
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Set', value: '100%' }], add: [{ name: 'x-add', value: 'two' }], remove: ['x-drop'] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'r' }], remove: ['x-upstream'] } },
      ],
      backendRefs: [backend('orders')],
    },
    { name: 'host', matches: prefix('/host'), filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'new.internal', path: { type: 'ReplaceFullPath', replaceFullPath: '/full' } } }], backendRefs: [backend('orders')] },
    rewrite('xyz', '/foo', '/xyz'),
    rewrite('xyz-slash', '/bar/', '/xyz/'),
    rewrite('strip', '/strip', ''),
    rewrite('root', '/root', '/'),
    { name: 'moved', matches: prefix('/moved'), filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'elsewhere.example.com', port: 8443, statusCode: 301 } }] },
    { name: 'renamed', matches: prefix('/renamed'), filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }] },
    { name: 'mirrored', matches: prefix('/mirrored'), filters: [{ type: 'RequestMirror', requestMirror: mirror('shadow') }, { type: 'RequestMirror', requestMirror: { ...mirror('shadow'), percent: 25 } }], backendRefs: [backend('orders')] },
    {
      name: 'split',
      matches: prefix('/split'),
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-rule', value: 'split' }] } }],
      backendRefs: [
        { ...backend('orders'), weight: 3, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'v1' }] } }] },
        { ...backend('orders-v2'), weight: 1, filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'v2' }] } }] },
      ],
    },
  ];
}

const svcRef = (name: string) => ({ name, port: 80 });
const httpRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('orders'),
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], rules: rules(svcRef, (name) => ({ backendRef: svcRef(name) })) },
};
const grpcRoute = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'GRPCRoute',
  metadata: meta('stock'),
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'stock', port: 9090 }],
    rules: [
      {
        name: 'lookup',
        matches: [{ method: { service: 'stock.Stock', method: 'Lookup' } }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-caller', value: 'web' }] } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'stock', port: 9090 }, fraction: { numerator: 1, denominator: 3 } } },
        ],
        backendRefs: [{ name: 'stock', port: 9090 }],
      },
    ],
  },
};

const view = buildMeshView({ revision: 3, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [httpRoute as never], grpcRoutes: [grpcRoute as never], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });

/** As a client receives it: packed and decoded, so a field the proto does not have cannot hide in a golden file. */
const wire = (typeUrl: string, list: readonly Pb[]) => list.map((o) => (unpack(pack(typeUrl, o)) as { value: Pb }).value);
/** Only the virtual hosts these routes attach to. */
const attached = (rc: Pb) => ({ ...rc, virtual_hosts: (rc.virtual_hosts as Pb[]).filter((v) => /^(orders|stock)\./.test(String(v.name))) });

test('golden: the Envoy route fields of each filter, on the outbound routes of Sluice proxies and the routes of proxyless clients', () => {
  assertGoldenJson(GOLDEN, 'outbound-routes.json', wire(TYPE_URLS.RouteConfiguration, [outboundRouteConfig(view, NS)]).map(attached));
  assertGoldenJson(GOLDEN, 'routes-proxyless.json', wire(TYPE_URLS.RouteConfiguration, serviceRouteConfigs(view).filter((rc) => /^(orders|stock)\./.test(String(rc.name)))));
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

const cluster = (name: string) => `outbound|80||${name}.${NS}.svc.cluster.local`;

/**
 * The same route in a static file, its backends named as the cluster names they stand for
 * (a static name has no '|'). A static file spells Gateway API's empty replacePrefixMatch
 * '/', which means the same.
 */
function staticRoute(): HttpRoute {
  const backend = (name: string) => ({ name });
  const spec = rules(backend, (name) => ({ backendRef: backend(name) })).map((r) => ({
    ...r,
    filters: JSON.parse(JSON.stringify(r.filters ?? []).replace('"replacePrefixMatch":""', '"replacePrefixMatch":"/"')),
  }));
  const yaml = JSON.stringify({
    listeners: [{ name: 'main', address: '127.0.0.1', port: 0, protocol: 'http' }],
    routes: [{ name: 'orders', rules: spec }],
    backends: ['orders', 'orders-v2', 'shadow'].map((name) => ({ name, endpoints: [{ address: '10.0.0.1', port: 8080 }] })),
  });
  const r = parseStaticConfig(yaml);
  if (!r.ok) assert.fail(JSON.stringify(r.error));
  return JSON.parse(JSON.stringify(r.value.routes[0]).replace(/"name":"(orders|orders-v2|shadow)"/g, (_, name) => `"name":"${cluster(name)}"`));
}

const byType = (filters: readonly RouteFilter[]) => [...filters].sort((a, b) => a.type.localeCompare(b.type));
const pathFilter = (filters: readonly RouteFilter[]) => filters.find((f) => f.type === 'URLRewrite' || f.type === 'RequestRedirect');

describe('a proxy following the control plane runs the filters the static file gives', () => {
  const mesh = meshConfig();
  const meshRoute = mesh.routes.find((r) => r.name === `outbound/orders.${NS}.svc.cluster.local:80`)!;
  const file = staticRoute();

  test('headers, host and full-path rewrites, redirects and mirrors: the same filters, rule by rule, on each Envoy route of the rule', () => {
    for (const rule of file.rules) {
      const twins = meshRoute.rules.filter((r) => r.name === `${NS}/orders/${rule.name}`);
      assert.equal(twins.length, 2, `${rule.name}: a PathPrefix is an exact and a prefix route`);
      for (const twin of twins) {
        // A prefix replacement is checked by its effect below: on the exact route it is a whole path.
        const prefix = JSON.stringify(rule.filters).includes('ReplacePrefixMatch');
        const strip = (fs: readonly RouteFilter[]) => byType(fs).map((f) => (!prefix ? f : f.type === 'URLRewrite' ? { ...f, urlRewrite: { ...f.urlRewrite, path: undefined } } : f.type === 'RequestRedirect' ? { ...f, requestRedirect: { ...f.requestRedirect, path: undefined } } : f));
        assert.deepEqual(strip(twin.filters), strip(rule.filters), rule.name);
        assert.deepEqual(twin.backendRefs, rule.backendRefs, `${rule.name}: backends, with their own filters`);
      }
    }
  });

  test("ReplacePrefixMatch rewrites what Gateway API's table says, as the static file does", () => {
    const meshTable = compileRouteTable([meshRoute], 'outbound');
    const fileTable = compileRouteTable([{ ...file, parentRefs: [] }], 'main');
    const rule = (r: { name?: string }) => r.name ?? '?';
    const rewritten = (table: typeof meshTable, path: string) => {
      const route = table.match({ host: 'orders', path, query: '', method: 'GET', headers: {} })!;
      const f = pathFilter(route.rule.filters)!;
      const mod = f.type === 'URLRewrite' ? f.urlRewrite.path! : f.type === 'RequestRedirect' ? f.requestRedirect.path! : assert.fail(`${rule(route.rule)}: no path filter`);
      return rewritePath({ route, path } as unknown as RequestContext, mod);
    };
    const table: [string, string][] = [
      ['/foo/bar', '/xyz/bar'], ['/foo', '/xyz'], ['/foo/', '/xyz/'],
      ['/bar/baz', '/xyz/baz'], ['/bar', '/xyz'], ['/bar/', '/xyz/'],
      ['/strip/bar', '/bar'], ['/strip/', '/'], ['/strip', '/'],
      ['/root/bar', '/bar'], ['/root/', '/'], ['/root', '/'],
      ['/renamed/a', '/new/a'], ['/renamed', '/new'],
    ];
    for (const [path, expected] of table) {
      assert.equal(rewritten(meshTable, path), expected, `mesh: ${path}`);
      assert.equal(rewritten(fileTable, path), expected, `static: ${path}`);
    }
  });

  test("a backendRef's header filters go with that backend; the rule's stay the rule's", () => {
    const split = meshRoute.rules.find((r) => r.name === `${NS}/orders/split`)!;
    assert.deepEqual(split.backendRefs, [
      { name: cluster('orders'), weight: 3, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'v1' }], add: [], remove: [] } }] },
      { name: cluster('orders-v2'), weight: 1, filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [{ name: 'x-served-by', value: 'v2' }], remove: [] } }] },
    ]);
    assert.deepEqual(split.filters, [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-rule', value: 'split' }], add: [], remove: [] } }]);
  });

  test("a GRPCRoute's header filter and mirror: a third of the calls, to the Service's own cluster", () => {
    const lookup = mesh.routes.find((r) => r.name === `outbound/stock.${NS}.svc.cluster.local:9090`)!.rules[0];
    assert.deepEqual(lookup.filters, [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [], add: [{ name: 'x-caller', value: 'web' }], remove: [] } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: `outbound|9090||stock.${NS}.svc.cluster.local` }, percent: 33.3333 } }, // 333 333 in a million: Envoy's finest denominator
    ]);
  });
});

describe('what carried.ts still refuses of route filters', () => {
  const route = (rule: object, kind = 'HTTPRoute') => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: meta('r'), spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], rules: [rule] } }) as Resource;
  const paths = (r: Resource) => notCarried(r, FACTS).map((v) => v.path);

  test("a rule's filters and a backendRef's header filters are accepted", () => {
    assert.deepEqual(paths(httpRoute as Resource), []);
    assert.deepEqual(paths(grpcRoute as Resource), []);
  });

  test("a backendRef's URLRewrite, RequestRedirect or RequestMirror: Envoy's weighted cluster entry has no field for it", () => {
    const rewrite = { type: 'URLRewrite', urlRewrite: { hostname: 'x.internal' } };
    const mirror = { type: 'RequestMirror', requestMirror: { backendRef: svcRef('shadow') } };
    const refused = notCarried(route({ backendRefs: [{ ...svcRef('orders'), filters: [rewrite, mirror] }] }), FACTS);
    assert.deepEqual(refused.map((v) => v.path), ['spec.rules[0].backendRefs[0].filters[0].type', 'spec.rules[0].backendRefs[0].filters[1].type']);
    assert.match(refused[0].message, /no field in Envoy's weighted cluster entry.*RequestHeaderModifier and ResponseHeaderModifier/);
    assert.deepEqual(paths(route({ backendRefs: [{ ...svcRef('orders'), filters: [mirror] }] }, 'GRPCRoute')), ['spec.rules[0].backendRefs[0].filters[0].type']);
  });

  test('a header modifier naming Host, and a header changed both by the rule and by one of its backends', () => {
    const mod = (field: string, m: object) => ({ type: field === 'requestHeaderModifier' ? 'RequestHeaderModifier' : 'ResponseHeaderModifier', [field]: m });
    const refused = notCarried(
      route({
        filters: [mod('requestHeaderModifier', { set: [{ name: 'Host', value: 'x' }, { name: 'x-a', value: '1' }] }), mod('responseHeaderModifier', { remove: ['x-b'] })],
        backendRefs: [{ ...svcRef('orders'), filters: [mod('requestHeaderModifier', { remove: ['X-A'] }), mod('responseHeaderModifier', { add: [{ name: 'x-b', value: '2' }, { name: 'x-c', value: '3' }] })] }],
      }),
      FACTS,
    );
    assert.deepEqual(refused.map((v) => v.path), [
      'spec.rules[0].filters[0].requestHeaderModifier.set[0].name',
      'spec.rules[0].backendRefs[0].filters[0].requestHeaderModifier.remove[0]',
      'spec.rules[0].backendRefs[0].filters[1].responseHeaderModifier.add[0].name',
    ]);
    assert.match(refused[0].message, /Envoy refuses a route whose header fields change Host.*URLRewrite/);
    assert.match(refused[1].message, /header 'x-a' is also modified by the rule's filters\[0\]\.requestHeaderModifier\.set\[1\]\.name/);
  });
});
