// A proxy's own inbound side is kept across views (control-plane/xds/own-resources.ts) only
// while what it is built from is the same. Each change below is made the way the store makes
// it (a new object for what changed, the same objects for the rest), and after each, every
// proxy's snapshot from the cache that has seen every view before must be the one a fresh
// cache generates from that view alone, and the proxies whose listeners changed must be
// exactly those the change is about.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { inboundPorts } from '../../../control-plane/xds/generate/resources.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { MeshInputs, MeshView } from '../../../control-plane/xds/mesh-view.ts';
import { OwnResources } from '../../../control-plane/xds/own-resources.ts';
import type { NodeSnapshot } from '../../../control-plane/xds/snapshot.ts';
import { TYPE_URLS } from '../../../xds/index.ts';

type ProxyNode = Extract<NodeContext, { kind: 'proxy' }>;
const NS = 'shop';
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k1', use: 'sig', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });
const meta = (name: string, labels?: Record<string, string>) => ({ name, namespace: NS, creationTimestamp: '2025-01-01T00:00:00Z', ...(labels === undefined ? {} : { labels }) });
const service = (name: string, app: string, ports: object[], clusterIP?: string): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { selector: { app }, ports, ...(clusterIP === undefined ? {} : { clusterIP }) } });
const workload = (name: string, app: string, spec: object): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta(name, { app }), spec });
const policy = (kind: string, name: string, spec: object): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: meta(name), spec });
const split = (weight: number): Resource => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('orders'),
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], rules: [{ backendRefs: [{ name: 'orders', port: 80, weight }, { name: 'billing', port: 80, weight: 100 - weight }] }] },
});

const proxy = (workload: string, extra: Partial<ProxyNode> = {}): ProxyNode => ({ kind: 'proxy', id: `${workload}.${NS}`, workload, namespace: NS, outboundPort: 15001, appPorts: {}, ...extra });
const NODES: readonly ProxyNode[] = [
  proxy('o-1'),
  proxy('o-2', { appPorts: { http: 18080 } }),
  proxy('b-1'),
  proxy('w-1'), // serves nothing; calls billing through spec.outbound
  proxy('c-1', { capture: { inboundPort: 15006, strictEgress: false } }),
];

type State = { -readonly [K in keyof MeshInputs]: MeshInputs[K] };
const initial = (): State => ({
  revision: 1,
  meshes: [],
  services: [
    service('orders', 'orders', [{ name: 'http', port: 80 }], '10.96.0.10'),
    service('billing', 'billing', [{ name: 'http', port: 80 }], '10.96.0.11'),
    service('cache', 'orders', [{ name: 'cache', port: 6379, appProtocol: 'tcp' }]),
  ] as never,
  workloads: [
    workload('o-1', 'orders', { address: '10.0.0.1', ports: { http: 8080, cache: 6379 } }),
    workload('o-2', 'orders', { address: '10.0.0.2', ports: { http: 8080, cache: 6379 } }),
    workload('b-1', 'billing', { address: '10.0.0.3', ports: { http: 8080 } }),
    workload('w-1', 'web', { address: '10.0.0.4', outbound: [{ service: 'billing', port: 80, localPort: 7000 }] }),
    workload('c-1', 'orders', { address: '10.0.0.5', ports: { http: 8080, cache: 6379 } }),
  ] as never,
  httpRoutes: [],
  grpcRoutes: [],
  authorizationPolicies: [],
  requestAuthentications: [],
  faultInjectionPolicies: [],
  trustBundle: 'pem',
  defaultTrustDomain: 'cluster.local',
});

/** Replaces the resource of that name in the list (a new object, as the store writes it), or adds it. */
function put<T extends Resource>(list: readonly T[] | undefined, r: Resource): T[] {
  const rest = (list ?? []).filter((x) => x.metadata.name !== r.metadata.name);
  const at = (list ?? []).findIndex((x) => x.metadata.name === r.metadata.name);
  return at === -1 ? [...rest, r as T] : [...rest.slice(0, at), r as T, ...rest.slice(at)];
}
const drop = <T extends Resource>(list: readonly T[] | undefined, name: string): T[] => (list ?? []).filter((x) => x.metadata.name !== name);

/** Every type's names and content hashes: what the proxy is sent. */
function sent(snap: NodeSnapshot): Record<string, [string, string][]> {
  return Object.fromEntries([...snap].map(([t, m]) => [t, [...m.values()].map((e) => [e.name, e.hash] as [string, string])]));
}

const allow = (from: string) => policy('AuthorizationPolicy', 'orders-allow', { targetRefs: [{ kind: 'Service', name: 'orders' }], rules: [{ from: [{ identities: [from] }] }] });

/** Each step: what it changes, and the proxies whose listeners that must change (every other's must not). */
const STEPS: readonly { readonly what: string; readonly change: (s: State) => void; readonly listenersOf: readonly string[] }[] = [
  { what: 'an HTTPRoute (routes only)', change: (s) => void (s.httpRoutes = [split(90)] as never), listenersOf: [] },
  { what: 'the same HTTPRoute, another weight', change: (s) => void (s.httpRoutes = [split(50)] as never), listenersOf: [] },
  { what: 'an AuthorizationPolicy on orders', change: (s) => void (s.authorizationPolicies = put(s.authorizationPolicies, allow('spiffe://cluster.local/ns/shop/sa/web'))), listenersOf: ['o-1', 'o-2', 'c-1'] },
  { what: 'that policy changed', change: (s) => void (s.authorizationPolicies = put(s.authorizationPolicies, allow('spiffe://cluster.local/ns/shop/sa/other'))), listenersOf: ['o-1', 'o-2', 'c-1'] },
  {
    what: 'a RequestAuthentication on billing',
    change: (s) => void (s.requestAuthentications = put(s.requestAuthentications, policy('RequestAuthentication', 'billing-jwt', { targetRefs: [{ kind: 'Service', name: 'billing' }], jwtRules: [{ issuer: 'https://issuer.internal', jwks: JWKS }] }))),
    listenersOf: ['b-1'],
  },
  { what: "o-1's port for http", change: (s) => void (s.workloads = put(s.workloads, workload('o-1', 'orders', { address: '10.0.0.1', ports: { http: 9090, cache: 6379 } }))), listenersOf: ['o-1'] },
  { what: "o-2's address", change: (s) => void (s.workloads = put(s.workloads, workload('o-2', 'orders', { address: '10.0.0.22', ports: { http: 8080, cache: 6379 } }))), listenersOf: ['o-2'] },
  { what: "orders' port protocol (http to tcp)", change: (s) => void (s.services = put(s.services, service('orders', 'orders', [{ name: 'http', port: 80, appProtocol: 'tcp' }], '10.96.0.10'))), listenersOf: ['o-1', 'o-2', 'c-1'] },
  { what: "orders' port protocol back", change: (s) => void (s.services = put(s.services, service('orders', 'orders', [{ name: 'http', port: 80 }], '10.96.0.10'))), listenersOf: ['o-1', 'o-2', 'c-1'] },
  { what: 'the mesh to STRICT', change: (s) => void (s.meshes = [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'cluster.local', mtls: { mode: 'STRICT' } } }] as never), listenersOf: ['o-1', 'o-2', 'b-1', 'c-1'] },
  {
    what: "a FaultInjectionPolicy on the HTTPRoute (every proxy's outbound listener; in capture, the one of orders' ClusterIP)",
    change: (s) => void (s.faultInjectionPolicies = put(s.faultInjectionPolicies, policy('FaultInjectionPolicy', 'orders-fault', { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'orders' }], abort: { httpStatus: 503, percent: 1 } }))),
    listenersOf: ['o-1', 'o-2', 'b-1', 'w-1', 'c-1'],
  },
  { what: 'the AuthorizationPolicy deleted', change: (s) => void (s.authorizationPolicies = drop(s.authorizationPolicies, 'orders-allow')), listenersOf: ['o-1', 'o-2', 'c-1'] },
  { what: 'billing selecting nothing', change: (s) => void (s.services = put(s.services, service('billing', 'nobody', [{ name: 'http', port: 80 }], '10.96.0.11'))), listenersOf: ['b-1'] },
  { what: 'the tcp Service deleted', change: (s) => void (s.services = drop(s.services, 'cache')), listenersOf: ['o-1', 'o-2', 'c-1'] },
  { what: 'a Workload added to orders', change: (s) => void (s.workloads = put(s.workloads, workload('o-3', 'orders', { address: '10.0.0.6', ports: { http: 8080 } }))), listenersOf: [] },
];

test('after each change, every proxy is sent what a fresh cache generates for that view, and only the proxies the change is about get new listeners', () => {
  const state = initial();
  const cache = new SnapshotCache(() => {});
  let before = new Map<string, Record<string, [string, string][]>>();
  const step = (what: string) => {
    state.revision++;
    const view = buildMeshView(state);
    assert.ok(cache.setView(view), what);
    const fresh = new SnapshotCache(() => {});
    assert.ok(fresh.setView(view), what);
    const now = new Map(NODES.map((n) => [n.workload, sent(cache.snapshotFor(n)!)]));
    for (const n of NODES) assert.deepEqual(now.get(n.workload), sent(fresh.snapshotFor(n)!), `${what}: ${n.workload} is sent what a fresh cache generates`);
    const changed = NODES.filter((n) => before.size > 0 && JSON.stringify(before.get(n.workload)![TYPE_URLS.Listener]) !== JSON.stringify(now.get(n.workload)![TYPE_URLS.Listener])).map((n) => n.workload);
    before = now;
    return changed;
  };
  step('the first view');
  for (const s of STEPS) {
    s.change(state);
    assert.deepEqual(step(s.what), [...s.listenersOf], `${s.what}: the proxies whose listeners changed`);
  }
});

test('a view that changes routes only generates no proxy\'s inbound side again; a policy on a Service, its serving proxies\' only', () => {
  const state = initial();
  const own = new OwnResources();
  const parts = (view: MeshView) => {
    own.nextView();
    return new Map(NODES.map((n) => [n.workload, own.get(view, n, n.workload, inboundPorts(view, n))]));
  };
  const first = parts(buildMeshView(state));
  state.httpRoutes = [split(70)] as never;
  const routed = parts(buildMeshView(state));
  for (const n of NODES) assert.equal(routed.get(n.workload), first.get(n.workload), `${n.workload}: kept`);
  state.requestAuthentications = put(state.requestAuthentications, policy('RequestAuthentication', 'billing-jwt', { targetRefs: [{ kind: 'Service', name: 'billing' }], jwtRules: [{ issuer: 'https://issuer.internal', jwks: JWKS }] }));
  const policed = parts(buildMeshView(state));
  // Kept by identity of the policies' lists: a policy change generates every proxy's again, and only the governed ones differ.
  const listeners = (m: Map<string, { packed: { listeners: ReadonlyMap<string, { hash: string }> } }>, w: string) => [...m.get(w)!.packed.listeners.values()].map((e) => e.hash);
  for (const n of NODES) {
    if (n.workload === 'b-1') assert.notDeepEqual(listeners(policed, 'b-1'), listeners(routed, 'b-1'));
    else assert.deepEqual(listeners(policed, n.workload), listeners(routed, n.workload), n.workload);
  }
  // A part no proxy asked for is dropped after a few views; asked for again, it is generated again (the same content).
  for (let i = 0; i < 6; i++) own.nextView();
  const view = buildMeshView(state);
  const again = own.get(view, NODES[0], NODES[0].workload, inboundPorts(view, NODES[0]));
  assert.notEqual(again, policed.get('o-1'));
  assert.deepEqual([...again.packed.listeners.values()].map((e) => e.hash), listeners(policed, 'o-1'));
});
