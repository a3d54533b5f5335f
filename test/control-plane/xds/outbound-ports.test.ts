// A Workload's spec.outbound over xDS (control-plane/xds/generate/outbound-ports.ts): what
// its proxy is sent, held in a golden file, and what a Sluice proxy makes of it through its
// own translator: a TCP listener per TCP Service port, an HTTP listener with that port's
// routes only, a listener that closes every connection for a Service that does not exist,
// and none on a port the proxy binds already; each entry not served as written is logged.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { outboundPortResources } from '../../../control-plane/xds/generate/outbound-ports.ts';
import { inboundPorts, outboundClusters, type NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import { nodeContextOf } from '../../../control-plane/xds/node.ts';
import type { Listener } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { EMBEDDED_TYPE_URLS, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { assertGoldenJson } from '../../helpers/golden.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const GOLDEN = fileURLToPath(new URL('../../../control-plane/xds/generate/golden/', import.meta.url));
const meta = (name: string, namespace = 'shop') => ({ name, namespace, creationTimestamp: '2025-01-01T00:00:00Z' });

const services: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('redis', 'data'), spec: { selector: { app: 'redis' }, ports: [{ name: 'redis', port: 6379, appProtocol: 'tcp' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 8080 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: meta('caller'), spec: { selector: { app: 'caller' }, ports: [{ name: 'http', port: 80 }] } },
];
const OUTBOUND = [
  { service: 'redis', namespace: 'data', port: 6379, localPort: 16379 },
  { service: 'web', port: 8080, localPort: 18080 },
  { service: 'nosuch', port: 6379, localPort: 16000 },
  { service: 'web', port: 9999, localPort: 16001 },
  { service: 'web', port: 80, localPort: 8080 }, // the caller's inbound port
  { service: 'web', port: 80, localPort: 18081 }, // where its app takes that inbound port
  { service: 'web', port: 80, localPort: 17000 }, // its proxy's outbound port
  { service: 'web', port: 80, localPort: 17001 }, // its proxy's admin port
];
const workloads: Resource[] = [
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('redis-1', 'data'), labels: { app: 'redis' } }, spec: { address: '10.0.0.1', ports: { redis: 6379 }, serviceAccount: 'redis' } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('web-1'), labels: { app: 'web' } }, spec: { address: '10.0.0.2', serviceAccount: 'web' } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('caller-1'), labels: { app: 'caller' } }, spec: { address: '127.0.0.1', ports: { http: 8080 }, serviceAccount: 'caller', outbound: OUTBOUND } },
];
const view = buildMeshView({ revision: 3, meshes: [], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
const NODE: Extract<NodeContext, { kind: 'proxy' }> = { kind: 'proxy', id: 'caller-1.shop', workload: 'caller-1', namespace: 'shop', outboundPort: 17000, appPorts: { http: 18081 }, adminPort: 17001 };

test('each entry is a listener on 127.0.0.1:<localPort> named outbound|<localPort> (golden file)', () => {
  const r = outboundPortResources(view, NODE, inboundPorts(view, NODE));
  assertGoldenJson(GOLDEN, 'outbound-ports.json', { listeners: r.listeners, routes: r.routes, clusters: r.clusters });
});

test('an entry to a Service or port that does not exist, or on a port the proxy binds, is a problem naming its field', () => {
  const r = outboundPortResources(view, NODE, inboundPorts(view, NODE));
  assert.deepEqual(r.problems, [
    'spec.outbound[2]: Service shop/nosuch does not exist; its listener on 127.0.0.1:16000 closes every connection until it does',
    'spec.outbound[3]: Service shop/web has no port 9999 (its ports: 80, 8080); its listener on 127.0.0.1:16001 closes every connection until it does',
    "spec.outbound[4].localPort: 8080 is this proxy's inbound port 8080, so it gets no listener for web:80",
    "spec.outbound[5].localPort: 18081 is this proxy's app port 18081 (where its inbound port 8080 forwards to on loopback), so it gets no listener for web:80",
    "spec.outbound[6].localPort: 17000 is this proxy's outbound port (--outbound-port), so it gets no listener for web:80",
    "spec.outbound[7].localPort: 17001 is this proxy's admin port (--admin-port), so it gets no listener for web:80",
  ]);
});

test('a TCP Service port is called over mTLS with no ALPN (its bytes pass as they are); an HTTP one with h2', () => {
  const tlsOf = (name: string) => {
    const c = outboundClusters(view, 'proxy').find((x) => x.name === name)!;
    const socket = c.transport_socket as { typed_config: { type_url: string; value: Uint8Array } };
    assert.equal(socket.typed_config.type_url, EMBEDDED_TYPE_URLS.UpstreamTlsContext);
    return (unpack(socket.typed_config) as { value: Pb }).value.common_tls_context;
  };
  assert.equal(tlsOf('outbound|6379||redis.data.svc.cluster.local').alpn_protocols, undefined);
  assert.deepEqual(tlsOf('outbound|8080||web.shop.svc.cluster.local').alpn_protocols, ['h2']);
});

test("the caller's proxy reads them into a TCP listener, an HTTP listener with that port's routes for any Host, and a TCP listener with no endpoint; the problems are logged", () => {
  const logged: unknown[] = [];
  const cache = new SnapshotCache((level, msg, fields) => logged.push([level, msg, (fields as { problem: string }).problem]));
  assert.ok(cache.setView(view));
  const snap = cache.snapshotFor(NODE)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  const r = translate(
    { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) },
    { identity: { cert: 'c', key: 'k', bundle: 'b' } },
  );
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  const config = r.value.config;
  const listener = (name: string) => config.listeners.find((l) => l.name === name);
  const tcp = (l: Listener | undefined) => (l?.protocol === 'tcp' ? { address: l.address, port: l.port, tls: l.tls.mode, backend: l.backend } : l);
  assert.deepEqual(tcp(listener('outbound|16379')), { address: '127.0.0.1', port: 16379, tls: 'DISABLE', backend: 'outbound|6379||redis.data.svc.cluster.local' });
  assert.deepEqual(tcp(listener('outbound|16000')), { address: '127.0.0.1', port: 16000, tls: 'DISABLE', backend: 'outbound|6379||nosuch.shop.svc.cluster.local' });
  assert.deepEqual(config.backends.find((b) => b.name === 'outbound|6379||nosuch.shop.svc.cluster.local')?.endpoints, []);
  assert.equal(listener('outbound|18080')?.protocol, 'http');
  const routes = config.routes.filter((x) => x.parentRefs.includes('outbound|18080'));
  assert.deepEqual(
    routes.map((x) => ({ hostnames: x.hostnames, to: x.rules.map((rule) => rule.backendRefs.map((b) => b.name)) })),
    [{ hostnames: [], to: [['outbound|8080||web.shop.svc.cluster.local']] }],
  );
  assert.deepEqual(
    config.listeners.map((l) => l.name).filter((n) => n.startsWith('outbound|')).sort(),
    ['outbound|16000', 'outbound|16001', 'outbound|16379', 'outbound|18080'],
    'no listener where the proxy listens already',
  );
  assert.equal(logged.length, 6);
  assert.deepEqual(logged[0], ['warn', 'Workload spec.outbound entry not served as written', 'spec.outbound[2]: Service shop/nosuch does not exist; its listener on 127.0.0.1:16000 closes every connection until it does']);
});

test('on the outbound listener, each HTTP port of a Service is its own virtual host: the name alone goes to port 80 (or the only port), a name with a port to that port', () => {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(view));
  const rc = (unpack([...cache.snapshotFor(NODE)!.get(TYPE_URLS.RouteConfiguration)!].find(([n]) => n === 'outbound')![1].any) as { value: Pb }).value;
  const web = (rc.virtual_hosts as Pb[]).filter((v) => String(v.name).startsWith('web.'));
  assert.deepEqual(
    web.map((v) => [v.name, v.domains.filter((d: string) => d.startsWith('web.shop.svc.cluster.local'))]),
    [
      ['web.shop.svc.cluster.local:80', ['web.shop.svc.cluster.local', 'web.shop.svc.cluster.local:80']],
      ['web.shop.svc.cluster.local:8080', ['web.shop.svc.cluster.local:8080']],
    ],
  );
});

test("a proxy's admin port is read from its sluice.dev/admin metadata; an address without a port is no error", () => {
  const node = (admin: string) => nodeContextOf({ id: 'caller-1.shop', metadata: { fields: { 'sluice.dev/proxy': { stringValue: 'sluice-proxy' }, 'sluice.dev/admin': { stringValue: admin } } } });
  assert.equal((node('127.0.0.1:17001') as { adminPort?: number }).adminPort, 17001);
  assert.equal((node('[::1]:15000') as { adminPort?: number }).adminPort, 15000);
  const none = node('localhost');
  assert.equal(typeof none, 'object');
  assert.equal((none as { adminPort?: number }).adminPort, undefined);
});

test('a Service port is TCP when its appProtocol is not HTTP, HTTP/2 or gRPC, or, without one, when its name says so (Istio prefixes)', () => {
  const ports = [
    { name: 'a', port: 1, appProtocol: 'tcp' },
    { name: 'b', port: 2, appProtocol: 'redis' },
    { name: 'c', port: 3, appProtocol: 'kubernetes.io/wss' },
    { name: 'd', port: 4, appProtocol: 'HTTP' },
    { name: 'e', port: 5, appProtocol: 'kubernetes.io/ws' },
    { name: 'f', port: 6, appProtocol: 'kubernetes.io/h2c' },
    { name: 'g', port: 7, appProtocol: 'grpc' },
    { name: 'http-web', port: 8 },
    { name: 'redis', port: 9 },
    { name: 'mysql-main', port: 10 },
    { name: 'tls-db', port: 11 },
    { name: 'grpc-api', port: 12 },
    { name: 'web', port: 13 },
  ];
  const v = buildMeshView({ revision: 1, meshes: [], services: [{ apiVersion: 'v1', kind: 'Service', metadata: meta('many'), spec: { selector: { app: 'x' }, ports } }] as never, workloads: [], httpRoutes: [], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
  assert.deepEqual(
    v.services.get('shop/many')!.ports.map((p) => `${p.name}:${p.protocol}`),
    ['a:tcp', 'b:tcp', 'c:tcp', 'd:http', 'e:http', 'f:http2', 'g:grpc', 'http-web:http', 'redis:tcp', 'mysql-main:tcp', 'tls-db:tcp', 'grpc-api:grpc', 'web:http'],
  );
});
