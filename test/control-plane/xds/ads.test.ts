// The ADS server's contract, driven by hand over a real gRPC stream against a real file
// store: what is pushed and when (never on an ACK, never an unchanged type), NACKs kept
// for the operator, reconnects with what the client holds, and the resources a Sluice
// proxy node gets.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { openStore, type ResourceStore } from '../../../control-plane/store/index.ts';
import { startXds, type Xds } from '../../../control-plane/xds/index.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { decoded, openAds, struct, type Stream } from './ads-stream.ts';

// Pushed as the ROOTCA secret only; no TLS is made with it here.
const BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const { Listener: LDS, RouteConfiguration: RDS, Cluster: CDS, ClusterLoadAssignment: EDS, Secret: SDS } = TYPE_URLS;
const ORDERS = 'orders.default.svc.cluster.local';

type Env = { store: ResourceStore; xds: Xds; address: string; streams: Stream[]; server: grpc.Server };
let env: Env | null = null;

afterEach(async () => {
  if (env === null) return;
  for (const s of env.streams) s.close();
  env.xds.close();
  env.server.forceShutdown();
  await env.store.close();
  env = null;
});

const service = (name: string, selector: Record<string, string>): Resource => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] },
});
const workload = (name: string, port: number, labels: Record<string, string>): Resource => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'default', labels },
  spec: { address: '127.0.0.1', ports: { http: port }, zone: 'dc-1', serviceAccount: name.replace(/-\d+$/, '') },
});
const mesh = (mode: string): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'test.sluice.dev', mtls: { mode } } });

async function setup(mode = 'STRICT'): Promise<Env> {
  const store = await openStore(`file:${mkdtempSync(join(tmpdir(), 'sluice-ads-'))}`, { log: () => {} });
  await store.create('meshes.mesh.sluice.dev', mesh(mode));
  await store.create('services', service('orders', { app: 'orders' }));
  await store.create('workloads.mesh.sluice.dev', workload('orders-1', 18301, { app: 'orders' }));
  const xds = await startXds({ store, log: () => {}, now: Date.now, trustBundle: () => BUNDLE, trustDomain: 'cluster.local' });
  const server = new grpc.Server();
  xds.register(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  env = { store, xds, address: `127.0.0.1:${port}`, streams: [], server };
  return env;
}

function connect(e: Env, node: Record<string, unknown>): Stream {
  const s = openAds(e.address);
  e.streams.push(s);
  s.send({ node, type_url: CDS, resource_names: [] });
  return s;
}

const ack = (s: Stream, r: { version_info: string; nonce: string; type_url: string }, names: string[] = []) =>
  s.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: names });

test('a proxyless client gets what it names, its ACK is never answered, and a store change pushes only the types it changed', async () => {
  const e = await setup();
  const s = connect(e, { id: 'client-1', locality: {} });
  const cds = await s.next();
  assert.equal(cds.type_url, CDS);
  assert.deepEqual([...decoded(cds).keys()], [`outbound|80||${ORDERS}`]);
  ack(s, cds);
  for (const [type, names] of [[EDS, [`outbound|80||${ORDERS}`]], [LDS, [`${ORDERS}:80`]], [RDS, [`${ORDERS}:80`]]] as const) {
    s.send({ type_url: type, resource_names: names });
    const r = await s.next();
    assert.equal(r.type_url, type);
    assert.deepEqual([...decoded(r).keys()], names);
    ack(s, r, [...names]);
  }
  // A second endpoint changes the load assignment only (a proxyless cluster has no SAN list).
  await e.store.create('workloads.mesh.sluice.dev', workload('orders-2', 18302, { app: 'orders' }));
  const eds = await s.next();
  assert.equal(eds.type_url, EDS);
  const lbEndpoints = (decoded(eds).get(`outbound|80||${ORDERS}`)!.endpoints as { lb_endpoints: unknown[]; load_balancing_weight: { value: number } }[])[0];
  assert.equal(lbEndpoints.lb_endpoints.length, 2);
  assert.equal(lbEndpoints.load_balancing_weight.value, 2);
  ack(s, eds, [`outbound|80||${ORDERS}`]);
  // The barrier: a route changes RDS only. Had the ACKs or the workload pushed anything else, it would come first.
  await e.store.create('httproutes.gateway.networking.k8s.io', {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'api-only', namespace: 'default' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'orders', port: 80 }] }] },
  });
  const rds = await s.next();
  assert.equal(rds.type_url, RDS);
  const routes = ((decoded(rds).get(`${ORDERS}:80`)!.virtual_hosts as { routes: { match: Record<string, unknown> }[] }[])[0]).routes;
  // Gateway's PathPrefix /api is /api and /api/..., never /apix.
  assert.deepEqual(routes.map((r) => r.match), [{ path: '/api' }, { prefix: '/api/' }]);
});

test('a NACK is kept with its reason until the client takes a newer version, and proxy status says so', async () => {
  const e = await setup();
  const s = connect(e, { id: 'client-2', locality: {} });
  const cds = await s.next();
  s.send({ type_url: CDS, version_info: '', response_nonce: cds.nonce, resource_names: [], error_detail: { code: 3, message: 'cluster outbound|80: lb_policy MAGLEV is not supported' } });
  s.send({ type_url: SDS, resource_names: ['ROOTCA'] });
  assert.equal((await s.next()).type_url, SDS, 'the NACK itself got no answer');
  const status = e.xds.status().find((p) => p.id === 'client-2')!;
  assert.equal(status.types.Cluster!.state, 'NACKED');
  assert.equal(status.types.Cluster!.nack!.message, 'cluster outbound|80: lb_policy MAGLEV is not supported');
  assert.equal(status.types.Cluster!.nack!.version, cds.version_info);
  await e.store.create('services', service('payments', { app: 'payments' }));
  const next = await s.next();
  assert.equal(next.type_url, CDS, 'a new version follows the next change');
  assert.equal(e.xds.status().find((p) => p.id === 'client-2')!.types.Cluster!.state, 'STALE', 'sent, not yet ACKed');
  ack(s, next);
  await e.store.create('services', service('billing', { app: 'billing' })); // barrier: the ACK is processed before this push
  const billing = await s.next();
  ack(s, billing);
  s.send({ type_url: LDS, resource_names: [] }); // barrier: its answer comes after the ACK was read
  await s.next();
  const synced = e.xds.status().find((p) => p.id === 'client-2')!.types.Cluster!;
  assert.equal(synced.state, 'SYNCED');
  assert.equal(synced.acked, billing.version_info);
  assert.equal(synced.nack, undefined);
});

test('a client reconnecting with the version it holds is sent nothing until something changes', async () => {
  const e = await setup();
  const first = connect(e, { id: 'client-3', locality: {} });
  const cds = await first.next();
  first.close();
  const again = openAds(e.address);
  e.streams.push(again);
  again.send({ node: { id: 'client-3', locality: {} }, type_url: CDS, version_info: cds.version_info, resource_names: [] });
  again.send({ type_url: SDS, resource_names: ['ROOTCA'] });
  const r = await again.next();
  assert.equal(r.type_url, SDS, 'the clusters it already had were not sent again');
  assert.match(unpackSecret(r), /BEGIN CERTIFICATE/);
});

test('a proxy that leaves stays in proxy status as OFFLINE, with when it was last seen, until it comes back', async () => {
  const e = await setup();
  const s = connect(e, { id: 'client-4', locality: {} });
  await s.next();
  assert.equal(e.xds.status().find((p) => p.id === 'client-4')!.status, 'CONNECTED');
  const before = Date.now();
  s.close();
  let gone;
  for (let i = 0; i < 100 && gone?.status !== 'OFFLINE'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gone = e.xds.status().find((p) => p.id === 'client-4');
  }
  assert.equal(gone?.status, 'OFFLINE', 'still listed, as offline');
  assert.ok(Date.parse(gone.lastSeen!) >= before - 1000);
  const back = connect(e, { id: 'client-4', locality: {} });
  await back.next();
  const rows = e.xds.status().filter((p) => p.id === 'client-4');
  assert.deepEqual(rows.map((r) => [r.status, r.lastSeen]), [['CONNECTED', undefined]], 'one row, connected again');
});

test('a Sluice proxy gets its inbound listener in the mesh mTLS mode, the outbound listener, and mTLS clusters naming the peers', async () => {
  for (const [mode, chains] of [['STRICT', [[undefined, true]]], ['PERMISSIVE', [['tls', true], ['raw_buffer', false]]], ['DISABLE', [[undefined, false]]]] as const) {
    const e = await setup(mode);
    const node = { id: 'orders-1.default', locality: { zone: 'dc-1' }, metadata: struct({ 'sluice.dev/proxy': 'sluice-proxy', 'sluice.dev/outbound-port': 15101, 'sluice.dev/app-ports': { http: 18201 } }) };
    const s = connect(e, node);
    const cds = decoded(await s.next());
    assert.deepEqual([...cds.keys()].sort(), ['inbound|18301', `outbound|80||${ORDERS}`]);
    const inboundApp = (cds.get('inbound|18301')!.load_assignment as { endpoints: { lb_endpoints: { endpoint: { address: unknown } }[] }[] }).endpoints[0].lb_endpoints[0].endpoint.address;
    assert.deepEqual(inboundApp, { socket_address: { address: '127.0.0.1', port_value: 18201 } });
    assert.equal(cds.get(`outbound|80||${ORDERS}`)!.transport_socket !== undefined, mode !== 'DISABLE');
    s.send({ type_url: LDS, resource_names: [] });
    const lds = decoded(await s.next());
    assert.deepEqual([...lds.keys()], ['inbound|18301', 'outbound']);
    const inbound = lds.get('inbound|18301')!;
    assert.deepEqual(inbound.address, { socket_address: { address: '127.0.0.1', port_value: 18301 } });
    const got = (inbound.filter_chains as { filter_chain_match?: { transport_protocol?: string }; transport_socket?: unknown }[]).map((c) => [c.filter_chain_match?.transport_protocol, c.transport_socket !== undefined]);
    assert.deepEqual(got, chains, mode);
    assert.deepEqual(lds.get('outbound')!.address, { socket_address: { address: '127.0.0.1', port_value: 15101 } });
    s.close();
    env = null;
    e.xds.close();
    e.server.forceShutdown();
    await e.store.close();
  }
});

test('a first request without node.id, or a Sluice proxy with a malformed node, is refused with the reason', async () => {
  const e = await setup();
  const noId = openAds(e.address);
  e.streams.push(noId);
  noId.send({ type_url: CDS });
  assert.match(((await noId.ended) as grpc.StatusObject).details, /node\.id/);
  const bad = connect(e, { id: 'orders-1', metadata: struct({ 'sluice.dev/proxy': 'sluice-proxy' }) });
  assert.match(((await bad.ended) as grpc.StatusObject).details, /not <workload>\.<namespace>/);
});

function unpackSecret(r: { resources: { type_url: string; value: Buffer }[] }): string {
  const u = unpack(r.resources[0]);
  assert.ok(u.ok);
  return ((u.value as { validation_context: { trusted_ca: { inline_string: string } } }).validation_context.trusted_ca.inline_string);
}
