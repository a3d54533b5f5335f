// The Mesh's spec.tracing over xDS (control-plane/xds/policies/tracing/): every proxy's
// inbound and outbound HttpConnectionManager gets Envoy's `tracing` (provider
// envoy.tracers.opentelemetry, random_sampling), the outbound listener says OUTBOUND, a
// proxyless client's listener gets none; the proxy's translator reads back what the Mesh
// said, and NACKs, with the field path, what it does not carry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { validateResource } from '../../../control-plane/api/validate.ts';
import { buildMeshView, SnapshotCache } from '../../../control-plane/xds/index.ts';
import { serviceListeners } from '../../../control-plane/xds/generate/resources.ts';
import { envoyTracing } from '../../../control-plane/xds/policies/tracing/generate.ts';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type Pb } from '../../../proxy/xds/translate.ts';
import { EMBEDDED_TYPE_URLS, pack, TYPE_URLS, unpack } from '../../../xds/index.ts';
import { ROOT_PEM } from '../../proxy/xds/resources.ts';

const NS = 'shop';
const meta = (name: string) => ({ name, namespace: NS, creationTimestamp: '2025-01-01T00:00:00Z' });
const PROXY = { kind: 'proxy', id: 'web-1.shop', workload: 'web-1', namespace: NS, outboundPort: 15001, appPorts: {} } as const;
const services: Resource[] = [{ apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] } }];
const workloads: Resource[] = [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { ...meta('web-1'), labels: { app: 'web' } }, spec: { address: '10.0.0.1', ports: { http: 8080 }, serviceAccount: 'web' } }];
const TRACING = { samplingPercent: 2.5, serviceName: 'shop-mesh', otlp: { protocol: 'grpc', endpoint: 'http://collector.observability:4317', headers: { 'x-scope-orgid': 'shop' } } };
const mesh = (tracing?: object): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default', creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { trustDomain: 'cluster.local', ...(tracing === undefined ? {} : { tracing }) } });
const viewOf = (m: Resource) => buildMeshView({ revision: 1, meshes: [m as never], services: services as never, workloads: workloads as never, httpRoutes: [], grpcRoutes: [], trustBundle: ROOT_PEM, defaultTrustDomain: 'cluster.local' });

type Decoded = { listeners: Map<string, Pb>; routes: Map<string, Pb>; clusters: Map<string, Pb>; endpoints: Map<string, Pb>; secrets: Map<string, Pb> };
function resources(m: Resource): Decoded {
  const cache = new SnapshotCache(() => {});
  assert.ok(cache.setView(viewOf(m)));
  const snap = cache.snapshotFor(PROXY)!;
  const decoded = (t: string) => new Map([...snap.get(t as never)!].map(([name, e]) => [name, (unpack(e.any) as { value: Pb }).value]));
  return { listeners: decoded(TYPE_URLS.Listener), routes: decoded(TYPE_URLS.RouteConfiguration), clusters: decoded(TYPE_URLS.Cluster), endpoints: decoded(TYPE_URLS.ClusterLoadAssignment), secrets: decoded(TYPE_URLS.Secret) };
}
const hcmOf = (l: Pb): Pb => (unpack(l.filter_chains[0].filters[0].typed_config) as { value: Pb }).value;
function configOf(r: Decoded): ProxyConfig {
  const t = translate(r, { identity: { cert: 'c', key: 'k', bundle: 'b' } });
  if (!t.ok) assert.fail(t.error.map(formatProblem).join('\n'));
  return t.value.config;
}

test('every HttpConnectionManager of a proxy traces as the Mesh says; the outbound listener is OUTBOUND; a proxyless listener does not trace', () => {
  const r = resources(mesh(TRACING));
  const names = [...r.listeners.keys()].sort();
  assert.deepEqual(names, ['inbound|8080', 'outbound']);
  for (const name of names) {
    const t = hcmOf(r.listeners.get(name)!).tracing;
    assert.equal(t.random_sampling.value, 2.5, name);
    assert.equal(t.provider.name, 'envoy.tracers.opentelemetry', name);
    const otel = (unpack(t.provider.typed_config) as { value: Pb }).value;
    assert.deepEqual(otel.grpc_service.google_grpc, { target_uri: 'collector.observability:4317', stat_prefix: 'otlp' });
    assert.deepEqual(otel.grpc_service.initial_metadata, [{ key: 'x-scope-orgid', value: 'shop' }]);
    assert.equal(otel.service_name, 'shop-mesh');
  }
  assert.equal(r.listeners.get('outbound')!.traffic_direction, 'OUTBOUND');
  for (const l of serviceListeners(viewOf(mesh(TRACING)))) assert.equal((unpack((l.api_listener as Pb).api_listener) as { value: Pb }).value.tracing, undefined, String(l.name));
});

test('the proxy reads back the Mesh\'s tracing; a Mesh without it gives none', () => {
  const config = configOf(resources(mesh(TRACING)));
  assert.deepEqual(config.tracing, { samplingPercent: 2.5, serviceName: 'shop-mesh', exporter: { protocol: 'grpc', endpoint: 'http://collector.observability:4317', headers: { 'x-scope-orgid': 'shop' } } });
  assert.deepEqual(config.listeners.map((l) => [l.name, l.direction ?? null, l.protocol === 'http' ? (l.traced ?? true) : null]), [['inbound|8080', null, true], ['outbound', 'OUTBOUND', true]]);
  const http = configOf(resources(mesh({ otlp: { protocol: 'http/protobuf', endpoint: 'https://otel.example:4318/v1/traces' } })));
  assert.deepEqual(http.tracing, { samplingPercent: 100, serviceName: 'sluice-proxy', exporter: { protocol: 'http/protobuf', endpoint: 'https://otel.example:4318/v1/traces', headers: {} } });
  assert.equal(configOf(resources(mesh())).tracing, undefined);
});

test('what a Sluice proxy does not carry is a NACK naming the field: envoy_grpc, another tracer, two HttpConnectionManagers that disagree', () => {
  const problems = (edit: (r: Decoded) => void) => {
    const r = resources(mesh(TRACING));
    edit(r);
    const t = translate(r, { identity: { cert: 'c', key: 'k', bundle: 'b' } });
    assert.equal(t.ok, false);
    return t.ok ? '' : t.error.map(formatProblem).join('\n');
  };
  const withTracing = (r: Decoded, name: string, tracing: object) => {
    const l = r.listeners.get(name)!;
    const hcm = { ...hcmOf(l), tracing };
    l.filter_chains[0].filters[0].typed_config = pack(EMBEDDED_TYPE_URLS.HttpConnectionManager, hcm);
  };
  const otel = (config: Record<string, unknown>) => ({ random_sampling: { value: 10 }, provider: { name: 'envoy.tracers.opentelemetry', typed_config: pack(EMBEDDED_TYPE_URLS.OpenTelemetryConfig, config) } });
  assert.match(problems((r) => withTracing(r, 'outbound', otel({ grpc_service: { envoy_grpc: { cluster_name: 'otel' } } }))), /Listener outbound: filter_chains\[0\]\.filters\[0\]\.typed_config\.tracing\.provider\.typed_config\.grpc_service\.envoy_grpc: field not supported/);
  assert.match(problems((r) => withTracing(r, 'outbound', { provider: { name: 'envoy.tracers.zipkin' } })), /tracing\.provider\.name: unknown tracer 'envoy\.tracers\.zipkin'/);
  assert.match(problems((r) => withTracing(r, 'outbound', envoyTracing({ otlp: { protocol: 'grpc', endpoint: 'http://other:4317' } }))), /Listener outbound: .*tracing: differs from Listener inbound\|8080's/);
  assert.match(problems((r) => withTracing(r, 'outbound', otel({ http_service: { http_uri: { uri: 'ftp://x/v1/traces', cluster: 'x' } } }))), /tracing\.provider\.typed_config\.http_service\.http_uri\.uri: 'ftp:\/\/x\/v1\/traces': the scheme must be http or https/);
});

test('a Mesh whose tracing cannot work is refused at apply, with the field path', () => {
  const refused = (tracing: object) => {
    const r = validateResource(mesh(tracing));
    assert.equal(r.ok, false);
    return r.ok ? [] : r.violations.map((v) => `${v.path}: ${v.message}`);
  };
  assert.match(refused({ samplingPercent: 101, otlp: { protocol: 'grpc', endpoint: 'http://c:4317' } }).join('\n'), /^spec\.tracing\.samplingPercent: /m);
  assert.match(refused({ otlp: { protocol: 'grpc', endpoint: 'http://collector:4317/v1/traces' } }).join('\n'), /^spec\.tracing\.otlp\.endpoint: .*no path/m);
  assert.match(refused({ otlp: { protocol: 'grpc', endpoint: 'http://collector' } }).join('\n'), /^spec\.tracing\.otlp\.endpoint: .*name the port/m);
  assert.match(refused({ otlp: { protocol: 'http/protobuf', endpoint: 'http://u:p@otel/v1/traces' } }).join('\n'), /^spec\.tracing\.otlp\.endpoint: .*credentials/m);
  assert.match(refused({ otlp: { protocol: 'http/protobuf', endpoint: 'http://otel/v1/traces', headers: { 'Bad Header': 'x' } } }).join('\n'), /^spec\.tracing\.otlp\.headers/m);
  assert.equal(validateResource(mesh(TRACING)).ok, true);
});
