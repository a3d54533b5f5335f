// Istio's standard metrics from a proxy run from a static file: the labels it can fill
// without a control plane, on an outbound HTTP listener, an inbound one (a listener named
// inbound...), and an opaque TCP listener (bytes and connections, counted at close).

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { clusterService, peerMetadata, serviceHost, serviceParts } from '../../../proxy/telemetry/mesh-metrics.ts';

/** Each series of `name` as its labels and value. */
async function series(statsPort: number, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus`)).text();
  const out = [];
  for (const m of text.matchAll(new RegExp(`^${name}\\{(.*)\\} (\\S+)$`, 'gm'))) {
    out.push({ labels: Object.fromEntries([...m[1].matchAll(/(\w+)="((?:\\.|[^"\\])*)"/g)].map((x) => [x[1], x[2]])), value: Number(m[2]) });
  }
  return out;
}

describe('mesh metrics from a static file', () => {
  let web: Upstream;
  let echo: net.Server;
  let proxy: ProxyProcess;

  before(async () => {
    web = await startUpstream('web', (req, res) => res.writeHead(req.url === '/missing' ? 404 : 200).end('hello'));
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as net.AddressInfo).port;
    proxy = await startProxy(`
node: { zone: z1 }
listeners:
  - { name: out, address: 127.0.0.1, port: 0, protocol: http }
  - { name: inbound-web, address: 127.0.0.1, port: 0, protocol: http }
  - { name: opaque, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo }
routes:
  - { name: r, rules: [{ backendRefs: [{ name: web }] }] }
backends:
  - { name: web, endpoints: [{ address: 127.0.0.1, port: ${web.port}, zone: z2 }] }
  - { name: echo, endpoints: [{ address: 127.0.0.1, port: ${echoPort} }] }
`, [], { readyTimeoutMs: 30_000 });
  });

  after(async () => {
    await proxy?.stop();
    await web?.close();
    echo?.close();
  });

  test('an outbound HTTP listener reports as the source: the backend as destination_service, the endpoint zone as destination_cluster, codes apart', async () => {
    for (const path of ['/', '/', '/missing']) assert.ok((await fetch(`http://127.0.0.1:${proxy.ports.out}${path}`)).ok || path === '/missing');
    const rows = (await series(proxy.statsPort, 'sluice_requests_total')).filter((s) => s.labels.reporter === 'source');
    assert.deepEqual(rows.map((r) => [r.labels.response_code, r.value]).sort(), [['200', 2], ['404', 1]]);
    const { response_code, ...labels } = rows[0].labels;
    assert.deepEqual(labels, {
      reporter: 'source',
      source_workload: 'unknown',
      source_workload_namespace: 'unknown',
      source_principal: 'unknown',
      source_cluster: 'z1',
      destination_workload: 'unknown',
      destination_workload_namespace: 'unknown',
      destination_principal: 'unknown',
      destination_service: 'web',
      destination_service_name: 'web',
      destination_service_namespace: 'unknown',
      destination_cluster: 'z2',
      request_protocol: 'http',
      connection_security_policy: 'none',
      response_flags: '-',
    });
    const sizes = (await series(proxy.statsPort, 'sluice_response_bytes_count')).filter((s) => s.labels.reporter === 'source');
    assert.equal(sizes.reduce((n, s) => n + s.value, 0), 3);
  });

  test('an inbound listener reports as the destination, its service from the Host the caller sent; a plaintext caller is not believed about itself', async () => {
    const status = await new Promise<number>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: proxy.ports['inbound-web'], path: '/', headers: { host: 'Web.Shop.svc.cluster.local:8080', 'x-sluice-peer': 'workload=claimed;zone=claimed' } }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject),
    );
    assert.equal(status, 200);
    const rows = (await series(proxy.statsPort, 'sluice_requests_total')).filter((s) => s.labels.reporter === 'destination');
    assert.deepEqual(
      rows.map((r) => [r.labels.destination_service, r.labels.destination_service_name, r.labels.destination_service_namespace, r.labels.destination_cluster, r.labels.connection_security_policy, r.labels.source_workload, r.labels.source_cluster, r.value]),
      [['web.shop.svc.cluster.local', 'web', 'shop', 'z1', 'none', 'unknown', 'unknown', 1]],
    );
    assert.equal(web.seen.at(-1)!.headers['x-sluice-peer'], undefined, 'the claim is not passed on');
  });

  test('a TCP listener counts each connection opened and closed, and its bytes, as tcp', async () => {
    const sock = net.connect(proxy.ports.opaque, '127.0.0.1');
    sock.write('ping!');
    await new Promise((r) => sock.once('data', r));
    sock.end();
    await new Promise((r) => sock.once('close', r));
    // The proxy counts the connection when its side closes, a moment after the client's.
    let closed = await series(proxy.statsPort, 'sluice_tcp_connections_closed_total');
    for (let tries = 0; closed.length === 0; tries++) {
      assert.ok(tries < 100, 'the closed connection was never counted');
      await new Promise((r) => setTimeout(r, 50));
      closed = await series(proxy.statsPort, 'sluice_tcp_connections_closed_total');
    }
    const labels = closed[0].labels;
    assert.deepEqual([labels.reporter, labels.destination_service, labels.request_protocol, labels.response_flags], ['source', 'echo', 'tcp', '-']);
    const value = async (name: string) => (await series(proxy.statsPort, name)).reduce((n, s) => n + s.value, 0);
    assert.deepEqual([await value('sluice_tcp_connections_opened_total'), await value('sluice_tcp_connections_closed_total'), await value('sluice_tcp_received_bytes_total'), await value('sluice_tcp_sent_bytes_total')], [1, 1, 5, 5]);
  });
});

describe('mesh metric label values', () => {
  test("Istio's cluster names give their host; a bare Host is a Service of the proxy's namespace", () => {
    assert.equal(clusterService('outbound|80||api.default.svc.cluster.local'), 'api.default.svc.cluster.local');
    assert.equal(clusterService('web'), 'web');
    assert.equal(serviceHost('API:80', 'shop'), 'api.shop.svc.cluster.local');
    assert.equal(serviceHost('[::1]:80', 'shop'), '[::1]');
    assert.equal(serviceHost('10.0.0.1', 'unknown'), '10.0.0.1');
    assert.deepEqual(serviceParts('api.shop.svc.cluster.local'), ['api', 'shop']);
    assert.deepEqual(serviceParts('example.com'), ['example.com', 'unknown']);
  });

  test("a peer proxy's x-sluice-peer gives its workload and zone; anything that is not a plain name is unknown", () => {
    assert.deepEqual(peerMetadata('workload=caller-1;zone=dc-1'), { workload: 'caller-1', zone: 'dc-1' });
    assert.deepEqual(peerMetadata('zone=dc-1'), { workload: 'unknown', zone: 'dc-1' });
    assert.deepEqual(peerMetadata('workload=a b;zone="x";other=1'), { workload: 'unknown', zone: 'unknown' });
    assert.deepEqual(peerMetadata(''), { workload: 'unknown', zone: 'unknown' });
  });
});
