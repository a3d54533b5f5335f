// Envoy's retry fields (route and virtual host retry_policy, per_request_buffer_limit_bytes,
// the cluster's retry budget and HTTP protocol options) -> the proxy's model, read as Envoy
// reads them; and every one a Sluice proxy cannot honour, NACKed with its path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_BUDGET, DEFAULT_RETRY } from '../../../kinds/resilience-defaults.ts';
import type { ProxyConfig, RouteRule } from '../../../proxy/config/model.ts';
import { effectivePolicy } from '../../../proxy/http/filters/router.ts';
import { formatProblem, translate, type NodeContext } from '../../../proxy/xds/translate.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../xds/index.ts';
import { assignment, cluster, listener, locality, resources, rootCa, route, routeConfig } from './resources.ts';

const NODE: NodeContext = { identity: null };
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const d = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
const PREVIOUS_HOSTS = [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: pack(EMBEDDED_TYPE_URLS.PreviousHostsPredicate, {}) }];
const IDEMPOTENT_ONLY = [
  { name: ':method', string_match: { safe_regex: { regex: 'GET|HEAD|OPTIONS|TRACE|PUT|DELETE' } } },
  { name: 'content-type', string_match: { prefix: 'application/grpc' } },
];

/** A retry_policy as the control plane writes one; `extra` sets or overrides fields. */
const policy = (extra: Record<string, unknown> = {}) => ({
  retry_on: '5xx,retriable-status-codes',
  num_retries: { value: 3 },
  retry_host_predicate: PREVIOUS_HOSTS,
  host_selection_retry_max_attempts: 5,
  retriable_status_codes: [409],
  retry_back_off: { base_interval: d(10), max_interval: d(100) },
  retriable_request_headers: IDEMPOTENT_ONLY,
  ...extra,
});

/** One listener `web` reading route config `web`: virtual host `orders` with `routes`, to cluster `orders`. */
function input(opts: { vhost?: Record<string, unknown>; routes?: Record<string, unknown>[]; cluster?: Record<string, unknown> }) {
  const routes = opts.routes ?? [route({ prefix: '' }, { cluster: 'orders' }, 'all')];
  return resources({
    listeners: [listener('web')],
    routes: [{ ...routeConfig('web', [{ name: 'orders', domains: ['*'], routes }]), virtual_hosts: [{ name: 'orders', domains: ['*'], routes, ...opts.vhost }] }],
    clusters: [cluster('orders', { extra: opts.cluster })],
    endpoints: [assignment('orders', [locality('', [['10.0.0.1', 8080]])])],
    secrets: [rootCa()],
  });
}

function config(i: ReturnType<typeof input>): ProxyConfig {
  const r = translate(i, NODE);
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

/** What the router runs for each rule: the backend's policy under the rule's. */
const run = (c: ProxyConfig) => c.routes[0].rules.map((rule: RouteRule) => effectivePolicy(c.backends[0].retry, rule));

function problems(i: ReturnType<typeof input>): string[] {
  const r = translate(i, NODE);
  if (r.ok) assert.fail('expected problems, got a config');
  return r.error.map(formatProblem);
}

describe('retry fields a Sluice proxy reads', () => {
  test("a virtual host's retry_policy governs its routes; a route's replaces it whole, as in Envoy", () => {
    const own = route({ prefix: '/own' }, { cluster: 'orders', retry_policy: policy({ retry_on: 'reset', num_retries: { value: 1 }, per_try_timeout: d(1500) }) }, 'own');
    const [own1, inherited] = run(config(input({ vhost: { retry_policy: policy(), per_request_buffer_limit_bytes: { value: 2048 } }, routes: [own, route({ prefix: '' }, { cluster: 'orders' }, 'all')] })));
    assert.deepEqual(inherited, { attempts: 3, retryOn: ['5xx', 'retriable-status-codes'], retriableStatusCodes: [409], backoffBaseMs: 10, backoffMaxMs: 100, retryNonIdempotent: false, bufferLimitBytes: 2048 });
    // Nothing of the virtual host's policy is left but the buffer limit, a field of its own.
    assert.deepEqual(own1, { attempts: 1, retryOn: ['reset'], retriableStatusCodes: [409], backoffBaseMs: 10, backoffMaxMs: 100, retryNonIdempotent: false, bufferLimitBytes: 2048, perTryTimeoutMs: 1500 });
  });

  test("unset fields take Envoy's defaults: one retry, 25 ms backoff to ten times that, every method; no retry_on retries nothing", () => {
    const minimal = { retry_on: 'gateway-error', retry_host_predicate: PREVIOUS_HOSTS };
    const [p] = run(config(input({ vhost: { retry_policy: minimal } })));
    assert.deepEqual(p, { attempts: 1, retryOn: ['gateway-error'], retriableStatusCodes: [], backoffBaseMs: 25, backoffMaxMs: 250, retryNonIdempotent: true, bufferLimitBytes: DEFAULT_RETRY.bufferLimitBytes });
    const [none] = run(config(input({ vhost: { retry_policy: { retry_host_predicate: PREVIOUS_HOSTS, num_retries: { value: 4 } } } })));
    assert.equal(none.attempts, 0);
  });

  test('retry_priority previous_priorities (update_frequency 1): a retry moves past the levels tried; without it, it stays on its level', () => {
    const priority = { name: 'envoy.retry_priorities.previous_priorities', typed_config: pack(EMBEDDED_TYPE_URLS.PreviousPrioritiesConfig, { update_frequency: 1 }) };
    const [moving] = run(config(input({ vhost: { retry_policy: { retry_on: 'gateway-error', retry_host_predicate: PREVIOUS_HOSTS, retry_priority: priority } } })));
    assert.equal(moving.failoverOnRetry, true);
    const [staying] = run(config(input({ vhost: { retry_policy: { retry_on: 'gateway-error', retry_host_predicate: PREVIOUS_HOSTS } } })));
    assert.equal(staying.failoverOnRetry, undefined);
  });

  test('no retry_policy anywhere: the no-policy defaults of a static backend; a buffer limit alone changes only that', () => {
    const [p] = run(config(input({})));
    assert.deepEqual(p, DEFAULT_RETRY);
    const [limited] = run(config(input({ routes: [{ ...route({ prefix: '' }, { cluster: 'orders' }, 'all'), per_request_buffer_limit_bytes: { value: 10 } }] })));
    assert.deepEqual(limited, { ...DEFAULT_RETRY, bufferLimitBytes: 10 });
  });

  test("a cluster's retry budget, connect and idle timeouts; Envoy's budget defaults when the fields are unset", () => {
    const options = pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, { common_http_protocol_options: { idle_timeout: d(30_000) }, explicit_http_config: { http_protocol_options: {} } });
    const b = config(
      input({ cluster: { connect_timeout: d(2000), circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 35 }, min_retry_concurrency: { value: 4 } } }] }, typed_extension_protocol_options: { [HTTP_OPTIONS]: options } } }),
    ).backends[0];
    assert.deepEqual([b.retryBudget, b.connectTimeoutMs, b.idleTimeoutMs, b.protocol], [{ percent: 35, minRetriesPerSecond: 4, ttlMs: DEFAULT_BUDGET.ttlMs }, 2000, 30_000, 'http1']);
    const unset = config(input({ cluster: { circuit_breakers: { thresholds: [{ retry_budget: {} }] } } })).backends[0];
    assert.deepEqual(unset.retryBudget, { percent: 20, minRetriesPerSecond: 3, ttlMs: DEFAULT_BUDGET.ttlMs });
    assert.deepEqual(config(input({})).backends[0].retryBudget, DEFAULT_BUDGET, 'no circuit_breakers: the no-policy budget');
  });
});

describe('retry fields a Sluice proxy cannot honour: each a problem with its path', () => {
  const cases: [string, Parameters<typeof input>[0], string[]][] = [
    [
      'a retry_on word it does not know, a status that is not one, no previous_hosts predicate',
      { vhost: { retry_policy: policy({ retry_on: '5xx,retriable-4xx', retriable_status_codes: [700], retry_host_predicate: [] }) } },
      [
        'RouteConfiguration web: virtual_hosts[0].retry_policy.retry_on: \'retriable-4xx\' is not a condition a Sluice proxy retries on; it reads connect-failure, refused-stream, reset, gateway-error, 5xx, retriable-status-codes, cancelled, deadline-exceeded, resource-exhausted, unavailable',
        'RouteConfiguration web: virtual_hosts[0].retry_policy.retriable_status_codes[0]: must be an HTTP status (100-599); got 700',
        'RouteConfiguration web: virtual_hosts[0].retry_policy.retry_host_predicate: required: [{ name: envoy.retry_host_predicates.previous_hosts }]: a Sluice proxy always retries on an endpoint not tried yet, while there is one',
      ],
    ],
    [
      'another host predicate, another retry priority or update frequency, one without its config, a backoff without its base or shorter at the top',
      {
        routes: [
          route({ prefix: '/a' }, { cluster: 'orders', retry_policy: policy({ retry_host_predicate: [{ name: 'envoy.retry_host_predicates.omit_canary_hosts' }], retry_priority: { name: 'envoy.retry_priorities.other', typed_config: pack(EMBEDDED_TYPE_URLS.PreviousPrioritiesConfig, { update_frequency: 2 }) } }) }, 'a'),
          route({ prefix: '/c' }, { cluster: 'orders', retry_policy: policy({ retry_priority: { name: 'envoy.retry_priorities.previous_priorities' } }) }, 'c'),
          route({ prefix: '' }, { cluster: 'orders', retry_policy: policy({ retry_back_off: { max_interval: d(5) } }) }, 'b'),
        ],
      },
      [
        "RouteConfiguration web: virtual_hosts[0].routes[0].route.retry_policy.retry_host_predicate[0].name: 'envoy.retry_host_predicates.omit_canary_hosts': the only host predicate a Sluice proxy applies is envoy.retry_host_predicates.previous_hosts",
        "RouteConfiguration web: virtual_hosts[0].routes[0].route.retry_policy.retry_priority.name: 'envoy.retry_priorities.other': the only retry priority a Sluice proxy applies is envoy.retry_priorities.previous_priorities",
        'RouteConfiguration web: virtual_hosts[0].routes[0].route.retry_policy.retry_priority.typed_config.update_frequency: must be 1: a Sluice proxy moves a retry past the levels of every earlier try; got 2',
        'RouteConfiguration web: virtual_hosts[0].routes[1].route.retry_policy.retry_priority.typed_config: required: PreviousPrioritiesConfig { update_frequency: 1 }',
        'RouteConfiguration web: virtual_hosts[0].routes[2].route.retry_policy.retry_back_off.base_interval: required',
        'RouteConfiguration web: virtual_hosts[0].routes[2].route.retry_policy.retry_back_off.max_interval: must not be shorter than base_interval (25 ms); got 5 ms',
      ],
    ],
    [
      'retriable_request_headers other than "idempotent methods and gRPC calls", or only half of it',
      {
        routes: [
          route({ prefix: '/a' }, { cluster: 'orders', retry_policy: policy({ retriable_request_headers: [{ name: 'x-retry', string_match: { exact: 'yes' } }] }) }, 'a'),
          route({ prefix: '' }, { cluster: 'orders', retry_policy: policy({ retriable_request_headers: [IDEMPOTENT_ONLY[0]] }) }, 'b'),
        ],
      },
      [
        "RouteConfiguration web: virtual_hosts[0].routes[0].route.retry_policy.retriable_request_headers[0]: a Sluice proxy retries every method, or only GET, HEAD, OPTIONS, TRACE, PUT, DELETE and gRPC calls: { name: ':method', string_match.safe_regex.regex: 'GET|HEAD|OPTIONS|TRACE|PUT|DELETE' } and { name: content-type, string_match.prefix: application/grpc }, both",
        'RouteConfiguration web: virtual_hosts[0].routes[1].route.retry_policy.retriable_request_headers: needs both the :method and the content-type matcher: a Sluice proxy retries GET, HEAD, OPTIONS, TRACE, PUT, DELETE and gRPC calls together, or every method',
      ],
    ],
    [
      'a budget over 100 %, two thresholds, a HIGH priority, a threshold field not read, an idle timeout of 0s',
      {
        cluster: {
          circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }, { priority: 'HIGH', track_remaining: true }] },
          typed_extension_protocol_options: { [HTTP_OPTIONS]: pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, { common_http_protocol_options: { idle_timeout: d(0) }, explicit_http_config: { http2_protocol_options: {} } }) },
        },
      },
      [
        'Cluster orders: circuit_breakers.thresholds[1].priority: "HIGH" is not supported; a Sluice proxy reads DEFAULT (xds/SUBSET.md)',
        'Cluster orders: circuit_breakers.thresholds[1].track_remaining: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)',
        `Cluster orders: typed_extension_protocol_options["${HTTP_OPTIONS}"].common_http_protocol_options.idle_timeout: must be above 0: a Sluice proxy keeps no upstream connection open forever`,
        'Cluster orders: circuit_breakers.thresholds: a Sluice proxy has one priority: give one threshold, of priority DEFAULT',
        'Cluster orders: circuit_breakers.thresholds[0].retry_budget.budget_percent.value: must be 0-100; got 150',
      ],
    ],
  ];
  for (const [name, opts, expected] of cases) test(name, () => assert.deepEqual(problems(input(opts)), expected));
});
