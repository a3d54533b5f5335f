// A Service port that declares no protocol (no appProtocol, no known name prefix) is HTTP,
// and where a proxy can tell, a connection that is not HTTP goes on as TCP instead of being
// closed (Istio's protocol detection): its inbound listener in every mTLS mode, and its
// captured listener. What the control plane sends, what a Sluice proxy reads back, and the
// chain shapes it refuses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import type { NodeContext } from '../../../control-plane/xds/generate/resources.ts';
import type { HttpListener } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { TYPE_URLS, unpack } from '../../../xds/index.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const meta = (name: string, namespace = 'shop') => ({ name, namespace, creationTimestamp: '2025-01-01T00:00:00Z' });
const services: Resource[] = [
  // Port 80 has no name and no appProtocol: sniffed. Port 8443 is declared http: HTTP only.
  { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'plain', port: 80, targetPort: 8080 }, { name: 'http-api', port: 8443, targetPort: 9443 }] } },
];
const workloads: Resource[] = [
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('web-1'), labels: { app: 'web' } }, spec: { address: '10.0.0.2', serviceAccount: 'web' } },
];
const policies: Resource[] = [
  {
    apiVersion: 'security.sluice.dev/v1alpha1',
    kind: 'AuthorizationPolicy',
    metadata: meta('web-readers'),
    spec: { targetRefs: [{ kind: 'Service', name: 'web' }], rules: [{ from: [{ identities: ['spiffe://cluster.local/ns/shop/sa/client'] }] }, { to: [{ paths: [{ value: '/public' }] }] }] },
  },
];
const mesh = (mode: string): Resource[] => [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'cluster.local', mtls: { mode } } }];
const viewOf = (mode: string) =>
  buildMeshView({ revision: 1, meshes: mesh(mode) as never, services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], authorizationPolicies: policies as never, trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });
const node = (capture: boolean): Extract<NodeContext, { kind: 'proxy' }> => ({
  kind: 'proxy',
  id: 'web-1.shop',
  workload: 'web-1',
  namespace: 'shop',
  outboundPort: 15001,
  appPorts: {},
  ...(capture ? { capture: { inboundPort: 15006, strictEgress: false } } : {}),
});

function snapshot(mode: string, capture: boolean) {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(viewOf(mode)));
  const snap = cache.snapshotFor(node(capture))!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  return { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) };
}

const IDENTITY = { identity: { cert: 'c', key: 'k', bundle: 'b' } };

function read(r: ReturnType<typeof snapshot>) {
  const t = translate(r, IDENTITY);
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  return (name: string) => t.value.config.listeners.find((x) => x.name === name) as HttpListener;
}

for (const mode of ['STRICT', 'PERMISSIVE', 'DISABLE']) {
  test(`${mode}: the inbound listener of a port that declares no protocol has a tcp_proxy to the app beside its HTTP chains, with its policies' connection form; a declared HTTP port has none`, () => {
    const r = snapshot(mode, false);
    const chains = r.listeners.get('inbound|8080')!.filter_chains as Pb[];
    const kinds = chains.map((c) => (c.filters as Pb[]).at(-1)!.name.replace('envoy.filters.network.', ''));
    const count = mode === 'PERMISSIVE' ? 2 : 1;
    assert.deepEqual(kinds, [...Array(count).fill('http_connection_manager'), ...Array(count).fill('tcp_proxy')]);
    for (const c of chains.slice(0, count)) {
      assert.deepEqual(c.filter_chain_match.application_protocols, c.transport_socket === undefined ? ['http/1.1', 'h2c'] : ['h2', 'http/1.1']);
    }
    for (const c of chains.slice(count)) assert.equal(c.filter_chain_match?.application_protocols, undefined);
    assert.equal((r.listeners.get('inbound|8080')!.listener_filters ?? []).length, mode === 'STRICT' ? 0 : 1, 'http_inspector where a connection may be plaintext');
    assert.equal(r.listeners.get('inbound|9443')!.filter_chains.length, count, 'a port named http-api is HTTP only');

    const l = read(r);
    const inbound = l('inbound|8080');
    assert.equal(inbound.protocol, 'http');
    assert.equal(inbound.tls.mode, mode);
    assert.equal(inbound.tcpFallback?.backend, 'inbound|8080');
    // The ALLOW rule on a path is dropped for connections (nothing to read it from); the identity rule stays.
    assert.deepEqual(
      inbound.tcpFallback?.authorization.map((p) => ({ action: p.action, rules: p.rules.length })),
      [{ action: 'ALLOW', rules: 1 }],
    );
    assert.equal(inbound.authorization.length, 1, 'the HTTP chain keeps the whole policy');
    assert.equal(l('inbound|9443').tcpFallback, undefined);
  });
}

test('captured: the listener of a ClusterIP port that declares no protocol goes on as TCP to the same Service port when the bytes are not HTTP', () => {
  const r = snapshot('STRICT', true);
  const captured = r.listeners.get('10.96.0.10_80')!;
  assert.deepEqual(captured.listener_filters.map((f: Pb) => f.name), ['envoy.filters.listener.http_inspector']);
  assert.equal(captured.filter_chains.length, 2);
  assert.equal(r.listeners.get('10.96.0.10_8443')!.filter_chains.length, 1, 'a declared HTTP port closes what is not HTTP');
  const l = read(r);
  assert.deepEqual(l('10.96.0.10_80').tcpFallback, { backend: 'outbound|80||web.shop.svc.cluster.local', authorization: [] });
  assert.equal(l('10.96.0.10_80').httpOnly, undefined);
  assert.equal(l('10.96.0.10_8443').httpOnly, true);
  assert.equal(l('10.96.0.10_8443').tcpFallback, undefined);
  assert.equal(l('inbound|8080').tcpFallback?.backend, 'inbound|8080', 'and its inbound side, unbound in capture');
});

test('sniffed chain shapes a Sluice proxy cannot read the way Envoy does are NACKed with their paths', () => {
  const problems = (mutate: (chains: Pb[], l: Pb) => Pb) => {
    const r = snapshot('PERMISSIVE', false);
    const l = r.listeners.get('inbound|8080')!;
    r.listeners.set('inbound|8080', mutate(structuredClone(l.filter_chains), l));
    const t = translate(r, IDENTITY);
    assert.ok(!t.ok, 'NACK');
    return t.error.map(formatProblem);
  };
  const withoutMatch = ({ filter_chain_match: _, ...chain }: Pb) => chain;
  const has = (lines: string[], line: string) => assert.ok(lines.includes(line), lines.join('\n'));
  // An HTTP chain with no application_protocols beside a tcp_proxy chain would take every connection.
  has(
    problems((c, l) => ({ ...l, filter_chains: [{ ...c[0], filter_chain_match: { transport_protocol: 'tls' } }, ...c.slice(1)] })),
    'Listener inbound|8080: filter_chains[0].filter_chain_match.application_protocols: required on an HTTP chain beside a tcp_proxy chain: ["h2","http/1.1"], or every connection would match both',
  );
  // A tcp_proxy chain matching protocols.
  has(
    problems((c, l) => ({ ...l, filter_chains: [...c.slice(0, 3), { ...c[3], filter_chain_match: { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] } }] })),
    'Listener inbound|8080: filter_chains[3].filter_chain_match.application_protocols: only an HTTP chain matches application_protocols; a tcp_proxy chain takes what the HTTP chain does not',
  );
  // The HTTP chains PERMISSIVE, the tcp ones STRICT.
  has(
    problems((c, l) => ({ ...l, filter_chains: [c[0], c[1], withoutMatch(c[2])] })),
    'Listener inbound|8080: filter_chains: the HTTP chains [0,1] are PERMISSIVE and the tcp_proxy chains [2] STRICT: a port takes one mTLS mode whatever its protocol',
  );
  // The wrong ALPN under TLS.
  has(
    problems((c, l) => ({ ...l, filter_chains: [{ ...c[0], filter_chain_match: { transport_protocol: 'tls', application_protocols: ['h2c'] } }, ...c.slice(1)] })),
    'Listener inbound|8080: filter_chains[0].filter_chain_match.application_protocols: must be ["h2","http/1.1"] (the ALPN a Sluice proxy offers for HTTP); got ["h2c"]',
  );
  // Plaintext sniffing with no http_inspector.
  has(problems((c, l) => ({ ...l, filter_chains: c, listener_filters: [] })), 'Listener inbound|8080: filter_chains[1].filter_chain_match.application_protocols: is known only behind envoy.filters.listener.http_inspector (listener_filters)');
});
