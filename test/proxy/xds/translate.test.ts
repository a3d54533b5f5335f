// Envoy resources (through the real wire: pack, then unpack) -> the proxy's config model,
// or every problem with its resource and field path. Good resources in a table, bad ones in
// another; a translated config is the one a static file with the same meaning loads.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_BUDGET, DEFAULT_LIMITS, DEFAULT_OUTLIER, DEFAULT_RETRY } from '../../../kinds/resilience-specs.ts';
import { defaultHttpLimits, type ProxyConfig } from '../../../proxy/config/model.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import { dependencies, formatProblem, translate, validate, type NodeContext, type Problem, type XdsResources } from '../../../proxy/xds/translate.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../xds/index.ts';
import { assignment, cluster, hcm, listener, locality, resources, rootCa, ROOT_PEM, route, routeConfig, router, tcpProxy, upstreamTls } from './resources.ts';

const IDENTITY = { cert: '/id/cert.pem', key: '/id/key.pem', bundle: '/id/bundle.pem' };
const NODE: NodeContext = { zone: 'z1', identity: IDENTITY };
const SPIFFE = 'spiffe://mesh.local/ns/shop/sa/orders';

function translated(input: XdsResources, node: NodeContext = NODE): ProxyConfig {
  const r = translate(input, node);
  if (!r.ok) assert.fail(`expected a config, got:\n${r.error.map(formatProblem).join('\n')}`);
  return r.value.config;
}

/** [type, resource name, path] of each problem, in the order reported. */
function problemsOf(input: XdsResources, node: NodeContext = NODE): [string, string, string][] {
  const r = translate(input, node);
  if (r.ok) assert.fail('expected problems, got a config');
  return r.error.map((p: Problem) => [p.typeUrl.split('.').at(-1)!, p.name, p.path]);
}

/** A web listener with its routes, and the clusters `orders` (EDS) and `stock` (STATIC). */
function mesh(opts: { routes?: Record<string, unknown>[]; listeners?: Record<string, unknown>[]; clusters?: Record<string, unknown>[] } = {}) {
  const routes = opts.routes ?? [route({ prefix: '' }, { cluster: 'orders' })];
  return {
    listeners: opts.listeners ?? [listener('web')],
    routes: [routeConfig('web', [{ name: 'orders', domains: ['orders.shop', 'Orders.shop', 'orders.shop.svc.cluster.local'], routes }])],
    clusters: opts.clusters ?? [cluster('orders'), cluster('stock', { eds: false, endpoints: [locality('', [['10.0.9.9', 9000]])] })],
    // As the control plane sends it to a proxy in z1: the other zone is priority 1.
    endpoints: [assignment('orders', [locality('z1', [['10.0.0.1', 8080, 3]]), { ...locality('z2', [['10.0.0.2', 8080]]), priority: 1 }])],
    secrets: [rootCa()],
  };
}

describe('translating good resources', () => {
  test('an HTTP listener, its routes and an EDS cluster fill every default a static config would', () => {
    const config = translated(resources(mesh()));
    const yaml = `
node: { zone: z1 }
identity: { certFile: /id/cert.pem, keyFile: /id/key.pem, bundleFile: /id/bundle.pem }
listeners: [{ name: web, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: same
    parentRefs: [{ name: web }]
    hostnames: [orders.shop, orders.shop.svc.cluster.local]
    rules: [{ backendRefs: [{ name: orders }], timeouts: { request: 15s } }]
backends:
  - name: orders
    loadBalancer: round-robin
    endpoints: [{ address: 10.0.0.1, port: 8080, weight: 3, zone: z1 }, { address: 10.0.0.2, port: 8080, zone: z2 }]
  - name: stock
    loadBalancer: round-robin
    endpoints: [{ address: 10.0.9.9, port: 9000 }]
`;
    const expected = parseStaticConfig(yaml);
    assert.ok(expected.ok, expected.ok ? '' : JSON.stringify(expected.error));
    assert.equal(config.routes[0].name, 'web/orders');
    assert.deepEqual({ ...config, routes: config.routes.map((r) => ({ ...r, name: 'same' })) }, expected.value);
    assert.deepEqual(config.backends[0].endpoints.map((e) => e.priority), [0, 1], 'the other zone is the failover level');
    assert.ok(Object.isFrozen(config.backends[0].endpoints[0]), 'deep-frozen');
  });

  test('the defaults repeated in the translator are the ones kinds/resilience-specs.ts defines', () => {
    const b = translated(resources(mesh())).backends[0];
    assert.deepEqual([b.retry, b.retryBudget, b.limits, b.outlierDetection], [DEFAULT_RETRY, DEFAULT_BUDGET, DEFAULT_LIMITS, DEFAULT_OUTLIER]);
    const l = translated(resources(mesh())).listeners[0];
    assert.deepEqual(l.protocol === 'http' && [l.limits, l.escapedSlashes, l.authorization, l.jwt], [defaultHttpLimits, 'Reject', [], []]);
  });

  const modes = [
    ['one chain without TLS is DISABLE', 'DISABLE'],
    ['one TLS chain requiring client certificates is STRICT', 'STRICT'],
    ['a tls chain and a raw_buffer chain are PERMISSIVE', 'PERMISSIVE'],
  ] as const;
  for (const [title, mode] of modes) {
    test(title, () => {
      const config = translated(resources(mesh({ listeners: [listener('web', { mode, port: 15006 })] })));
      assert.deepEqual(config.listeners[0].tls, { mode });
      assert.equal(config.listeners[0].port, 15006);
    });
  }

  test('a tcp_proxy listener is a TCP listener forwarding to its cluster', () => {
    const config = translated(resources(mesh({ listeners: [listener('web'), listener('db', { mode: 'STRICT', filter: tcpProxy('stock') })] })));
    assert.deepEqual(config.listeners[1], { name: 'db', address: '127.0.0.1', port: 0, tls: { mode: 'STRICT' }, protocol: 'tcp', backend: 'stock', authorization: [] });
    assert.deepEqual(
      config.routes.map((r) => r.parentRefs),
      [['web']],
    );
  });

  test('weighted_clusters are backendRefs with their weights', () => {
    const split = route({ prefix: '/' }, { weighted_clusters: { clusters: [{ name: 'orders', weight: { value: 90 } }, { name: 'stock', weight: { value: 10 } }] } });
    const rule = translated(resources(mesh({ routes: [split] }))).routes[0].rules[0];
    assert.deepEqual(rule.backendRefs, [{ name: 'orders', weight: 90 }, { name: 'stock', weight: 10 }]);
  });

  test('with cluster_not_found_response_code INTERNAL_SERVER_ERROR, a cluster not received stays a backendRef with its weight (its share is answered 500)', () => {
    const split = route({ prefix: '/' }, { weighted_clusters: { clusters: [{ name: 'orders', weight: { value: 1 } }, { name: 'typo', weight: { value: 1 } }] }, cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR' });
    const whole = route({ prefix: '/gone' }, { cluster: 'gone', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR' });
    const rules = translated(resources(mesh({ routes: [split, whole] }))).routes[0].rules;
    assert.deepEqual(rules[0].backendRefs, [{ name: 'orders', weight: 1 }, { name: 'typo', weight: 1 }]);
    assert.deepEqual(rules[1].backendRefs, [{ name: 'gone', weight: 1 }]);
  });

  test('path, header, query and :method matches become one RouteMatch each', () => {
    const routes = [
      route(
        {
          path: '/items',
          headers: [{ name: ':method', string_match: { exact: 'get' } }, { name: 'X-Canary', string_match: { exact: '1' } }, { name: 'x-user', string_match: { safe_regex: { regex: 'u[0-9]+' } } }],
          query_parameters: [{ name: 'debug', string_match: { exact: 'on' } }, { name: 'page', string_match: { safe_regex: { regex: '\\d+' } } }],
        },
        { cluster: 'orders', timeout: { seconds: '2', nanos: 500_000_000 } },
        'items',
      ),
      route({ safe_regex: { regex: '/v[12]/.*' } }, { cluster: 'orders', timeout: {} }),
      route({ prefix: '/stock' }, { cluster: 'stock', timeout: { seconds: '0' } }),
    ];
    const rules = translated(resources(mesh({ routes }))).routes[0].rules;
    assert.deepEqual(rules[0], {
      name: 'items',
      matches: [
        {
          path: { type: 'Exact', value: '/items' },
          headers: [{ type: 'Exact', name: 'x-canary', value: '1' }, { type: 'RegularExpression', name: 'x-user', value: 'u[0-9]+' }],
          queryParams: [{ type: 'Exact', name: 'debug', value: 'on' }, { type: 'RegularExpression', name: 'page', value: '\\d+' }],
          method: 'GET',
        },
      ],
      filters: [],
      backendRefs: [{ name: 'orders', weight: 1 }],
      timeouts: { request: 2500 },
    });
    assert.deepEqual(rules[1].matches[0].path, { type: 'RegularExpression', value: '/v[12]/.*' });
    assert.deepEqual([rules[1].timeouts, rules[2].timeouts], [{}, {}], 'an explicit 0s timeout is none');
    assert.deepEqual(rules[2].matches[0].path, { type: 'PathPrefix', value: '/stock' });
  });

  test('virtual host domains lose their case and repeats, and keep their port (it picks the Service port); * means any host', () => {
    const input = resources(mesh());
    assert.deepEqual(translated(input).routes[0].hostnames, ['orders.shop', 'orders.shop.svc.cluster.local']);
    const ported = resources({ ...mesh(), routes: [routeConfig('web', [{ name: 'p', domains: ['orders.shop:8080', 'Orders.Shop:08080', 'orders.shop'], routes: [route({ prefix: '' }, { cluster: 'orders' })] }])] });
    assert.deepEqual(translated(ported).routes[0].hostnames, ['orders.shop:8080', 'orders.shop']);
    const bad = resources({ ...mesh(), routes: [routeConfig('web', [{ name: 'p', domains: ['*.shop:8080', 'orders.shop:70000', '*:80'], routes: [route({ prefix: '' }, { cluster: 'orders' })] }])] });
    assert.deepEqual(problemsOf(bad), [
      ['RouteConfiguration', 'web', 'virtual_hosts[0].domains[0]'],
      ['RouteConfiguration', 'web', 'virtual_hosts[0].domains[1]'],
      ['RouteConfiguration', 'web', 'virtual_hosts[0].domains[2]'],
    ]);
    const any = resources({ ...mesh(), routes: [routeConfig('web', [{ name: 'all', domains: ['orders.shop', '*'], routes: [route({ prefix: '' }, { cluster: 'orders' })] }])] });
    assert.deepEqual(translated(any).routes[0].hostnames, []);
  });

  test('a cluster says its LB policy, HTTP/2, mTLS to peers and connect timeout', () => {
    const clusters = [
      cluster('orders', { lb: 'LEAST_REQUEST', http2: true, tls: { sans: [SPIFFE, SPIFFE], sni: 'orders.shop' }, connectTimeout: { seconds: '1', nanos: 250_000_000 } }),
      cluster('stock', { eds: false, lb: 'MAGLEV', tls: { sans: [SPIFFE] } }),
      cluster('ring', { eds: false, lb: 'RING_HASH' }),
    ];
    const r = translate(resources({ ...mesh({ clusters }) }), NODE);
    assert.ok(r.ok, r.ok ? '' : r.error.map(formatProblem).join('\n'));
    const [orders, stock, ring] = r.value.config.backends;
    assert.deepEqual([orders.loadBalancer, orders.protocol, orders.connectTimeoutMs, orders.tls], ['least-request', 'http2', 1250, { identities: [SPIFFE], serverName: 'orders.shop' }]);
    assert.deepEqual([stock.loadBalancer, stock.protocol, stock.connectTimeoutMs, stock.tls], ['maglev', 'http1', 5000, { identities: [SPIFFE], serverName: 'stock' }]);
    assert.equal(ring.loadBalancer, 'ring-hash');
    assert.equal(r.value.bundlePem, ROOT_PEM);
  });

  test('with no node zone, the levels are still the ones sent: the control plane set them', () => {
    const config = translated(resources(mesh()), { identity: null });
    assert.deepEqual(config.node, {});
    assert.deepEqual(config.backends[0].endpoints.map((e) => [e.zone, e.priority]), [['z1', 0], ['z2', 1]]);
    assert.equal(config.identity, null);
  });

  test("an endpoint's sluice.dev metadata names the Workload behind it: the destination of the mesh metrics", () => {
    const str = (v: string) => ({ stringValue: v });
    const meta = (fields: Record<string, unknown>) => ({ metadata: { filter_metadata: { 'sluice.dev': { fields } } } });
    const ep = (address: string, extra: object) => ({ endpoint: { address: { socket_address: { address, port_value: 8080 } } }, ...extra });
    const endpoints = [assignment('orders', [{ locality: { zone: 'z1' }, lb_endpoints: [ep('10.0.0.1', meta({ workload: str('orders-1'), namespace: str('shop'), principal: str(SPIFFE) })), ep('10.0.0.2', meta({ workload: str('orders-2'), namespace: str('shop') })), ep('10.0.0.3', {})] }])];
    const config = translated(resources({ ...mesh(), endpoints }));
    assert.deepEqual(config.backends[0].endpoints.map((e) => e.workload), [{ name: 'orders-1', namespace: 'shop', principal: SPIFFE }, { name: 'orders-2', namespace: 'shop' }, undefined]);
    const bad = [assignment('orders', [{ lb_endpoints: [ep('10.0.0.1', { metadata: { filter_metadata: { istio: { fields: { workload: str('x;y') } }, 'sluice.dev': { fields: { workload: str(''), zone: str('z1') } } } } })] }])];
    assert.deepEqual(problemsOf(resources({ ...mesh(), endpoints: bad })), [
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].metadata.filter_metadata["istio"]'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].metadata.filter_metadata["sluice.dev"].zone'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].metadata.filter_metadata["sluice.dev"].workload'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].metadata.filter_metadata["sluice.dev"].namespace'],
    ]);
  });

  test('an inline route_config attaches to its own listener only', () => {
    const inline = routeConfig('', [{ name: 'local', domains: ['*'], routes: [route({ prefix: '' }, { cluster: 'stock' })] }]);
    const config = translated(resources({ ...mesh(), listeners: [listener('web'), listener('admin', { filter: hcm({ inline }) })] }));
    assert.deepEqual(
      config.routes.map((r) => [r.name, r.parentRefs]),
      [['web/orders', ['web']], ['admin/local', ['admin']]],
    );
  });
});

const CORS = { type_url: 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors', value: Buffer.alloc(0) };

describe('translating bad resources: every problem, with its path', () => {
  const cases: [string, Parameters<typeof mesh>[0], NodeContext, [string, string, string][]][] = [
    [
      'an unknown HTTP filter (cors) is named by its name and its typed_config',
      { listeners: [listener('web', { filter: hcm({ rds: 'web', httpFilters: [{ name: 'envoy.filters.http.cors', typed_config: CORS }, router()] }) })] },
      NODE,
      [
        ['Listener', 'web', 'filter_chains[0].filters[0].typed_config.http_filters[0].name'],
        ['Listener', 'web', 'filter_chains[0].filters[0].typed_config.http_filters[0].typed_config'],
      ],
    ],
    [
      'fields a Sluice proxy does not read are each a problem (of outlier_detection, circuit_breakers, health_checks), and an unknown lb_policy',
      {
        clusters: [
          cluster('orders', {
            lb: 'RANDOM',
            extra: {
              outlier_detection: { always_eject_one_host: { value: true }, failure_percentage_threshold: { value: 85 } },
              circuit_breakers: { thresholds: [{ max_connection_pools: { value: 5 } }] },
              health_checks: [{ timeout: { seconds: '1' }, interval: { seconds: '1' }, unhealthy_threshold: { value: 1 }, healthy_threshold: { value: 1 }, grpc_health_check: {} }],
            },
          }),
          cluster('stock', { eds: false }),
        ],
      },
      NODE,
      [
        ['Cluster', 'orders', 'lb_policy'],
        ['Cluster', 'orders', 'health_checks[0].grpc_health_check'],
        ['Cluster', 'orders', 'circuit_breakers.thresholds[0].max_connection_pools'],
        ['Cluster', 'orders', 'outlier_detection.failure_percentage_threshold'],
        ['Cluster', 'orders', 'health_checks[0].http_health_check'],
      ],
    ],
    [
      'a route naming a cluster that was not received, in a plain and in a weighted action',
      { routes: [route({ prefix: '/a' }, { cluster: 'gone' }), route({ prefix: '/b' }, { weighted_clusters: { clusters: [{ name: 'orders', weight: { value: 1 } }, { name: 'lost', weight: { value: 1 } }] } })] },
      NODE,
      [
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].route.cluster'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[1].route.weighted_clusters.clusters[1].name'],
      ],
    ],
    [
      'a missing cluster with cluster_not_found_response_code NOT_FOUND: only INTERNAL_SERVER_ERROR (500) is read, so the reference dangles too',
      { routes: [route({ prefix: '/' }, { cluster: 'gone', cluster_not_found_response_code: 'NOT_FOUND' })] },
      NODE,
      [
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].route.cluster_not_found_response_code'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].route.cluster'],
      ],
    ],
    [
      'a listener naming a route configuration, and a tcp_proxy a cluster, that were not received',
      { listeners: [listener('web'), listener('api'), listener('db', { filter: tcpProxy('nowhere') })] },
      NODE,
      [
        ['Listener', 'api', 'filter_chains[0].filters[0].typed_config.rds.route_config_name'],
        ['Listener', 'db', 'filter_chains[0].filters[0].typed_config.cluster'],
      ],
    ],
    [
      'regular expressions JavaScript cannot compile, a pseudo-header, a second :method and a present_match',
      {
        routes: [
          route(
            {
              safe_regex: { regex: '/(a' },
              headers: [{ name: ':method', string_match: { exact: 'GET' } }, { name: ':method', string_match: { exact: 'PUT' } }, { name: ':authority', string_match: { exact: 'x' } }, { name: 'x-a', present_match: true }],
              query_parameters: [{ name: 'q', string_match: { safe_regex: { regex: '[' } } }],
            },
            { cluster: 'orders' },
          ),
        ],
      },
      NODE,
      [
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].match.headers[3].present_match'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].match.safe_regex.regex'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].match.headers[1].name'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].match.headers[2].name'],
        ['RouteConfiguration', 'web', 'virtual_hosts[0].routes[0].match.query_parameters[0].string_match.safe_regex.regex'],
      ],
    ],
    [
      'mTLS without the proxy having a certificate',
      { listeners: [listener('web', { mode: 'STRICT' })] },
      { identity: null },
      [['Listener', 'web', 'filter_chains[0].transport_socket']],
    ],
    [
      'an EDS cluster whose ClusterLoadAssignment was not received, and a TLS context naming another secret',
      { clusters: [cluster('orders'), cluster('stock', { eds: false }), cluster('cart', { extra: { transport_socket: upstreamTls([SPIFFE], undefined, { cert: 'file-cert', ca: 'other-ca' }) } })] },
      NODE,
      [
        ['Cluster', 'cart', 'eds_cluster_config'],
        ['Cluster', 'cart', 'transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name'],
        ['Cluster', 'cart', 'transport_socket.typed_config.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name'],
      ],
    ],
    [
      'a listener with three chains, an unknown network filter and a field of its own',
      {
        listeners: [
          {
            ...listener('web', { extra: { per_connection_buffer_limit_bytes: { value: 1024 } } }),
            filter_chains: [{ filters: [hcm({ rds: 'web' })] }, { filters: [{ name: 'envoy.filters.network.redis_proxy', typed_config: CORS }] }, { filters: [] }],
          },
        ],
      },
      NODE,
      [
        ['Listener', 'web', 'per_connection_buffer_limit_bytes'],
        ['Listener', 'web', 'filter_chains[1].filters[0].name'],
        ['Listener', 'web', 'filter_chains[1].filters[0].typed_config'],
        ['Listener', 'web', 'filter_chains[2].filters'],
        ['Listener', 'web', 'filter_chains'],
      ],
    ],
  ];
  for (const [title, opts, node, expected] of cases) {
    test(title, () => assert.deepEqual(problemsOf(resources(mesh(opts)), node), expected));
  }

  test('an HTTP protocol option and an endpoint a Sluice proxy cannot honour', () => {
    const h1 = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, { auto_config: {} }) };
    const input = resources({
      ...mesh(),
      clusters: [cluster('orders', { extra: { typed_extension_protocol_options: h1 } }), cluster('stock', { eds: false })],
      endpoints: [assignment('orders', [{ locality: { zone: 'z1', region: 'eu' }, priority: 99, load_balancing_weight: { value: 5 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 0 } } }, load_balancing_weight: { value: 0 } }] }])],
    });
    const key = 'typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]';
    assert.deepEqual(problemsOf(input), [
      ['Cluster', 'orders', `${key}.auto_config`],
      ['Cluster', 'orders', `${key}.explicit_http_config`],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].locality.region'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].priority'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].load_balancing_weight'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value'],
      ['ClusterLoadAssignment', 'orders', 'endpoints[0].load_balancing_weight'],
    ]);
  });

  test('each problem is one line naming the type, the resource and the path', () => {
    const r = translate(resources(mesh({ clusters: [cluster('orders', { extra: { outlier_detection: { failure_percentage_threshold: { value: 85 } } } }), cluster('stock', { eds: false })] })), NODE);
    assert.ok(!r.ok);
    assert.equal(formatProblem(r.error[0]), 'Cluster orders: outlier_detection.failure_percentage_threshold: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)');
  });
});

describe('while resources are still arriving', () => {
  test('validate reports what is wrong in each resource, not what is missing', () => {
    const input = resources({ listeners: [listener('web', { filter: hcm({ rds: 'web', httpFilters: [{ name: 'envoy.filters.http.cors', typed_config: CORS }, router()] }) })], clusters: [cluster('orders')] });
    assert.deepEqual(
      validate(input, NODE).map((p) => p.path),
      ['filter_chains[0].filters[0].typed_config.http_filters[0].name', 'filter_chains[0].filters[0].typed_config.http_filters[0].typed_config'],
    );
  });

  test('dependencies name the route configurations, load assignments and secrets to subscribe to', () => {
    const input = resources({ listeners: [listener('web'), listener('api', { mode: 'STRICT', filter: hcm({ rds: 'api-routes' }) })], clusters: [cluster('orders'), cluster('stock', { eds: false })] });
    assert.deepEqual(dependencies(input), { routes: ['web', 'api-routes'], endpoints: ['orders'], secrets: ['ROOTCA'] });
    assert.deepEqual(dependencies(resources({ listeners: [listener('db', { filter: tcpProxy('stock') })] })), { routes: [], endpoints: [], secrets: [] });
  });
});
