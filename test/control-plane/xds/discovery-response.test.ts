// The ADS server writes its DiscoveryResponses as bytes (control-plane/xds/discovery-response.ts):
// the same bytes protobufjs writes, and, through a real gRPC stream, every response of a push
// written back to back (one reused buffer) arrives whole, each with what the cache holds.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { openStore } from '../../../control-plane/store/index.ts';
import { encodeDiscoveryResponse, isPlainResponse } from '../../../control-plane/xds/discovery-response.ts';
import type { TypeState } from '../../../control-plane/xds/ads-server.ts';
import { startXds } from '../../../control-plane/xds/index.ts';
import { versionOf, type Entry } from '../../../control-plane/xds/snapshot.ts';
import { adsPackageDefinition, pack, TYPE_URLS, unpack, type TypeUrl } from '../../../xds/index.ts';
import { openAds, struct, type Response } from './ads-stream.ts';

const generated = (adsPackageDefinition()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, { responseSerialize: (v: unknown) => Buffer }>).StreamAggregatedResources.responseSerialize;

test('a response is written as the same bytes the generated serializer writes', () => {
  const big = pack(TYPE_URLS.Cluster, { name: 'x'.repeat(70_000), type: 'EDS' });
  const cases = [
    { version_info: 'abc123', resources: [], type_url: TYPE_URLS.Listener, nonce: '1' },
    { version_info: '', resources: [pack(TYPE_URLS.Secret, {})], type_url: TYPE_URLS.Secret, nonce: '' },
    { version_info: 'v', resources: [pack(TYPE_URLS.Cluster, { name: 'a' }), big, pack(TYPE_URLS.Cluster, { name: 'ü'.repeat(200) })], type_url: TYPE_URLS.Cluster, nonce: '4294967296' },
  ];
  for (const c of cases) {
    assert.ok(isPlainResponse(c));
    assert.ok(encodeDiscoveryResponse(c).equals(generated(c)), `${c.type_url} with ${c.resources.length} resources`);
  }
  // A smaller one after a bigger one: only its own bytes.
  assert.ok(encodeDiscoveryResponse(cases[0]).equals(generated(cases[0])));
  // What is not exactly the ADS server's own shape goes to the generated serializer.
  assert.equal(isPlainResponse({ ...cases[0], control_plane: { identifier: 'x' } }), false);
  assert.equal(isPlainResponse({ ...cases[0], resources: [{ type_url: TYPE_URLS.Listener, value: 'AAAA' }] }), false);
});

test('the responses of one push, written back to back on a stream, each arrive whole with what the cache holds', async () => {
  const store = await openStore(`file:${mkdtempSync(join(tmpdir(), 'sluice-ads-bytes-'))}`, { log: () => {} });
  const service = (name: string): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  await store.create('services', service('orders'));
  await store.create('workloads.mesh.sluice.dev', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: 'orders-1', namespace: 'default', labels: { app: 'orders' } }, spec: { address: '127.0.0.1', ports: { http: 18301 } } });
  const xds = await startXds({ store, log: () => {}, now: Date.now, trustBundle: () => 'pem', trustDomain: 'cluster.local' });
  const server = new grpc.Server();
  xds.register(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const s = openAds(`127.0.0.1:${port}`);
  try {
    const node = { id: 'orders-1.default', metadata: struct({ 'sluice.dev/proxy': 'sluice-proxy', 'sluice.dev/outbound-port': 15101, 'sluice.dev/app-ports': { http: 18201 } }) };
    const types = [TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.Listener, TYPE_URLS.RouteConfiguration, TYPE_URLS.Secret];
    const names: Record<string, string[]> = { [TYPE_URLS.ClusterLoadAssignment]: ['outbound|80||orders.default.svc.cluster.local', 'outbound|80||billing.default.svc.cluster.local'], [TYPE_URLS.RouteConfiguration]: ['outbound', 'inbound|18301'], [TYPE_URLS.Secret]: ['ROOTCA'] };
    const held = new Map<string, Response>();
    for (const t of types) s.send({ node, type_url: t, resource_names: names[t] ?? [] });
    for (let i = 0; i < types.length; i++) {
      const r = await s.next();
      held.set(r.type_url, r);
      s.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: names[r.type_url] ?? [] });
    }
    // A second Service: clusters, endpoints, routes change at once, and go out in one turn of the loop.
    await store.create('services', service('billing'));
    const pushed: Response[] = [];
    for (let i = 0; i < 3; i++) pushed.push(await s.next());
    assert.deepEqual(pushed.map((r) => r.type_url), [TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.RouteConfiguration]);
    assert.equal(xds.ads.streams.size, 1);
    const stream = [...xds.ads.streams.values()][0];
    for (const r of pushed) {
      const state: TypeState = stream.types.get(r.type_url as TypeUrl)!;
      assert.equal(r.nonce, state.sentNonce, r.type_url);
      assert.notEqual(r.version_info, held.get(r.type_url)!.version_info, r.type_url);
      // The version is the server's hash of what it meant to send: these bytes, and no other, hash to it.
      const entries = new Map<string, Entry>();
      for (const a of r.resources) {
        const u = unpack(a);
        assert.ok(u.ok && a.type_url === r.type_url, r.type_url);
        const name = (u.value.name ?? u.value.cluster_name) as string;
        entries.set(name, { name, any: a, hash: createHash('sha256').update(a.value).digest('base64url').slice(0, 16) });
      }
      assert.equal(versionOf(entries, names[r.type_url] === undefined ? null : new Set(names[r.type_url])), r.version_info, r.type_url);
    }
  } finally {
    s.close();
    xds.close();
    server.forceShutdown();
    await store.close();
  }
});
