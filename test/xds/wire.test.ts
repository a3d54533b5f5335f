// The shared wire: Envoy's protos loaded from @grpc/grpc-js-xds (none copied here), Any
// packing both ways for every resource type Sluice serves, and a real ADS stream over
// @grpc/grpc-js carrying a packed resource and its ACK.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { adsPackageDefinition, EMBEDDED_TYPE_URLS, pack, TYPE_URLS, unpack } from '../../xds/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const cluster = {
  name: 'outbound|80||orders.shop.svc.cluster.local',
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  connect_timeout: { seconds: '5', nanos: 0 },
  lb_policy: 'LEAST_REQUEST',
};
const assignment = {
  cluster_name: cluster.name,
  endpoints: [{ locality: { zone: 'dc-1' }, load_balancing_weight: { value: 1 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.3.7', port_value: 8080 } } } }] }],
};
const routeConfig = {
  name: 'orders.shop.svc.cluster.local:80',
  virtual_hosts: [{ name: 'orders', domains: ['*'], routes: [{ match: { prefix: '' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 90 } }, { name: 'b', weight: { value: 10 } }] } } }] }],
};
const listener = {
  name: 'orders.shop.svc.cluster.local:80',
  api_listener: { api_listener: pack(EMBEDDED_TYPE_URLS.HttpConnectionManager, { stat_prefix: 'orders', rds: { route_config_name: routeConfig.name, config_source: { ads: {} } }, http_filters: [{ name: 'router', typed_config: pack(EMBEDDED_TYPE_URLS.Router, {}) }] }) },
};
const secret = { name: 'default', tls_certificate: { certificate_chain: { inline_string: '-----BEGIN CERTIFICATE-----\n...' }, private_key: { inline_string: 'key' } } };

describe('Any packing', () => {
  for (const [name, typeUrl, message] of [
    ['Cluster', TYPE_URLS.Cluster, cluster],
    ['ClusterLoadAssignment', TYPE_URLS.ClusterLoadAssignment, assignment],
    ['RouteConfiguration', TYPE_URLS.RouteConfiguration, routeConfig],
    ['Secret', TYPE_URLS.Secret, secret],
  ] as const) {
    test(`${name} round-trips through its Any`, () => {
      const any = pack(typeUrl, message);
      assert.equal(any.type_url, typeUrl);
      assert.ok(any.value.length > 0);
      const back = unpack(any);
      assert.ok(back.ok, back.ok ? '' : back.error);
      assert.deepEqual(back.value, message);
    });
  }

  test('a Listener carries its HttpConnectionManager as an Any that unpacks in turn', () => {
    const back = unpack<typeof listener>(pack(TYPE_URLS.Listener, listener));
    assert.ok(back.ok);
    const hcm = unpack<{ rds: { route_config_name: string }; http_filters: { name: string }[] }>(back.value.api_listener.api_listener);
    assert.ok(hcm.ok, hcm.ok ? '' : hcm.error);
    assert.equal(hcm.value.rds.route_config_name, routeConfig.name);
    assert.equal(hcm.value.http_filters[0].name, 'router');
  });

  test('an unknown type or bytes that do not decode are an error value, never a guess', () => {
    const unknown = unpack({ type_url: 'type.googleapis.com/envoy.config.nothing.v3.Nothing', value: Buffer.alloc(0) });
    assert.deepEqual(unknown, { ok: false, error: "unknown resource type 'type.googleapis.com/envoy.config.nothing.v3.Nothing'" });
    const broken = unpack({ type_url: TYPE_URLS.Cluster, value: Buffer.from([0x0a, 0xff]) });
    assert.equal(broken.ok, false);
    assert.match(broken.ok ? '' : broken.error, /Cluster does not decode/);
    assert.throws(() => pack('type.googleapis.com/no.Such', {}), /not a type of the loaded Envoy protos/);
  });
});

describe('an ADS stream over @grpc/grpc-js', () => {
  const proto = grpc.loadPackageDefinition(adsPackageDefinition()) as any;
  const service = proto.envoy.service.discovery.v3.AggregatedDiscoveryService;
  const server = new grpc.Server();
  const seen: any[] = [];
  let port = 0;

  before(async () => {
    server.addService(service.service, {
      StreamAggregatedResources(call: grpc.ServerDuplexStream<any, any>) {
        call.on('data', (req: any) => {
          seen.push(req);
          if (req.response_nonce === undefined || req.response_nonce === '') {
            call.write({ version_info: 'v1', type_url: req.type_url, nonce: 'n1', resources: [pack(TYPE_URLS.Cluster, cluster)] });
          }
        });
        call.on('end', () => call.end());
      },
    });
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  });
  after(() => server.forceShutdown());

  test('a subscription gets the packed Cluster, and the ACK echoes version and nonce', async () => {
    const client = new service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client.StreamAggregatedResources();
    const response = await new Promise<any>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
      call.write({ node: { id: 'sidecar~10.0.3.7~orders-1.shop~shop.svc.cluster.local' }, type_url: TYPE_URLS.Cluster, resource_names: [] });
    });
    assert.equal(response.type_url, TYPE_URLS.Cluster);
    assert.equal(response.nonce, 'n1');
    const back = unpack(response.resources[0]);
    assert.ok(back.ok);
    assert.deepEqual(back.value, cluster);
    call.write({ type_url: TYPE_URLS.Cluster, version_info: response.version_info, response_nonce: response.nonce });
    await new Promise((resolve) => setTimeout(resolve, 100));
    call.end();
    client.close();
    assert.equal(seen.length, 2);
    assert.equal(seen[0].node.id, 'sidecar~10.0.3.7~orders-1.shop~shop.svc.cluster.local');
    assert.deepEqual([seen[1].version_info, seen[1].response_nonce], ['v1', 'n1']);
  });
});

test('no Envoy .proto file is committed: they load from @grpc/grpc-js-xds', () => {
  // The one exception: the OTLP protos the tracing tests' receiver decodes (test/fixtures/otlp/README.md).
  const protos = execFileSync('git', ['ls-files', '*.proto'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((p) => p !== '' && !p.startsWith('test/fixtures/otlp/'));
  assert.deepEqual(protos, []);
});
