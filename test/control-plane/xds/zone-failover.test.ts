// Failover across zones, as the control plane generates it (issue 18): each node gets its
// own zone's endpoints at priority 0 and the other zones' at 1 (Spread: all at 0), every
// retry_policy carries the previous_priorities retry priority, and a cluster with endpoints
// in two or more zones gets connection failures counted apart for a quick ejection. Each is
// read back by the proxy's own translator, as a proxy following the control plane would.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { CROSS_ZONE_OUTLIER } from '../../../control-plane/xds/policies/circuit-breaker/generate.ts';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const NS = 'shop';
const meta = (name: string) => ({ name, namespace: NS, creationTimestamp: '2025-01-01T00:00:00Z' });
const svc = (name: string): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] } });
const wl = (name: string, app: string, address: string, zone?: string): Resource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { ...meta(name), labels: { app } },
  spec: { address, ports: { http: 8080 }, serviceAccount: app, ...(zone === undefined ? {} : { zone }) },
});

// orders in zones a and b; spread (a Spread policy) in a and b; local only in a; the callers in a, b and no zone.
const inputs = {
  revision: 1,
  meshes: [],
  services: [svc('orders'), svc('spread'), svc('local'), svc('web')] as never,
  workloads: [
    wl('orders-a', 'orders', '10.0.1.1', 'a'),
    wl('orders-b', 'orders', '10.0.2.1', 'b'),
    wl('spread-a', 'spread', '10.0.1.2', 'a'),
    wl('spread-b', 'spread', '10.0.2.2', 'b'),
    wl('local-a', 'local', '10.0.1.3', 'a'),
    wl('web-a', 'web', '10.0.1.9', 'a'),
    wl('web-b', 'web', '10.0.2.9', 'b'),
    wl('web-none', 'web', '10.0.3.9'),
  ] as never,
  httpRoutes: [],
  grpcRoutes: [],
  trustBundle: ROOT_PEM,
  defaultTrustDomain: 'cluster.local',
  loadBalancingPolicies: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'LoadBalancingPolicy', metadata: meta('spread'), spec: { targetRefs: [{ kind: 'Service', name: 'spread' }], zones: 'Spread' } }] as never,
  retryPolicies: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: meta('orders'), spec: { targetRefs: [{ kind: 'Service', name: 'orders' }], attempts: 2, retryOn: ['connect-failure', '5xx'] } }] as never,
};
const view = buildMeshView(inputs);
const cluster = (name: string) => `outbound|80||${name}.${NS}.svc.cluster.local`;

function proxyNode(workload: string, zone?: string): NodeContext {
  return { kind: 'proxy', id: `${workload}.${NS}`, workload, namespace: NS, outboundPort: 15001, appPorts: {}, ...(zone === undefined ? {} : { zone }) };
}

/** What a Sluice proxy makes of its snapshot, through its own translator. */
function proxyConfig(cache: SnapshotCache, node: NodeContext): ProxyConfig {
  const snap = cache.snapshotFor(node)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config;
}

const levels = (config: ProxyConfig, name: string) => config.backends.find((b) => b.name === cluster(name))!.endpoints.map((e) => [e.zone, e.priority]);

test("a proxy's own zone is priority 0 and the other zone 1, from its Workload's zone; a proxy of no zone has every endpoint at 0", () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-a')), 'orders'), [['a', 0], ['b', 1]]);
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-b')), 'orders'), [['a', 1], ['b', 0]]);
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-none')), 'orders'), [['a', 0], ['b', 0]]);
  // The Workload's zone wins over the locality the proxy sent; with none on the Workload, the sent one counts.
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-a', 'b')), 'orders'), [['a', 0], ['b', 1]]);
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-none', 'b')), 'orders'), [['a', 1], ['b', 0]]);
});

test("a pod's proxy is in its Node's zone (topology.kubernetes.io/zone), as the endpoints it serves say", () => {
  const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8'));
  const pod = fixture('pod-reviews-v1');
  const vm = { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: 'reviews-vm-1', namespace: 'bookinfo', labels: { app: 'reviews' } }, spec: { address: '192.168.7.20', ports: { http: 9080 }, serviceAccount: 'reviews-vm', zone: 'dc-1' } };
  const podView = buildMeshView({ ...inputs, services: [fixture('service-reviews')], workloads: [vm] as never, endpointSlices: [fixture('endpointslice-reviews')], pods: [pod], nodes: [fixture('node-worker-a')] });
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(podView));
  const node: NodeContext = { kind: 'proxy', id: `${pod.metadata.name}.bookinfo`, workload: pod.metadata.name, namespace: 'bookinfo', outboundPort: 15001, appPorts: {} };
  const config = proxyConfig(cache, node);
  const reviews = config.backends.find((b) => b.name.includes('reviews.bookinfo'))!;
  assert.deepEqual(reviews.endpoints.map((e) => [e.zone, e.priority]), [['dc-1', 1], ['eu-west-1a', 0]]);
});

test('zones: Spread puts every zone at 0; a Service with nothing in the caller\'s zone starts its levels at 0', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-b')), 'spread'), [['a', 0], ['b', 0]]);
  assert.deepEqual(levels(proxyConfig(cache, proxyNode('web-b')), 'local'), [['a', 0]]);
});

test('proxies of one zone share its assignments; a proxyless client gets its locality\'s priorities', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const cla = (node: NodeContext) => cache.snapshotFor(node)!.get(TYPE_URLS.ClusterLoadAssignment)!;
  assert.equal(cla(proxyNode('web-a')), cla(proxyNode('web-none', 'a')), 'one map per zone');
  assert.notEqual(cla(proxyNode('web-a')), cla(proxyNode('web-b')));
  const generic = (zone?: string) => {
    const e = cla({ kind: 'generic', id: 'g', ...(zone === undefined ? {} : { zone }) }).get(cluster('orders'))!;
    return ((unpack(e.any) as { value: Pb }).value.endpoints as Pb[]).map((l) => [l.locality.zone, l.priority ?? 0]);
  };
  assert.deepEqual(generic('b'), [['a', 1], ['b', 0]]);
  assert.deepEqual(generic(), [['a', 0], ['b', 0]]);
});

test('every retry_policy sends a retry to the next priority (previous_priorities, update_frequency 1), and the proxy runs it so', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const config = proxyConfig(cache, proxyNode('web-a'));
  const orders = config.routes.find((r) => r.name === `outbound/orders.${NS}.svc.cluster.local:80`)!;
  const retry = orders.rules[0].retry;
  assert.equal(retry?.failoverOnRetry, true);
  assert.equal(retry?.attempts, 2);
});

test('in a mesh of two zones, a cluster with endpoints in a zone ejects an endpoint after two connection failures in a row, with or without a policy; a mesh of one zone keeps the default', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const config = proxyConfig(cache, proxyNode('web-a'));
  const outlier = (name: string) => config.backends.find((b) => b.name === cluster(name))!.outlierDetection;
  assert.deepEqual(outlier('orders'), CROSS_ZONE_OUTLIER);
  assert.equal(outlier('orders')?.consecutiveLocalOriginFailures, 2);
  // All in zone a, but a caller in zone b reaches it across zones (clusters are shared by every proxy).
  assert.equal(outlier('local')?.consecutiveLocalOriginFailures, 2);
  // One zone in the whole mesh: nothing is across zones, the no-policy default stays.
  const oneZone = buildMeshView({ ...inputs, workloads: [wl('orders-a', 'orders', '10.0.1.1', 'a'), wl('spread-a', 'spread', '10.0.1.2', 'a'), wl('local-a', 'local', '10.0.1.3', 'a'), wl('web-a', 'web', '10.0.1.9', 'a')] as never });
  assert.ok(cache.setView(oneZone));
  assert.equal(proxyConfig(cache, proxyNode('web-a')).backends.find((b) => b.name === cluster('local'))!.outlierDetection?.consecutiveLocalOriginFailures, undefined);
  // An endpoint of no zone beside one in zone b (the only zone): a caller in zone a has them on two levels.
  const mixed = buildMeshView({ ...inputs, workloads: [wl('orders-x', 'orders', '10.0.1.1'), wl('spread-x', 'spread', '10.0.1.2'), wl('local-x', 'local', '10.0.1.3'), wl('local-b', 'local', '10.0.2.3', 'b'), wl('web-a', 'web', '10.0.1.9')] as never });
  assert.ok(cache.setView(mixed));
  assert.equal(proxyConfig(cache, proxyNode('web-a')).backends.find((b) => b.name === cluster('local'))!.outlierDetection?.consecutiveLocalOriginFailures, 2);
  assert.ok(cache.setView(view));
  // A CircuitBreakerPolicy's own detection keeps its numbers, and gets connection failures counted apart.
  const withPolicy = buildMeshView({
    ...inputs,
    circuitBreakerPolicies: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'CircuitBreakerPolicy', metadata: meta('orders'), spec: { targetRefs: [{ kind: 'Service', name: 'orders' }], outlierDetection: { consecutive5xx: 3 } } }] as never,
  });
  assert.ok(cache.setView(withPolicy));
  const o = proxyConfig(cache, proxyNode('web-a')).backends.find((b) => b.name === cluster('orders'))!.outlierDetection;
  assert.deepEqual([o?.consecutive5xx, o?.baseEjectionMs, o?.consecutiveLocalOriginFailures], [3, 30_000, 2]);
});
