// A zone ingress's xDS (issue 18): a proxy that says `sluice.dev/mode: zone-ingress` gets
// one listener on 0.0.0.0:<its port> behind tls_inspector, one chain per Service port with
// instances in this zone matched by that port's SNI, no transport socket (TLS passes
// through), and clusters of this zone's instances only (never a remote zone's ingress).
// A Sluice proxy reads it back into SNI routes, and NACKs every shape it would read
// otherwise than Envoy, with the path.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { nodeContextOf } from '../../../control-plane/xds/node.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import type { ZoneSummary } from '../../../control-plane/zone/model.ts';
import { parseIngressAddress, zoneIngressAddress } from '../../../control-plane/zone/ingress-address.ts';
import type { TcpListener } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { readable } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const meta = (name: string, namespace = 'shop') => ({ name, namespace });
const resources = {
  services: [
    { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'tcp-db', port: 5432 }] } },
  ] as Resource[],
  workloads: [
    { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('orders-1'), labels: { app: 'orders' } }, spec: { address: '10.0.0.2', zone: 'onprem', ports: { http: 18080, 'tcp-db': 15432 } } },
    { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('ingress'), spec: { address: '10.0.0.9', zone: 'onprem' } },
  ] as Resource[],
};
const cloud: ZoneSummary = { zone: 'cloud', ingress: { address: '198.51.100.7', port: 15443 }, online: true, lastSync: '2026-12-06T12:00:00Z', services: [{ namespace: 'shop', name: 'orders', ports: [{ name: 'http', port: 80, instances: 2, identities: ['spiffe://cluster.local/ns/shop/sa/orders'] }] }, { namespace: 'shop', name: 'remote-only', ports: [{ port: 80, instances: 1, identities: ['spiffe://cluster.local/ns/shop/sa/x'] }] }] };
const view = () =>
  buildMeshView({ revision: 1, meshes: [], services: resources.services as never, workloads: resources.workloads as never, httpRoutes: [], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local', localZone: 'onprem', remoteZones: [cloud] });
const INGRESS: Extract<NodeContext, { kind: 'proxy' }> = { kind: 'proxy', id: 'ingress.shop', workload: 'ingress', namespace: 'shop', outboundPort: 15001, appPorts: {}, ingress: { port: 15443 } };

function snapshot() {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view()));
  const snap = cache.snapshotFor(INGRESS)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  return { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) };
}
const IDENTITY = { identity: { cert: 'c', key: 'k', bundle: 'b' } };
const SNI_80 = 'outbound_.80_._.orders.shop.svc.cluster.local';
const SNI_5432 = 'outbound_.5432_._.orders.shop.svc.cluster.local';

test('a node with sluice.dev/mode zone-ingress is an ingress on its port (15443 by default); a bad mode or port is refused with the key', () => {
  const fields = (extra: Record<string, unknown>) => ({ 'sluice.dev/proxy': { stringValue: 'sluice-proxy' }, ...extra });
  const ctx = nodeContextOf({ id: 'ingress.shop', metadata: { fields: fields({ 'sluice.dev/mode': { stringValue: 'zone-ingress' } }) } });
  assert.deepEqual((ctx as { ingress?: unknown }).ingress, { port: 15443 });
  const custom = nodeContextOf({ id: 'ingress.shop', metadata: { fields: fields({ 'sluice.dev/mode': { stringValue: 'zone-ingress' }, 'sluice.dev/ingress-port': { numberValue: 16443 } }) } });
  assert.deepEqual((custom as { ingress?: unknown }).ingress, { port: 16443 });
  assert.equal((nodeContextOf({ id: 'web-1.shop', metadata: { fields: fields({}) } }) as { ingress?: unknown }).ingress, undefined);
  assert.equal(nodeContextOf({ id: 'ingress.shop', metadata: { fields: fields({ 'sluice.dev/mode': { stringValue: 'gateway' } }) } }), `node.metadata['sluice.dev/mode'] must be 'zone-ingress' or unset; got "gateway"`);
  assert.equal(nodeContextOf({ id: 'ingress.shop', metadata: { fields: fields({ 'sluice.dev/mode': { stringValue: 'zone-ingress' }, 'sluice.dev/ingress-port': { numberValue: 70000 } }) } }), `node.metadata['sluice.dev/ingress-port'] must be a port number; got 70000`);
});

test('the ingress gets one SNI chain per Service port with instances here, TLS passed through to this zone\'s instances only', () => {
  const r = snapshot();
  assert.deepEqual([...r.listeners.keys()], ['zone-ingress'], 'no inbound or outbound listener of a workload');
  const l = readable(r.listeners.get('zone-ingress')) as Pb;
  assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 15443 } });
  assert.deepEqual(l.listener_filters.map((f: Pb) => f.name), ['envoy.filters.listener.tls_inspector']);
  // orders' two ports; not 'remote-only' (instances in cloud only: never to another ingress).
  assert.deepEqual(l.filter_chains.map((c: Pb) => [c.filter_chain_match.server_names, c.filters[0].typed_config.cluster, c.transport_socket]), [[[SNI_80], SNI_80, undefined], [[SNI_5432], SNI_5432, undefined]]);
  const endpoints = (name: string) => r.clusters.get(name)!.load_assignment.endpoints[0].lb_endpoints.map((e: Pb) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`);
  assert.deepEqual(endpoints(SNI_80), ['10.0.0.2:18080'], 'the instance\'s inbound port, where its proxy ends the caller\'s mTLS; not cloud\'s ingress');
  assert.deepEqual(endpoints(SNI_5432), ['10.0.0.2:15432']);
  assert.equal(r.clusters.get(SNI_80)!.transport_socket, undefined, 'plain TCP: the bytes are the caller\'s TLS');

  const t = translate(r, IDENTITY);
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  const listener = t.value.config.listeners.find((x) => x.name === 'zone-ingress') as TcpListener;
  assert.deepEqual({ protocol: listener.protocol, tls: listener.tls, port: listener.port, serverNames: listener.serverNames }, {
    protocol: 'tcp',
    tls: { mode: 'DISABLE' },
    port: 15443,
    serverNames: [{ names: [SNI_80], backend: SNI_80 }, { names: [SNI_5432], backend: SNI_5432 }],
  });
});

test('SNI listener shapes a Sluice proxy cannot read the way Envoy does are NACKed with their paths', () => {
  const problems = (mutate: (l: Pb) => Pb) => {
    const r = snapshot();
    r.listeners.set('zone-ingress', mutate(structuredClone(r.listeners.get('zone-ingress')!)));
    const t = translate(r, IDENTITY);
    assert.ok(!t.ok, 'NACK');
    return t.error.map(formatProblem);
  };
  const has = (lines: string[], line: string) => assert.ok(lines.includes(line), `${line}\nnot in:\n${lines.join('\n')}`);
  const chain = (l: Pb, i: number, patch: Pb) => ({ ...l, filter_chains: l.filter_chains.map((c: Pb, k: number) => (k === i ? { ...c, ...patch } : c)) });
  const L = 'Listener zone-ingress: ';
  has(problems((l) => ({ ...l, listener_filters: [] })), `${L}listener_filters: server_names are known only behind envoy.filters.listener.tls_inspector`);
  has(problems((l) => ({ ...l, listener_filters: [...l.listener_filters, { name: 'envoy.filters.listener.http_inspector' }] })), `${L}listener_filters[1].name: 'envoy.filters.listener.http_inspector' beside envoy.filters.listener.tls_inspector: a listener that routes by server_names runs envoy.filters.listener.tls_inspector only`);
  has(problems((l) => ({ ...l, filter_chains: [] })), `${L}filter_chains: envoy.filters.listener.tls_inspector without a chain matching server_names tells nothing apart`);
  has(problems((l) => chain(l, 1, { filter_chain_match: {} })), `${L}filter_chains[1].filter_chain_match.server_names: required on every chain of a listener behind envoy.filters.listener.tls_inspector: a connection whose SNI no chain names is closed`);
  has(problems((l) => chain(l, 1, { filter_chain_match: { server_names: [SNI_80] } })), `${L}filter_chains[1].filter_chain_match.server_names[0]: '${SNI_80}' is also matched by filter_chains[0]`);
  has(problems((l) => chain(l, 0, { filter_chain_match: { server_names: ['*.shop.svc.cluster.local'] } })), `${L}filter_chains[0].filter_chain_match.server_names[0]: '*.shop.svc.cluster.local': a Sluice proxy matches exact server names only`);
  has(problems((l) => chain(l, 0, { filter_chain_match: { server_names: [SNI_80], application_protocols: ['h2'] } })), `${L}filter_chains[0].filter_chain_match.application_protocols: not read beside server_names: the ingress forwards by SNI alone`);
  has(problems((l) => chain(l, 0, { filter_chain_match: { server_names: [SNI_80], transport_protocol: 'raw_buffer' } })), `${L}filter_chains[0].filter_chain_match.transport_protocol: must be tls or unset beside server_names; got 'raw_buffer'`);
  // A chain that terminates TLS would end the caller's mTLS at the ingress: identity would not reach the instance.
  const tls = snapshotInbound();
  has(problems((l) => chain(l, 0, { transport_socket: tls })), `${L}filter_chains[0].transport_socket: must be unset: a chain matched by server_names passes TLS through untouched (the instance's proxy terminates it)`);
  has(problems((l) => ({ ...l, use_original_dst: { value: true } })), `${L}use_original_dst: a listener that routes by server_names takes its own connections only`);
  // server_names on an ordinary listener, without tls_inspector.
  has(problems(({ listener_filters: _, ...l }) => l), `${L}listener_filters: server_names are known only behind envoy.filters.listener.tls_inspector`);
});

/** An mTLS transport socket as the control plane writes for a workload's inbound listener. */
function snapshotInbound(): Pb {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view()));
  const snap = cache.snapshotFor({ kind: 'proxy', id: 'orders-1.shop', workload: 'orders-1', namespace: 'shop', outboundPort: 15001, appPorts: {} })!;
  const l = (unpack(snap.get(TYPE_URLS.Listener)!.get('inbound|18080')!.any) as { value: Pb }).value;
  return l.filter_chains[0].transport_socket;
}

test('the zone reports its ingress: the flag\'s address, else the connected ingress\'s Workload address and port, else none', () => {
  const v = view();
  const sidecar: NodeContext = { kind: 'proxy', id: 'orders-1.shop', workload: 'orders-1', namespace: 'shop', outboundPort: 15001, appPorts: {} };
  assert.equal(zoneIngressAddress(v, [sidecar, { kind: 'generic', id: 'x' }, null]), null, 'no ingress on a stream');
  assert.deepEqual(zoneIngressAddress(v, [sidecar, INGRESS]), { address: '10.0.0.9', port: 15443 });
  assert.deepEqual(zoneIngressAddress(v, [INGRESS], { address: '203.0.113.7', port: 443 }), { address: '203.0.113.7', port: 443 });
  assert.equal(zoneIngressAddress(v, [{ ...INGRESS, id: 'gone.shop', workload: 'gone' }]), null, 'an ingress whose Workload is gone has no address');
  assert.deepEqual(parseIngressAddress('203.0.113.7:15443'), { address: '203.0.113.7', port: 15443 });
  assert.deepEqual(parseIngressAddress('[2001:db8::7]:15443'), { address: '2001:db8::7', port: 15443 });
  assert.equal(parseIngressAddress('ingress.example:0'), "'ingress.example:0' is not HOST:PORT (the address other zones reach this zone's ingress at, e.g. 203.0.113.7:15443)");
});
