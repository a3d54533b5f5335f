// AuthorizationPolicy over xDS, the control plane's side: which inbound listeners of which
// proxies a policy governs (targetRefs -> the Services' Workloads, port by port), and the
// RBAC filters it puts there, checked against golden files in
// control-plane/xds/policies/authorization/golden/ (UPDATE_GOLDEN=1 rewrites them).

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { AuthorizationSpec } from '../../../kinds/authz-spec.ts';
import type { Resource } from '../../../control-plane/api/resource.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { AuthorizationPolicyResource } from '../../../control-plane/xds/policies/authorization/generate.ts';
import { rbacConfigs } from '../../../control-plane/xds/policies/authorization/rbac.ts';
import { versionOf } from '../../../control-plane/xds/snapshot.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson, readable } from '../../helpers/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../../control-plane/xds/policies/authorization/golden/', import.meta.url));
const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

const assertGolden = (name: string, value: unknown) => assertGoldenJson(GOLDEN_DIR, `${name}.json`, value);

// --- one mesh: orders-1 serves orders (:80 -> 8080), orders-admin (:9000 -> 9090) and a tcp Service ---

const meta = (name: string, namespace = 'shop', labels?: Record<string, string>) => ({ name, namespace, ...(labels === undefined ? {} : { labels }) });
const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders-admin'), spec: { selector: { app: 'orders' }, ports: [{ name: 'admin', port: 9000 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders-cache'), spec: { selector: { app: 'orders' }, ports: [{ name: 'cache', port: 6379, appProtocol: 'tcp' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders', 'billing'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
];
const workloads: Resource[] = [
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('orders-1', 'shop', { app: 'orders' }), spec: { address: '10.0.0.1', ports: { admin: 9090, cache: 6379 } } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('web-1', 'shop', { app: 'web' }), spec: { address: '10.0.0.2' } },
];
const policy = (name: string, targets: string[], spec: AuthorizationSpec, namespace = 'shop'): AuthorizationPolicyResource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'AuthorizationPolicy',
  metadata: meta(name, namespace),
  spec: { targetRefs: targets.map((t) => ({ kind: 'Service', name: t })), ...spec },
});
const POLICIES = [
  policy('allow-web', ['orders'], { rules: [{ from: [{ identities: [WEB] }], to: [{ methods: ['GET'] }] }] }),
  policy('deny-debug', ['orders', 'orders-admin'], { action: 'DENY', rules: [{ to: [{ paths: [{ value: '/debug' }] }] }] }),
  policy('admin-nothing', ['orders-admin'], { rules: [] }),
  policy('on-cache', ['orders-cache'], { rules: [] }),
  policy('on-nothing', ['gone'], { rules: [] }),
  policy('billing-allow', ['orders'], { rules: [] }, 'billing'),
];

const NODE: Extract<NodeContext, { kind: 'proxy' }> = { kind: 'proxy', id: 'orders-1.shop', workload: 'orders-1', namespace: 'shop', outboundPort: 15001, appPorts: {} };

function snapshot(policies: readonly AuthorizationPolicyResource[], node = NODE) {
  const cache = new SnapshotCache(() => {});
  const view = buildMeshView({ revision: 1, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], authorizationPolicies: policies, trustBundle: 'pem', defaultTrustDomain: 'cluster.local' });
  assert.ok(cache.setView(view));
  return cache.snapshotFor(node)!;
}

/** Each listener's HttpConnectionManager (every chain has the same one), readable; null for a tcp listener. */
function connectionManagers(policies: readonly AuthorizationPolicyResource[], node = NODE): Record<string, any> {
  const lds = snapshot(policies, node).get(TYPE_URLS.Listener)!;
  const out: Record<string, any> = {};
  for (const [name, e] of lds) {
    const decoded = unpack(e.any);
    assert.ok(decoded.ok);
    const l = readable(decoded.value) as any;
    // A port that declares no protocol has tcp_proxy chains beside its HTTP ones (sniffed; the test below).
    const all = l.filter_chains as any[];
    const http = all.filter((c) => c.filters.at(-1).name === 'envoy.filters.network.http_connection_manager');
    const chains = http.length > 0 ? http : all;
    for (const c of chains) assert.deepEqual(c.filters, chains[0].filters, `${name}: every chain runs the same filters`);
    const f = chains[0].filters[0];
    out[name] = f.name === 'envoy.filters.network.http_connection_manager' ? f.typed_config : null;
  }
  return out;
}

const filterActions = (hcm: any) => (hcm.http_filters as any[]).map((f) => (f.name === 'envoy.filters.http.rbac' ? `rbac ${f.typed_config.rules.action}: ${Object.keys(f.typed_config.rules.policies ?? {}).join(', ')}` : f.name));

describe('AuthorizationPolicy on the inbound listeners of the targeted Services\' Workloads', () => {
  test('each inbound port gets the policies of the Services served there, DENY first; a tcp port, a missing Service and another namespace get none', () => {
    const hcms = connectionManagers(POLICIES);
    assert.deepEqual(Object.keys(hcms).sort(), ['inbound|6379', 'inbound|8080', 'inbound|9090', 'outbound']);
    assert.deepEqual(filterActions(hcms['inbound|8080']), [
      'rbac DENY: ns[shop]-policy[deny-debug]-rule[0]',
      'rbac ALLOW: ns[shop]-policy[allow-web]-rule[0]',
      'envoy.filters.http.router',
    ]);
    assert.deepEqual(filterActions(hcms['inbound|9090']), ['rbac DENY: ns[shop]-policy[deny-debug]-rule[0]', 'rbac ALLOW: ns[shop]-policy[admin-nothing]', 'envoy.filters.http.router']);
    assert.equal(hcms['inbound|6379'], null, 'a tcp listener has no HTTP filters: its policies are network RBAC filters (below)');
    assert.deepEqual(filterActions(hcms.outbound), ['envoy.filters.http.router'], 'calls out are authorized where they arrive');
    assertGolden('inbound-8080', hcms['inbound|8080']);
    assertGolden('inbound-9090', hcms['inbound|9090']);
  });

  test("a tcp port's policies decide connections: network RBAC filters before the tcp_proxy, in the connection form (an ALLOW rule on a request field dropped, a DENY rule's request fields dropped)", () => {
    const tcpFilters = (policies: readonly AuthorizationPolicyResource[]) => {
      const e = snapshot(policies).get(TYPE_URLS.Listener)!.get('inbound|6379')!;
      const decoded = unpack(e.any);
      assert.ok(decoded.ok);
      const chains = (readable(decoded.value) as any).filter_chains as any[];
      for (const c of chains) assert.deepEqual(c.filters, chains[0].filters);
      return chains[0].filters as any[];
    };
    const names = (filters: any[]) => filters.map((f) => (f.name === 'envoy.filters.network.rbac' ? `rbac ${f.typed_config.rules.action}: ${Object.keys(f.typed_config.rules.policies ?? {}).join(', ')}` : f.name));
    assert.deepEqual(names(tcpFilters(POLICIES)), ['rbac ALLOW: ns[shop]-policy[on-cache]', 'envoy.filters.network.tcp_proxy']);
    const mixed = [
      policy('cache-readers', ['orders-cache'], { rules: [{ from: [{ identities: [WEB] }] }, { from: [{ identities: ['*'] }], to: [{ paths: [{ value: '/admin' }] }] }] }),
      policy('cache-no-tokens', ['orders-cache'], { action: 'DENY', rules: [{ from: [{ namespaces: ['jobs'] }], to: [{ methods: ['DELETE'] }] }] }),
    ];
    const filters = tcpFilters(mixed);
    assert.deepEqual(names(filters), ['rbac DENY: ns[shop]-policy[cache-no-tokens]-rule[0]', 'rbac ALLOW: ns[shop]-policy[cache-readers]-rule[0]', 'envoy.filters.network.tcp_proxy']);
    assert.ok(filters.slice(0, 2).every((f) => f.typed_config.stat_prefix === 'tcp_rbac.'), 'stat_prefix, which Envoy requires');
    assertGolden('inbound-6379-tcp', filters);
  });

  test('a Workload no targeted Service selects, and a mesh without policies, get the listener as before: the router alone, the path untouched', () => {
    const web = connectionManagers(POLICIES, { ...NODE, id: 'web-1.shop', workload: 'web-1' });
    assert.deepEqual(Object.keys(web), ['outbound']);
    const none = connectionManagers([]);
    assert.deepEqual(filterActions(none['inbound|8080']), ['envoy.filters.http.router']);
    assert.equal(none['inbound|8080'].normalize_path, undefined);
  });

  test('a policy change moves the Listener version of the proxies it governs, and nothing else', () => {
    const before = snapshot(POLICIES.slice(1));
    const after = snapshot(POLICIES);
    for (const [type, url] of Object.entries(TYPE_URLS)) {
      const [a, b] = [versionOf(before.get(url)!, null), versionOf(after.get(url)!, null)];
      if (type === 'Listener') assert.notEqual(a, b, type);
      else assert.equal(a, b, type);
    }
  });
});

describe('the RBAC an AuthorizationPolicy becomes (golden files)', () => {
  const cases: Record<string, Record<string, AuthorizationSpec>> = {
    'allow-identities': { 'allow-web': { rules: [{ from: [{ identities: [WEB, 'spiffe://cluster.local/ns/shop/sa/batch'] }] }, { from: [{ identities: ['*'] }], to: [{ methods: ['GET', 'head'] }] }] } },
    'allow-namespaces': { 'allow-shop': { rules: [{ from: [{ namespaces: ['shop', 'team.a'], notIdentities: [WEB] }] }] } },
    'deny-operations': {
      'deny-admin': {
        action: 'DENY',
        rules: [
          { to: [{ paths: [{ type: 'PathPrefix', value: '/admin' }, { type: 'Exact', value: '/debug' }, { value: '/' }], methods: ['POST'] }] },
          { to: [{ headers: [{ name: 'X-Debug', value: 'on' }, { name: 'x-tenant', type: 'RegularExpression', value: 'blue|green' }] }] },
          { to: [{ hosts: ['internal.example.com', '*.internal.example.com', 'api.example.com:8443', '[::1]'] }] },
        ],
      },
    },
    'negations-allow': { 'allow-but': { rules: [{ from: [{ notIdentities: [WEB], notNamespaces: ['billing'] }], to: [{ notMethods: ['DELETE'], notPaths: [{ value: '/admin' }], notHosts: ['evil.example.com'] }] }] } },
    'negations-deny': { 'deny-but': { action: 'DENY', rules: [{ from: [{ notIdentities: ['*'], notNamespaces: ['shop'] }], to: [{ notMethods: ['GET'], notPaths: [{ value: '/public' }], notHosts: ['orders'] }] }] } },
    'allow-nothing': { 'allow-nothing': { rules: [] }, 'deny-nothing': { action: 'DENY' } },
    // What reads jwt_authn's payload metadata (xds/jwt-form.ts): every split of a principal at '/', claims by value type.
    'request-principals': {
      'allow-alice': { rules: [{ from: [{ requestPrincipals: ['https://sso.example.com/realms/demo/alice', '*'] }, { identities: [WEB], notRequestPrincipals: ['https://sso.example.com/realms/demo/bob'] }] }] },
      'deny-no-jwt': { action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }] }] },
    },
    claims: {
      'allow-admins': { rules: [{ to: [{ methods: ['GET'] }, { paths: [{ value: '/admin' }] }], when: [{ claim: 'realm_access.roles', values: ['admin'] }, { claim: 'scope', notValues: ['guest'] }] }] },
      'deny-levels': { action: 'DENY', rules: [{ when: [{ claim: 'level', values: ['5', 'true'], notValues: ['gold'] }] }] },
    },
  };
  for (const [name, policies] of Object.entries(cases)) {
    test(name, () => assertGolden(name, rbacConfigs(Object.entries(policies).map(([n, spec]) => ({ namespace: 'shop', name: n, spec })))));
  }
});
