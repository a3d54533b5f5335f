// GAMMA consumer routes (GEP-1294): a route in the caller's namespace whose parent is a
// Service in another namespace governs that namespace's calls to the Service, in place of
// the producer's routes; every other namespace keeps the producer's. What is generated is
// held in golden files (control-plane/xds/generate/golden/), and a Sluice proxy in each
// namespace translates its snapshot into the rules it then runs.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, nodeContextOf, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { consumerRouteConfigs, outboundRouteConfig, serviceRouteConfigs, type NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import type { RetryPolicyResource } from '../../../control-plane/xds/policies/retry/generate.ts';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/generate/golden/', import.meta.url));
const meta = (namespace: string, name: string, labels?: Record<string, string>) => ({ name, namespace, creationTimestamp: '2025-01-01T00:00:00Z', ...(labels === undefined ? {} : { labels }) });
const service = (namespace: string, name: string): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(namespace, name), spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
const workload = (namespace: string, name: string, app: string, address: string): Resource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: meta(namespace, name, { app }),
  spec: { address, ports: { http: 8080 }, serviceAccount: app },
});
const route = (namespace: string, name: string, spec: object) => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: meta(namespace, name), spec }) as never;
const API = { group: '', kind: 'Service', name: 'api', namespace: 'prod', port: 80 };

// prod owns api (and api-v2); team-a has a stub of its own. team-b has no route at all.
const services = [service('prod', 'api'), service('prod', 'api-v2'), service('team-a', 'api-stub')];
const workloads = [
  workload('prod', 'api-1', 'api', '10.0.0.1'),
  workload('prod', 'api-v2-1', 'api-v2', '10.0.0.2'),
  workload('team-a', 'api-stub-1', 'api-stub', '10.0.1.1'),
  workload('team-a', 'caller-a', 'caller-a', '10.0.1.2'),
  workload('team-b', 'caller-b', 'caller-b', '10.0.2.1'),
];
/** The producer's: /v1 and everything else to api. */
const producer = route('prod', 'api', { parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 80 }], rules: [{ backendRefs: [{ name: 'api', port: 80 }] }] });
/** team-a's: a 'stub' header to its own api-stub (a backendRef with no namespace is in the route's), the rest 1:3 to prod's api and api-v2. */
const consumer = route('team-a', 'api-canary', {
  parentRefs: [API],
  rules: [
    { name: 'stub', matches: [{ headers: [{ name: 'x-stub', value: 'yes' }] }], backendRefs: [{ name: 'api-stub', port: 80 }] },
    { name: 'split', backendRefs: [{ name: 'api', namespace: 'prod', port: 80, weight: 1 }, { name: 'api-v2', namespace: 'prod', port: 80, weight: 3 }] },
  ],
});
/** A RetryPolicy on the consumer route's split rule, in the route's namespace. */
const retry = {
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'RetryPolicy',
  metadata: meta('team-a', 'api-canary-split'),
  spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api-canary', sectionName: 'split' }], attempts: 2, retryOn: ['5xx'] },
} as unknown as RetryPolicyResource;

const view = buildMeshView({
  revision: 3,
  meshes: [],
  services: services as never,
  workloads: workloads as never,
  httpRoutes: [producer, consumer],
  grpcRoutes: [],
  retryPolicies: [retry],
  trustBundle: ROOT_PEM,
  defaultTrustDomain: 'cluster.local',
});

/** As a client receives it: packed and decoded. */
const wire = (list: readonly Pb[]) => list.map((o) => (unpack(pack(TYPE_URLS.RouteConfiguration, o)) as { value: Pb }).value);
const apiHost = (rc: Pb) => (rc.virtual_hosts as Pb[]).find((v) => v.name === 'api.prod.svc.cluster.local:80')!;
const proxyIn = (namespace: string, workloadName: string): NodeContext => ({ kind: 'proxy', id: `${workloadName}.${namespace}`, workload: workloadName, namespace, outboundPort: 15001, appPorts: {} });

test("golden: the outbound route config of a proxy in the consumer's namespace and in another; the proxyless route configs of the consumer's namespace", () => {
  assertGoldenJson(GOLDEN, 'consumer-outbound-team-a.json', wire([outboundRouteConfig(view, 'team-a')]));
  assertGoldenJson(GOLDEN, 'consumer-outbound-team-b.json', wire([outboundRouteConfig(view, 'team-b')]));
  assertGoldenJson(GOLDEN, 'consumer-proxyless-team-a.json', wire(consumerRouteConfigs(view, 'team-a')));
});

test("a consumer route replaces the producer's for its namespace's callers only; its backendRefs resolve in its namespace unless they name one", () => {
  const a = apiHost(outboundRouteConfig(view, 'team-a'));
  assert.deepEqual(a.routes.map((r: Pb) => r.name), ['team-a/api-canary/stub', 'team-a/api-canary/split'], "the producer's route is not among them");
  assert.equal(a.routes[0].route.cluster, 'outbound|80||api-stub.team-a.svc.cluster.local');
  assert.deepEqual(a.routes[1].route.weighted_clusters.clusters.map((c: Pb) => [c.name, c.weight.value]), [['outbound|80||api.prod.svc.cluster.local', 1], ['outbound|80||api-v2.prod.svc.cluster.local', 3]]);
  for (const ns of ['team-b', 'prod']) assert.deepEqual(apiHost(outboundRouteConfig(view, ns)).routes.map((r: Pb) => r.name), ['prod/api/0'], ns);
  // Proxyless clients: the same, by the namespace they say they run in.
  assert.deepEqual(consumerRouteConfigs(view, 'team-b'), [], 'team-b has no consumer routes: it shares the common route configs');
  assert.deepEqual(consumerRouteConfigs(view, 'team-a').map((rc) => rc.name), ['api.prod.svc.cluster.local:80'], 'only the Service its consumer routes name');
  assert.deepEqual((serviceRouteConfigs(view).find((rc) => rc.name === 'api.prod.svc.cluster.local:80')!.virtual_hosts as Pb[])[0].routes.map((r: Pb) => r.name), ['prod/api/0']);
});

test('a RetryPolicy on a consumer route reaches the routes of that rule only', () => {
  const [stub, split] = apiHost(outboundRouteConfig(view, 'team-a')).routes;
  assert.equal(stub.route.retry_policy, undefined);
  assert.deepEqual([split.route.retry_policy.retry_on, split.route.retry_policy.num_retries], ['5xx', { value: 2 }]);
  assert.equal(apiHost(outboundRouteConfig(view, 'team-b')).routes[0].route.retry_policy, undefined);
});

test("a consumer route attached to one port of the Service leaves the producer's routes on its other ports", () => {
  const two: Resource = { apiVersion: 'v1', kind: 'Service', metadata: meta('prod', 'api'), spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 8081 }] } };
  // The producer's route attaches to every port of api; team-a's to port 80 only.
  const everyPort = route('prod', 'api', { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{ backendRefs: [{ name: 'api', port: 80 }] }] });
  const v = buildMeshView({ revision: 1, meshes: [], services: [two, services[1], services[2]] as never, workloads: workloads as never, httpRoutes: [everyPort, consumer], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
  const hosts = outboundRouteConfig(v, 'team-a').virtual_hosts as Pb[];
  assert.deepEqual(hosts.find((h) => h.name === 'api.prod.svc.cluster.local:80')!.routes.map((r: Pb) => r.name), ['team-a/api-canary/stub', 'team-a/api-canary/split']);
  assert.deepEqual(hosts.find((h) => h.name === 'api.prod.svc.cluster.local:8081')!.routes.map((r: Pb) => r.name), ['prod/api/0']);
});

test('generation stays per view and namespace: proxies and proxyless clients of a namespace with no consumer routes share the common result', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const outbound = (n: NodeContext) => cache.snapshotFor(n)!.get(TYPE_URLS.RouteConfiguration)!.get('outbound')!;
  // Two proxies of one namespace: one outbound route config; routes of a Service shared across namespaces that see the producer's.
  assert.equal(outbound(proxyIn('team-a', 'caller-a')), outbound(proxyIn('team-a', 'api-stub-1')));
  assert.equal(apiHost(outboundRouteConfig(view, 'team-b')).routes, apiHost(outboundRouteConfig(view, 'prod')).routes, "one list of the producer's routes per view");
  const generic = cache.snapshotFor({ kind: 'generic', id: 'g' })!;
  assert.equal(cache.snapshotFor({ kind: 'generic', id: 'b', namespace: 'team-b' }), generic, 'team-b: the common proxyless snapshot');
  const teamA = cache.snapshotFor({ kind: 'generic', id: 'a', namespace: 'team-a' })!;
  assert.equal(cache.snapshotFor({ kind: 'generic', id: 'a2', namespace: 'team-a' }), teamA, 'one snapshot per namespace');
  for (const t of [TYPE_URLS.Listener, TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.Secret]) assert.equal(teamA.get(t), generic.get(t), t);
  const changed = [...teamA.get(TYPE_URLS.RouteConfiguration)!].filter(([name, e]) => generic.get(TYPE_URLS.RouteConfiguration)!.get(name)!.hash !== e.hash).map(([name]) => name);
  assert.deepEqual(changed, ['api.prod.svc.cluster.local:80']);
});

test("a proxyless client says its namespace as Istio's bootstrap does (node.metadata NAMESPACE); anything but a namespace name is refused", () => {
  const node = (fields: Record<string, unknown>) => ({ id: 'g-1', metadata: { fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? { stringValue: v } : { numberValue: v as number }])) } });
  assert.deepEqual(nodeContextOf(node({ NAMESPACE: 'team-a' })), { kind: 'generic', id: 'g-1', namespace: 'team-a' });
  assert.deepEqual(nodeContextOf(node({})), { kind: 'generic', id: 'g-1' });
  assert.match(nodeContextOf(node({ NAMESPACE: 'Team A' })) as string, /node\.metadata\['NAMESPACE'\] must be a namespace name/);
  assert.match(nodeContextOf(node({ NAMESPACE: 7 })) as string, /must be a namespace name/);
});

/** A Sluice proxy's config, from the snapshot it is sent, through its own translator. */
function proxyConfig(n: NodeContext): ProxyConfig {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor(n)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

test("a Sluice proxy takes each namespace's config whole and runs its rules: team-a's split and stub, team-b's producer route", () => {
  const rules = (n: NodeContext) => proxyConfig(n).routes.find((r) => r.name === 'outbound/api.prod.svc.cluster.local:80')!.rules;
  const a = rules(proxyIn('team-a', 'caller-a'));
  assert.deepEqual(a.map((r) => [r.name, r.backendRefs.map((b) => [b.name, b.weight])]), [
    ['team-a/api-canary/stub', [['outbound|80||api-stub.team-a.svc.cluster.local', 1]]],
    ['team-a/api-canary/split', [['outbound|80||api.prod.svc.cluster.local', 1], ['outbound|80||api-v2.prod.svc.cluster.local', 3]]],
  ]);
  assert.deepEqual(rules(proxyIn('team-b', 'caller-b')).map((r) => [r.name, r.backendRefs.map((b) => b.name)]), [['prod/api/0', ['outbound|80||api.prod.svc.cluster.local']]]);
});
