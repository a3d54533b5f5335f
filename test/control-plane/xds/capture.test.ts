// Transparent capture over xDS (control-plane/xds/generate/capture.ts): what a proxy that
// says sluice.dev/capture is sent, and what a Sluice proxy makes of it through its own
// translator; and the capture fields a Sluice proxy refuses, each with its path.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { nodeContextOf } from '../../../control-plane/xds/node.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const meta = (name: string, namespace = 'shop') => ({ name, namespace, creationTimestamp: '2025-01-01T00:00:00Z' });
const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('redis'), spec: { clusterIP: '10.96.0.11', selector: { app: 'redis' }, ports: [{ name: 'redis', port: 6379, appProtocol: 'tcp' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('headless'), spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 81 }] } },
];
const workloads: Resource[] = [
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('web-1'), labels: { app: 'web' } }, spec: { address: '10.0.0.2', ports: { http: 8080 }, serviceAccount: 'web' } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('redis-1'), labels: { app: 'redis' } }, spec: { address: '10.0.0.3', serviceAccount: 'redis' } },
];
const mesh = (mode: string): Resource[] => [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'cluster.local', mtls: { mode } } }];
const viewOf = (mode: string) => buildMeshView({ revision: 1, meshes: mesh(mode) as never, services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
const node = (strictEgress: boolean): Extract<NodeContext, { kind: 'proxy' }> => ({ kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: 'shop', outboundPort: 15001, appPorts: {}, capture: { inboundPort: 15006, strictEgress } });

function snapshot(mode: string, strictEgress: boolean) {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(viewOf(mode)));
  const snap = cache.snapshotFor(node(strictEgress))!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  return { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) };
}

test('a capture proxy gets virtualOutbound and virtualInbound, a listener per ClusterIP and port, and its inbound listeners unbound; no Host-routed outbound listener', () => {
  const r = snapshot('STRICT', false);
  assert.deepEqual([...r.listeners.keys()].sort(), ['10.96.0.10_80', '10.96.0.11_6379', 'inbound|8080', 'virtualInbound', 'virtualOutbound']);
  const out = r.listeners.get('virtualOutbound')!;
  assert.deepEqual(out.address, { socket_address: { address: '0.0.0.0', port_value: 15001 } });
  assert.equal(out.use_original_dst.value, true);
  assert.equal(out.traffic_direction, 'OUTBOUND');
  assert.equal(r.listeners.get('virtualInbound')!.address.socket_address.port_value, 15006);
  const web = r.listeners.get('10.96.0.10_80')!;
  assert.equal(web.bind_to_port.value ?? false, false);
  assert.deepEqual(web.listener_filters.map((f: Pb) => f.name), ['envoy.filters.listener.http_inspector']);
  assert.deepEqual(web.filter_chains[0].filter_chain_match.application_protocols, ['http/1.1', 'h2c']);
  assert.equal(r.listeners.get('inbound|8080')!.traffic_direction, 'INBOUND');
  assert.equal(r.clusters.get('PassthroughCluster')!.type, 'ORIGINAL_DST');
  assert.equal(r.clusters.get('PassthroughCluster')!.lb_policy, 'CLUSTER_PROVIDED');
  assert.ok(r.clusters.has('BlackHoleCluster'), 'STRICT: a port no Service declares is closed inbound');
  assert.ok(!r.clusters.has('InboundPassthroughCluster'));
});

test('the proxy reads it back: which listeners are bound, which take captured connections, and where the rest go', () => {
  const t = translate(snapshot('PERMISSIVE', false), { identity: { cert: 'c', key: 'k', bundle: 'b' } });
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  const l = (name: string) => t.value.config.listeners.find((x) => x.name === name)!;
  const pick = (name: string) => {
    const x = l(name);
    return { protocol: x.protocol, address: x.address, port: x.port, bindToPort: x.bindToPort, useOriginalDst: x.useOriginalDst, direction: x.direction, ...(x.protocol === 'tcp' ? { backend: x.backend } : { httpOnly: x.httpOnly }) };
  };
  assert.deepEqual(pick('virtualOutbound'), { protocol: 'tcp', address: '0.0.0.0', port: 15001, bindToPort: undefined, useOriginalDst: true, direction: 'OUTBOUND', backend: 'PassthroughCluster' });
  assert.deepEqual(pick('virtualInbound'), { protocol: 'tcp', address: '0.0.0.0', port: 15006, bindToPort: undefined, useOriginalDst: true, direction: 'INBOUND', backend: 'InboundPassthroughCluster' });
  assert.deepEqual(pick('10.96.0.10_80'), { protocol: 'http', address: '10.96.0.10', port: 80, bindToPort: false, useOriginalDst: undefined, direction: 'OUTBOUND', httpOnly: true });
  assert.deepEqual(pick('10.96.0.11_6379'), { protocol: 'tcp', address: '10.96.0.11', port: 6379, bindToPort: false, useOriginalDst: undefined, direction: 'OUTBOUND', backend: 'outbound|6379||redis.shop.svc.cluster.local' });
  assert.deepEqual(pick('inbound|8080'), { protocol: 'http', address: '10.0.0.2', port: 8080, bindToPort: false, useOriginalDst: undefined, direction: 'INBOUND', httpOnly: undefined });
  assert.equal(l('inbound|8080').tls.mode, 'PERMISSIVE', "the inbound listener keeps its mTLS mode in capture");
  const routes = t.value.config.routes.filter((r) => r.parentRefs.includes('10.96.0.10_80'));
  assert.deepEqual(routes.flatMap((r) => r.rules.flatMap((rule) => rule.backendRefs.map((b) => b.name))), ['outbound|80||web.shop.svc.cluster.local']);
  assert.equal(t.value.config.backends.find((b) => b.name === 'PassthroughCluster')?.originalDst, true);
});

test('strict egress: an address no Service has goes to BlackHoleCluster, which has no endpoint', () => {
  const r = snapshot('PERMISSIVE', true);
  const out = r.listeners.get('virtualOutbound')!;
  const tcp = (unpack(out.filter_chains[0].filters[0].typed_config) as { value: Pb }).value;
  assert.equal(tcp.cluster, 'BlackHoleCluster');
  assert.ok(!r.clusters.has('PassthroughCluster'));
  const t = translate(r, { identity: { cert: 'c', key: 'k', bundle: 'b' } });
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  assert.deepEqual(t.value.config.backends.find((b) => b.name === 'BlackHoleCluster')?.endpoints, []);
});

test('sluice.dev/capture metadata is read into the node, and a bad one refuses the stream naming the field', () => {
  const fields = (capture: unknown) => ({ 'sluice.dev/proxy': { stringValue: 'sluice-proxy' }, 'sluice.dev/capture': capture as never });
  const ok = nodeContextOf({ id: 'web-1.shop', metadata: { fields: fields({ structValue: { fields: { inboundPort: { numberValue: 15006 }, strictEgress: { boolValue: true } } } }) } });
  assert.deepEqual((ok as { capture?: unknown }).capture, { inboundPort: 15006, strictEgress: true });
  const bad = nodeContextOf({ id: 'web-1.shop', metadata: { fields: fields({ structValue: { fields: { inboundPort: { stringValue: 'x' } } } }) } });
  assert.equal(bad, `node.metadata['sluice.dev/capture'].inboundPort must be a port number; got "x"`);
});

test('capture fields a Sluice proxy cannot serve are NACKed with their paths', () => {
  const r = snapshot('PERMISSIVE', false);
  const listeners = new Map(r.listeners);
  const web = listeners.get('10.96.0.10_80')!;
  // A use_original_dst listener that is HTTP and not bound; a chain matching protocols with no inspector; a cluster with the wrong policy.
  listeners.set('virtualOutbound', { ...listeners.get('virtualOutbound')!, filter_chains: web.filter_chains, listener_filters: web.listener_filters, bind_to_port: {} });
  listeners.set('10.96.0.10_80', { ...web, listener_filters: [] });
  const clusters = new Map(r.clusters);
  clusters.set('PassthroughCluster', { ...clusters.get('PassthroughCluster')!, lb_policy: 'ROUND_ROBIN' });
  const t = translate({ ...r, listeners, clusters }, { identity: { cert: 'c', key: 'k', bundle: 'b' } });
  assert.ok(!t.ok);
  const lines = t.error.map(formatProblem);
  assert.ok(lines.includes('Listener virtualOutbound: filter_chains[0].filters: a use_original_dst listener runs a tcp_proxy for the connections no other listener takes (PassthroughCluster or BlackHoleCluster)'), lines.join('\n'));
  assert.ok(lines.includes('Listener virtualOutbound: bind_to_port: a use_original_dst listener is where iptables redirects to: it must be bound'), lines.join('\n'));
  assert.ok(lines.includes('Listener 10.96.0.10_80: filter_chains[0].filter_chain_match.application_protocols: is known only behind envoy.filters.listener.http_inspector (listener_filters)'), lines.join('\n'));
  assert.ok(lines.includes('Cluster PassthroughCluster: lb_policy: must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster (as Envoy requires); got ROUND_ROBIN'), lines.join('\n'));
});

test('one workload with and without capture, or with another egress, gets its own snapshot from one cache', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(viewOf('PERMISSIVE')));
  const listeners = (n: Extract<NodeContext, { kind: 'proxy' }>) => [...cache.snapshotFor(n)!.get(TYPE_URLS.Listener as never)!.keys()].sort();
  const plain = { ...node(false), capture: undefined };
  assert.ok(listeners(plain).includes('outbound'));
  assert.ok(listeners(node(false)).includes('virtualOutbound'));
  const egress = (n: Extract<NodeContext, { kind: 'proxy' }>) => [...cache.snapshotFor(n)!.get(TYPE_URLS.Cluster as never)!.keys()].filter((c) => c === 'PassthroughCluster' || c === 'BlackHoleCluster');
  assert.deepEqual(egress(node(false)), ['PassthroughCluster']);
  assert.deepEqual(egress(node(true)), ['BlackHoleCluster']);
});
