// Envoy's load-balancing fields (the cluster's lb_policy with its ring or table size, the
// ClusterLoadAssignment's overprovisioning factor, a route's hash_policy) -> the proxy's
// model, read as Envoy reads them; and every one a Sluice proxy cannot honour, NACKed with its path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type NodeContext } from '../../../proxy/xds/translate.ts';
import { assignment, cluster, listener, locality, resources, rootCa, route, routeConfig } from './resources.ts';

const NODE: NodeContext = { zone: 'a', identity: null };

/** One listener reading route config `web`: one virtual host with `routes`, to cluster `orders`. */
function input(opts: { routes?: Record<string, unknown>[]; cluster?: Record<string, unknown>; policy?: Record<string, unknown>; priorityOfB?: number }) {
  const routes = opts.routes ?? [route({ prefix: '' }, { cluster: 'orders' }, 'all')];
  return resources({
    listeners: [listener('web')],
    routes: [routeConfig('web', [{ name: 'orders', domains: ['*'], routes }])],
    clusters: [cluster('orders', { extra: opts.cluster })],
    endpoints: [{ ...assignment('orders', [locality('a', [['10.0.0.1', 8080]]), { ...locality('b', [['10.0.0.2', 8080]]), ...(opts.priorityOfB === undefined ? {} : { priority: opts.priorityOfB }) }]), ...(opts.policy === undefined ? {} : { policy: opts.policy }) }],
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

describe('load balancing read from xDS', () => {
  test('lb_policy with its ring or table size is the backend balancer; unset is ROUND_ROBIN', () => {
    const lb = (extra?: Record<string, unknown>) => config(input({ cluster: extra })).backends[0].loadBalancer;
    assert.equal(lb(), 'round-robin');
    assert.equal(lb({ lb_policy: 'LEAST_REQUEST' }), 'least-request');
    assert.equal(lb({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 1024 }, maximum_ring_size: { value: 8388608 } } }), 'ring-hash');
    assert.equal(lb({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: { value: 65537 } } }), 'maglev');
  });

  test("the assignment's overprovisioning factor is the failover threshold (100 / factor); unset, the static default 71", () => {
    assert.equal(config(input({})).backends[0].failoverThreshold, 71);
    assert.equal(config(input({ policy: { overprovisioning_factor: { value: 200 } } })).backends[0].failoverThreshold, 50);
    assert.equal(config(input({ policy: { overprovisioning_factor: { value: 140 } } })).backends[0].failoverThreshold, 71);
  });

  test("each locality's priority is the control plane's, honoured as sent; unset is 0, whatever the proxy's zone", () => {
    assert.deepEqual(config(input({ priorityOfB: 1 })).backends[0].endpoints.map((e) => [e.zone, e.priority]), [['a', 0], ['b', 1]], 'the other zone is the failover level');
    // The proxy is in zone a (NODE): it no longer derives a level from the zones, so Spread (all 0) reads as sent.
    assert.deepEqual(config(input({})).backends[0].endpoints.map((e) => e.priority), [0, 0]);
    assert.deepEqual(config(input({ priorityOfB: 3 })).backends[0].endpoints.map((e) => e.priority), [0, 3]);
    assert.deepEqual(problems(input({ priorityOfB: 17 })), ['ClusterLoadAssignment orders: endpoints[1].priority: must be 0-16 (a Sluice proxy\'s failover levels, as a static file\'s); got 17']);
  });

  test("a route's hash_policy is its rule's hash sources, in order; a route without one hashes on nothing", () => {
    const routes = [
      route({ prefix: '/h' }, { cluster: 'orders', hash_policy: [{ header: { header_name: 'X-User' } }, { cookie: { name: 'sid' } }, { connection_properties: { source_ip: true } }] }, 'hashed'),
      route({ prefix: '' }, { cluster: 'orders' }, 'plain'),
    ];
    const rules = config(input({ routes, cluster: { lb_policy: 'RING_HASH' } })).routes[0].rules;
    assert.deepEqual(rules[0].hashOn, [{ type: 'Header', name: 'x-user' }, { type: 'Cookie', name: 'sid' }, { type: 'SourceIP' }]);
    assert.equal(rules[1].hashOn, undefined);
  });

  test('what a Sluice proxy cannot honour is NACKed with its path', () => {
    const routes = [
      route(
        { prefix: '' },
        {
          cluster: 'orders',
          hash_policy: [
            { header: { header_name: ':authority' } },
            { cookie: { name: 'sid', ttl: { seconds: 60 } } },
            { connection_properties: { source_ip: false } },
            { query_parameter: { name: 'user' } },
            { header: { header_name: 'x-user' }, terminal: true },
          ],
        },
        'all',
      ),
    ];
    assert.deepEqual(
      problems(
        input({
          routes,
          cluster: { lb_policy: 'LEAST_REQUEST', ring_hash_lb_config: { minimum_ring_size: { value: 64 } }, maglev_lb_config: { table_size: { value: 65537 } } },
          policy: { overprovisioning_factor: { value: 50 } },
        }),
      ),
      [
        'RouteConfiguration web: virtual_hosts[0].routes[0].route.hash_policy[1].cookie.ttl: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)',
        'RouteConfiguration web: virtual_hosts[0].routes[0].route.hash_policy[3].query_parameter: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)',
        'RouteConfiguration web: virtual_hosts[0].routes[0].route.hash_policy[4].terminal: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)',
        "RouteConfiguration web: virtual_hosts[0].routes[0].route.hash_policy[0].header.header_name: ':authority' is not a header name a Sluice proxy can read (pseudo-headers are not hashed on)",
        'RouteConfiguration web: virtual_hosts[0].routes[0].route.hash_policy[2].connection_properties.source_ip: must be true: it is the only connection property a Sluice proxy hashes on',
        "Cluster orders: ring_hash_lb_config: is read with lb_policy RING_HASH only; this cluster's is LEAST_REQUEST",
        "Cluster orders: ring_hash_lb_config.minimum_ring_size: a Sluice proxy builds 1024 (Envoy's default) and no other; got 64",
        "Cluster orders: maglev_lb_config: is read with lb_policy MAGLEV only; this cluster's is LEAST_REQUEST",
        'ClusterLoadAssignment orders: policy.overprovisioning_factor: must be at least 100 (1.0): below, a fully healthy level would not take all its traffic, which a Sluice proxy does not do; got 50',
      ],
    );
  });
});
