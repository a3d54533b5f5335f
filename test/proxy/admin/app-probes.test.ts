// A pod's probes rewritten by the injector, then answered through a real sluice-proxy's
// stats port from a real app: the kubelet's part is played by plain GETs of the rewritten
// probes' paths, as the kubelet sends them. The app serves HTTP (one probe needs the
// probe's own header) and gRPC health; what the proxy answers follows the app's state.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { injectConfig, mutate, parseAdmissionReview } from '../../../control-plane/inject/index.ts';
import { applyJsonPatch } from '../../helpers/json-patch.ts';
import { issue, newCa } from '../../helpers/mesh-pki.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';

const state = { ready: true, serving: true };
let app: http.Server;
let grpcApp: grpc.Server;
let proxy: ProxyProcess;
let pod: V1Pod;

/** The app's HTTP side: /livez answers only the kubelet's header, /ready follows state.ready. */
function startApp(): Promise<number> {
  app = http.createServer((req, res) => {
    if (req.url === '/livez') res.writeHead(req.headers['x-probe'] === 'kubelet' ? 204 : 401).end();
    else if (req.url === '/ready') res.writeHead(state.ready ? 200 : 503).end(state.ready ? 'ok' : 'warming up');
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => app.listen(0, '127.0.0.1', () => resolve((app.address() as AddressInfo).port)));
}

/** grpc.health.v1.Health/Check on grpc-js, the messages as bytes: HealthCheckResponse{status: SERVING=1 | NOT_SERVING=2}. */
function startGrpcApp(): Promise<number> {
  grpcApp = new grpc.Server();
  const bytes = (b: Buffer) => b;
  const definition = { Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } };
  grpcApp.addService(definition as unknown as grpc.ServiceDefinition, {
    Check: (_call: unknown, cb: (err: null, res: Buffer) => void) => cb(null, Buffer.from([0x08, state.serving ? 1 : 2])),
  });
  return new Promise((resolve, reject) => grpcApp.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

before(async () => {
  const httpPort = await startApp();
  const grpcPort = await startGrpcApp();
  // The pod as the API server sends it, its ports the ones the app really listens on.
  const text = readFileSync(new URL('../../control-plane/inject/testdata/review-deployment-pod.json', import.meta.url), 'utf8').replaceAll('8080', String(httpPort)).replaceAll('9090', String(grpcPort));
  const review = parseAdmissionReview(JSON.parse(text));
  assert.ok(review.ok);
  const m = mutate(review.value, { 'sluice.dev/inject': 'enabled' }, injectConfig({ image: 'sluice/proxy:test', service: 'sluice-cp', namespace: 'sluice-system', sidecarMode: 'native' }));
  pod = applyJsonPatch(review.value.pod, m.patch);
  const sidecar = pod.spec!.initContainers!.find((c) => c.name === 'sluice-proxy')!;
  const env = Object.fromEntries(sidecar.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  proxy = await startProxy(singleBackendConfig(httpPort), [], { env });
});
after(async () => {
  await proxy?.stop();
  app.close();
  grpcApp.forceShutdown();
});

const container = (name: string): V1Container => pod.spec!.containers.find((c) => c.name === name)!;

/** What the kubelet would do with the rewritten probe: GET its path on the pod's :15020 (here the proxy's stats port). */
async function kubelet(probe: V1Probe | undefined): Promise<number> {
  assert.equal(probe?.httpGet?.port, 15020, 'the probe goes to the proxy');
  const res = await fetch(`http://127.0.0.1:${proxy.statsPort}${probe!.httpGet!.path}`, { headers: { 'user-agent': 'kube-probe/1.31' } });
  await res.arrayBuffer();
  return res.status;
}

test("an httpGet probe is forwarded with the probe's own headers to the app's named port", async () => {
  assert.equal(await kubelet(container('web').livenessProbe), 200);
});

test("an httpGet probe answers the app's failure, and success again once the app recovers", async () => {
  assert.equal(await kubelet(container('web').readinessProbe), 200);
  state.ready = false;
  try {
    assert.equal(await kubelet(container('web').readinessProbe), 503);
  } finally {
    state.ready = true;
  }
  assert.equal(await kubelet(container('web').readinessProbe), 200);
});

test('a grpc probe asks grpc.health.v1 and answers 200 only when SERVING', async () => {
  assert.equal(await kubelet(container('worker').readinessProbe), 200);
  state.serving = false;
  try {
    assert.equal(await kubelet(container('worker').readinessProbe), 503);
  } finally {
    state.serving = true;
  }
});

test('a tcpSocket probe passes while the app accepts connections', async () => {
  assert.equal(await kubelet(container('web').startupProbe), 200);
});

test('a path the injector did not write is 404, and app-health is only on the stats port', async () => {
  const unknown = await fetch(`http://127.0.0.1:${proxy.statsPort}/app-health/nope/livez`);
  assert.equal(unknown.status, 404);
  await unknown.arrayBuffer();
  const admin = await fetch(`http://127.0.0.1:${proxy.adminPort}/app-health/web/livez`);
  assert.equal(admin.status, 404);
  await admin.arrayBuffer();
});

test('a bad SLUICE_APP_PROBES stops the proxy at start with the field named', async () => {
  const bad = await startProxy(singleBackendConfig(1), [], { expectFailure: true, env: { SLUICE_APP_PROBES: '{"/app-health/web/livez":{"httpGet":{"path":"/x","port":"http"}}}' } });
  try {
    // A proxy that started anyway would never exit: the log line is waited for, not the exit.
    await bad.waitForLog(/SLUICE_APP_PROBES\["\/app-health\/web\/livez"\]\.httpGet\.port: must be a port number/, 30_000);
    assert.notEqual(await bad.exited, 0);
  } finally {
    await bad.stop('SIGKILL');
  }
});

test('an HTTPS probe is asked over TLS without checking the certificate, and an app that never answers is 503 after the probe timeout', async () => {
  const ca = newCa();
  const tlsApp = https.createServer(issue(ca, 'spiffe://mesh.example/app'), (req, res) => res.writeHead(req.url === '/tls-ready' ? 200 : 404).end());
  const silent = net.createServer(() => undefined);
  await Promise.all([tlsApp, silent].map((srv) => new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))));
  const port = (srv: net.Server) => (srv.address() as AddressInfo).port;
  const probes = {
    '/app-health/tls/readyz': { httpGet: { path: '/tls-ready', port: port(tlsApp), scheme: 'HTTPS' }, timeoutSeconds: 5 },
    '/app-health/silent/livez': { httpGet: { path: '/', port: port(silent) }, timeoutSeconds: 1 },
  };
  const p = await startProxy(singleBackendConfig(1), [], { env: { SLUICE_APP_PROBES: JSON.stringify(probes) } });
  try {
    const ask = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${p.statsPort}${path}`);
      return { status: res.status, body: await res.text() };
    };
    assert.equal((await ask('/app-health/tls/readyz')).status, 200);
    const slow = await ask('/app-health/silent/livez');
    assert.equal(slow.status, 503);
    assert.match(slow.body, /did not answer within 1000 ms/);
  } finally {
    await p.stop();
    tlsApp.close();
    silent.close();
  }
});

test('with the app gone, every probe answers 503', async () => {
  await new Promise<void>((resolve) => app.close(() => resolve()));
  grpcApp.forceShutdown();
  assert.equal(await kubelet(container('web').livenessProbe), 503);
  assert.equal(await kubelet(container('web').startupProbe), 503);
  assert.equal(await kubelet(container('worker').readinessProbe), 503);
});
