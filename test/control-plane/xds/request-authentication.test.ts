// RequestAuthentication over xDS, the control plane's side: which inbound listeners of which
// proxies a policy governs (targetRefs -> the Services' Workloads, port by port), and the
// jwt_authn filter it puts there, in front of the RBAC filters that read its claims, checked
// against golden files in control-plane/xds/policies/request-authentication/golden/
// (UPDATE_GOLDEN=1 rewrites them).

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { AuthorizationPolicyResource } from '../../../control-plane/xds/policies/authorization/generate.ts';
import type { RequestAuthenticationResource } from '../../../control-plane/xds/policies/request-authentication/generate.ts';
import { versionOf } from '../../../control-plane/xds/snapshot.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson, readable } from '../../helpers/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../../control-plane/xds/policies/request-authentication/golden/', import.meta.url));
const ISSUER = 'https://sso.example.com/realms/demo';
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k1', use: 'sig', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });

const meta = (name: string, namespace = 'shop', labels?: Record<string, string>) => ({ name, namespace, ...(labels === undefined ? {} : { labels }) });
const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders-admin'), spec: { selector: { app: 'orders' }, ports: [{ name: 'admin', port: 9000 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders-cache'), spec: { selector: { app: 'orders' }, ports: [{ name: 'cache', port: 6379, appProtocol: 'tcp' }] } },
];
const workloads: Resource[] = [
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('orders-1', 'shop', { app: 'orders' }), spec: { address: '10.0.0.1', ports: { admin: 9090, cache: 6379 } } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('web-1', 'shop', { app: 'web' }), spec: { address: '10.0.0.2' } },
];
const ra = (name: string, targets: string[], jwtRules: RequestAuthenticationResource['spec'] extends infer S ? (S extends { jwtRules: infer R } ? R : never) : never): RequestAuthenticationResource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'RequestAuthentication',
  metadata: meta(name),
  spec: { targetRefs: targets.map((t) => ({ kind: 'Service', name: t })), jwtRules },
});
const REALM = ra('realm', ['orders', 'orders-cache'], [
  {
    issuer: ISSUER,
    audiences: ['api', 'web'],
    jwksUri: 'https://sso.example.com/realms/demo/protocol/openid-connect/certs',
    cacheDuration: '30s',
    forwardOriginalToken: true,
    outputClaimToHeaders: [{ header: 'x-jwt-sub', claim: 'sub' }],
  },
  { issuer: 'https://issuer.internal', jwks: JWKS, clockSkew: '5s' },
]);
// Its first rule repeats realm's issuer: on a port both govern, realm's (first by namespace/name) is taken.
const ADMIN = ra('realm-admin', ['orders-admin', 'orders'], [
  { issuer: ISSUER, jwksUri: 'http://keycloak.auth.svc.cluster.local:8080/realms/demo/protocol/openid-connect/certs' },
  { issuer: 'https://admin.example.com', jwksUri: 'http://127.0.0.1:9999/certs' },
]);
const DENY: AuthorizationPolicyResource = { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: meta('require-jwt'), spec: { targetRefs: [{ kind: 'Service', name: 'orders' }], action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }] }] } };

const NODE: Extract<NodeContext, { kind: 'proxy' }> = { kind: 'proxy', id: 'orders-1.shop', workload: 'orders-1', namespace: 'shop', outboundPort: 15001, appPorts: {} };

function snapshot(requestAuthentications: readonly RequestAuthenticationResource[], authorizationPolicies: readonly AuthorizationPolicyResource[] = [], node = NODE) {
  const cache = new SnapshotCache(() => {});
  const view = buildMeshView({ revision: 1, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], requestAuthentications, authorizationPolicies, trustBundle: 'pem', defaultTrustDomain: 'cluster.local' });
  assert.ok(cache.setView(view));
  return cache.snapshotFor(node)!;
}

/** Each listener's HttpConnectionManager (every chain has the same one), readable; null for a tcp listener. */
function connectionManagers(...args: Parameters<typeof snapshot>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, e] of snapshot(...args).get(TYPE_URLS.Listener)!) {
    const decoded = unpack(e.any);
    assert.ok(decoded.ok);
    const chains = (readable(decoded.value) as any).filter_chains as any[];
    const f = chains[0].filters[0];
    out[name] = f.name === 'envoy.filters.network.http_connection_manager' ? f.typed_config : null;
  }
  return out;
}

const filterNames = (hcm: any) => (hcm.http_filters as any[]).map((f) => (f.name === 'envoy.filters.http.rbac' ? `rbac ${f.typed_config.rules.action}` : f.name));
const providersOf = (hcm: any) => Object.fromEntries(Object.entries(hcm.http_filters[0].typed_config.providers as Record<string, any>).map(([k, p]) => [k, p.issuer]));

describe("RequestAuthentication on the inbound listeners of the targeted Services' Workloads", () => {
  test('each inbound port gets one jwt_authn filter with the rules of the policies on its Services, before the RBAC filters; a tcp port and the outbound listener get none', () => {
    const hcms = connectionManagers([REALM, ADMIN], [DENY]);
    assert.deepEqual(filterNames(hcms['inbound|8080']), ['envoy.filters.http.jwt_authn', 'rbac DENY', 'envoy.filters.http.router']);
    assert.deepEqual(filterNames(hcms['inbound|9090']), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.router']);
    assert.equal(hcms['inbound|6379'], null);
    assert.deepEqual(filterNames(hcms.outbound), ['envoy.filters.http.router'], 'tokens are checked where requests arrive');
    // realm's rule for the shared issuer is taken on the port both govern.
    assert.deepEqual(providersOf(hcms['inbound|8080']), { 'shop/realm/jwtRules[0]': ISSUER, 'shop/realm/jwtRules[1]': 'https://issuer.internal', 'shop/realm-admin/jwtRules[1]': 'https://admin.example.com' });
    assert.deepEqual(providersOf(hcms['inbound|9090']), { 'shop/realm-admin/jwtRules[0]': ISSUER, 'shop/realm-admin/jwtRules[1]': 'https://admin.example.com' });
    assertGoldenJson(GOLDEN_DIR, 'inbound-8080.json', hcms['inbound|8080']);
    assertGoldenJson(GOLDEN_DIR, 'inbound-9090.json', hcms['inbound|9090']);
  });

  test('a Workload no targeted Service selects, and a mesh without policies, get the router alone', () => {
    assert.deepEqual(Object.keys(connectionManagers([REALM, ADMIN], [], { ...NODE, id: 'web-1.shop', workload: 'web-1' })), ['outbound']);
    assert.deepEqual(filterNames(connectionManagers([])['inbound|8080']), ['envoy.filters.http.router']);
  });

  test('a policy change moves the Listener version of the proxies it governs, and nothing else', () => {
    const [before, after] = [snapshot([ADMIN]), snapshot([REALM, ADMIN])];
    for (const [type, url] of Object.entries(TYPE_URLS)) {
      const [a, b] = [versionOf(before.get(url)!, null), versionOf(after.get(url)!, null)];
      if (type === 'Listener') assert.notEqual(a, b, type);
      else assert.equal(a, b, type);
    }
  });
});
