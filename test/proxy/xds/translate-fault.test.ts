// Envoy's fault filter (in an HttpConnectionManager's http_filters) and its per-route
// HTTPFault (typed_per_filter_config) -> the rule's FaultInjection a static file's policy
// gives, read as Envoy reads them; and every field a Sluice proxy cannot honour, NACKed with
// its path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type NodeContext } from '../../../proxy/xds/translate.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../xds/index.ts';
import { assignment, cluster, hcm, listener, locality, resources, rootCa, route, routeConfig, router } from './resources.ts';

const NODE: NodeContext = { identity: null };
const FAULT = 'envoy.filters.http.fault';
const d = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
const pct = (numerator: number, denominator = 'HUNDRED') => ({ numerator, denominator });
const faultFilter = (config: Record<string, unknown> = {}) => ({ name: FAULT, typed_config: pack(EMBEDDED_TYPE_URLS.HTTPFault, config) });
const perRoute = (fault: Record<string, unknown>) => ({ [FAULT]: pack(EMBEDDED_TYPE_URLS.HTTPFault, fault) });
const faulted = (prefix: string, name: string, fault: Record<string, unknown>) => ({ ...route({ prefix }, { cluster: 'orders' }, name), typed_per_filter_config: perRoute(fault) });

/** Listener `web` (with `filters`) reading route config `web`: virtual host `orders` with `routes`, to cluster `orders`. */
function input(routes: object[], filters: object[] = [faultFilter(), router()], more: { listeners?: object[] } = {}) {
  return resources({
    listeners: [listener('web', { filter: hcm({ rds: 'web', httpFilters: filters as never }) }), ...((more.listeners ?? []) as never[])],
    routes: [routeConfig('web', [{ name: 'orders', domains: ['*'], routes: routes as never }])],
    clusters: [cluster('orders')],
    endpoints: [assignment('orders', [locality('', [['10.0.0.1', 8080]])])],
    secrets: [rootCa()],
  });
}

function config(i: ReturnType<typeof input>): ProxyConfig {
  const r = translate(i, NODE);
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

function problems(i: ReturnType<typeof input>): string[] {
  const r = translate(i, NODE);
  if (r.ok) assert.fail('expected problems, got a config');
  return r.error.map(formatProblem);
}

describe('fault fields a Sluice proxy reads', () => {
  test("each route's HTTPFault is its rule's fault: a delay and an abort, their percentages over any denominator", () => {
    const c = config(
      input([
        faulted('/a/', 'a', { delay: { fixed_delay: d(1500), percentage: pct(50) }, abort: { http_status: 418, percentage: pct(1250, 'TEN_THOUSAND') } }),
        faulted('/b/', 'b', { abort: { grpc_status: 14, percentage: pct(1, 'MILLION') } }),
        route({ prefix: '' }, { cluster: 'orders' }, 'rest'),
      ]),
    );
    assert.deepEqual(
      c.routes[0].rules.map((r) => r.fault),
      [
        { delay: { fixedDelayMs: 1500, percent: 50 }, abort: { httpStatus: 418, percent: 12.5 } },
        // Envoy answers a request that is not a gRPC call 200 too.
        { abort: { httpStatus: 200, grpcStatus: 14, percent: 0.0001 } },
        undefined,
      ],
    );
  });

  test('as Envoy reads them: no percentage is 0 %, a numerator above the denominator is all, HUNDRED is the default denominator', () => {
    const c = config(input([faulted('/a/', 'a', { delay: { fixed_delay: d(10) } }), faulted('/b/', 'b', { abort: { http_status: 503, percentage: { numerator: 250 } } })]));
    assert.deepEqual(
      c.routes[0].rules.map((r) => r.fault),
      [{ delay: { fixedDelayMs: 10, percent: 0 } }, { abort: { httpStatus: 503, percent: 100 } }],
    );
  });

  test("a listener without the fault filter runs none of its routes' faults, as Envoy ignores the config of a filter it does not run", () => {
    const c = config(input([faulted('/a/', 'a', { abort: { http_status: 418, percentage: pct(100) } })], [router()]));
    assert.equal(c.routes[0].rules[0].fault, undefined);
  });
});

describe('fault fields a Sluice proxy NACKs, with their paths', () => {
  const HF = 'Listener web: filter_chains[0].filters[0].typed_config.http_filters';
  const RT = 'RouteConfiguration web: virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.fault"]';
  const cases: [string, Record<string, unknown>, object[] | undefined, string[]][] = [
    [
      'header-driven faults, header matching, max_active_faults, a response rate limit, downstream nodes, upstream_cluster and runtime keys',
      { delay: { header_delay: {}, percentage: pct(10) }, abort: { header_abort: {}, percentage: pct(10) }, headers: [{ name: 'x-chaos', string_match: { exact: '1' } }], max_active_faults: { value: 3 }, response_rate_limit: { fixed_limit: { limit_kbps: 8 } }, downstream_nodes: ['a'], upstream_cluster: 'orders', abort_percent_runtime: 'k' },
      undefined,
      [
        `${RT}.delay.header_delay: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.abort.header_abort: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.upstream_cluster: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.headers: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.downstream_nodes: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.max_active_faults: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.response_rate_limit: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.abort_percent_runtime: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)`,
        `${RT}.delay.fixed_delay: required (a delay a request header sets, header_delay, is not supported)`,
        `${RT}.abort: needs http_status or grpc_status (an abort a request header sets, header_abort, is not supported)`,
      ],
    ],
    [
      'a 0s delay, and a status Envoy refuses',
      { delay: { fixed_delay: d(0), percentage: pct(100) }, abort: { http_status: 99, percentage: pct(100) } },
      undefined,
      [`${RT}.delay.fixed_delay: must be above 0, as Envoy requires`, `${RT}.abort.http_status: must be 200-599, as Envoy requires; got 99`],
    ],
    [
      'a fault of the whole listener (the filter is configured per route only), and the filter before the RBAC filter',
      { abort: { http_status: 503, percentage: pct(100) } },
      [faultFilter({ abort: { http_status: 503, percentage: pct(100) } }), { name: 'envoy.filters.http.rbac', typed_config: pack(EMBEDDED_TYPE_URLS.RBAC, { rules: { action: 'DENY' } }) }, router()],
      [
        `${HF}[0].typed_config.abort: a Sluice proxy injects the faults of each route (typed_per_filter_config["${FAULT}"]), not one for the whole listener; leave the filter's own config empty`,
        `${HF}[1].name: envoy.filters.http.rbac after ${FAULT} (http_filters[0]): a Sluice proxy authorizes a request before it injects faults`,
      ],
    ],
  ];
  for (const [title, fault, filters, expected] of cases) {
    test(title, () => assert.deepEqual(problems(input([faulted('/a/', 'a', fault)], filters)), expected));
  }

  test("another filter's per-route config, and a config of another type under the fault filter's name", () => {
    const routes = [
      { ...route({ prefix: '/a/' }, { cluster: 'orders' }, 'a'), typed_per_filter_config: { 'envoy.filters.http.rbac': pack(EMBEDDED_TYPE_URLS.RBAC, {}) } },
      { ...route({ prefix: '/b/' }, { cluster: 'orders' }, 'b'), typed_per_filter_config: { [FAULT]: pack(EMBEDDED_TYPE_URLS.Router, {}) } },
    ];
    assert.deepEqual(problems(input(routes)), [
      'RouteConfiguration web: virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.rbac"]: a Sluice proxy reads the per-route config of envoy.filters.http.fault only',
      'RouteConfiguration web: virtual_hosts[0].routes[1].typed_per_filter_config["envoy.filters.http.fault"]: is a envoy.extensions.filters.http.router.v3.Router; a envoy.extensions.filters.http.fault.v3.HTTPFault is expected here',
    ]);
  });

  test('two listeners reading one route configuration, one with the fault filter and one without: one route table cannot both inject and not', () => {
    const other = listener('admin', { port: 1, filter: hcm({ rds: 'web', httpFilters: [router()] }) });
    const got = problems(input([faulted('/a/', 'a', { abort: { http_status: 503, percentage: pct(100) } })], undefined, { listeners: [other] }));
    assert.equal(got.length, 1);
    assert.match(got[0], /^Listener admin: has no envoy\.filters\.http\.fault in its http_filters, and RouteConfiguration 'web', which web reads with that filter, carries per-route faults/);
  });
});
