// A Service that selects nothing yet (its Workloads not applied, or scaled to zero) is
// common and must not break anyone's config: its cluster once had an empty SAN list, which
// every Sluice proxy NACKed with the whole CDS, so no proxy took any change after it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const meta = (name: string) => ({ name, namespace: 'shop', creationTimestamp: '2025-01-01T00:00:00Z' });

test('a Service with no endpoint gets a cluster every proxy takes, which accepts no peer identity', () => {
  const view = buildMeshView({
    revision: 1,
    meshes: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'cluster.local', mtls: { mode: 'STRICT' } } }] as never,
    services: [
      { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: meta('later'), spec: { selector: { app: 'nobody-yet' }, ports: [{ name: 'http', port: 80 }, { name: 'redis', port: 6379, appProtocol: 'tcp' }] } },
    ] as never,
    workloads: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('web-1'), labels: { app: 'web' } }, spec: { address: '10.0.0.2', serviceAccount: 'web' } }] as never,
    httpRoutes: [],
    grpcRoutes: [],
    trustBundle: ROOT_PEM,
    defaultTrustDomain: 'cluster.local',
  });
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor({ kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: 'shop', outboundPort: 15001, appPorts: {} })!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const t = translate({ listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) }, { identity: { cert: 'c', key: 'k', bundle: 'b' } });
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  const backends = t.value.config.backends;
  for (const port of [80, 6379]) {
    const backend = backends.find((b) => b.name === `outbound|${port}||later.shop.svc.cluster.local`);
    assert.ok(backend !== undefined);
    assert.deepEqual(backend.endpoints, []);
    assert.deepEqual(backend.tls?.identities, ['spiffe://cluster.local/sluice/no-endpoint']);
  }
});
