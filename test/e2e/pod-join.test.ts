// Issue 17's acceptance, end to end: a Pod's JSON sent through sluice-cp's webhook comes back
// with the proxy, and that proxy, run as the patched pod says (its args and env; the
// downward API filled in from the pod), joins with its projected service-account token and
// serves mTLS to a VM agent's proxy of the same mesh. sluice-cp --store kubernetes runs
// against the fake API server, which holds a Service, its pod and the EndpointSlice naming it
// (the pod's address here is 127.0.0.1, its port the one the pod's proxy serves), and reviews
// the pod's token as the API server would (TokenReview, audience sluice-cp). Not here: the
// capture step (test/e2e/capture-netns.test.ts runs it in network namespaces), so the
// proxy runs without --capture, with --app naming its app's port.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { FakeKubeApi, type KubeObject } from '../helpers/fake-kube-api.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { applyJsonPatch, type PatchOp } from '../helpers/json-patch.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const fixture = (name: string): KubeObject => JSON.parse(readFileSync(new URL(`../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8')) as KubeObject;
const dir = mkdtempSync(join(tmpdir(), 'sluice-pod-join-'));
const POD = 'reviews-v1-6b8d4f7c9d-x2k4p';
const POD_TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InBvZCJ9.eyJhdWQiOlsic2x1aWNlLWNwIl0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpib29raW5mbzpib29raW5mby1yZXZpZXdzIn0.c2ln';
let api: FakeKubeApi;
let cp: ControlPlaneProcess;
let app: Upstream;
const proxies: ProxyProcess[] = [];

before(async () => {
  api = await FakeKubeApi.start();
  app = await startUpstream('reviews-v1 (pod)');
  const podPort = await closedPort();
  // The pod as the fixtures have it, but reachable here: the slice names 127.0.0.1 and the port its proxy serves on.
  const slice = fixture('endpointslice-reviews') as KubeObject & { endpoints: { addresses: string[] }[]; ports: { port: number }[] };
  slice.endpoints = [{ ...slice.endpoints[0], addresses: ['127.0.0.1'] }];
  slice.ports = slice.ports.map((p) => ({ ...p, port: podPort }));
  for (const f of ['namespace-bookinfo', 'node-worker-a', 'service-reviews', 'pod-reviews-v1']) api.put(fixture(f));
  api.put(slice);
  api.registerToken(POD_TOKEN, { namespace: 'bookinfo', serviceAccount: 'bookinfo-reviews', audiences: ['sluice-cp'], podName: POD, podUid: 'a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e21' });
  const kubeconfig = api.writeKubeconfig(dir);
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--store', 'kubernetes', '--kubeconfig', kubeconfig, '--webhook-addr', '127.0.0.1:0', '--data-dir', join(dir, 'cp'), '--trust-domain', 'pods.sluice.dev'], timeoutMs: 30_000 });
});

after(async () => {
  for (const p of proxies) await p.stop();
  await app?.close();
  await cp?.stop();
  await api?.close();
});

/** The pod's proxy as the injector runs it: its token file, the downward-API env and the roots sluice-cp injected. */
async function podProxy(token: string, extraEnv: Record<string, string> = {}, expectFailure = false): Promise<ProxyProcess> {
  const tokenFile = join(dir, `token-${proxies.length}`);
  writeFileSync(tokenFile, token);
  const env = { POD_NAME: POD, POD_NAMESPACE: 'bookinfo', SERVICE_ACCOUNT: 'bookinfo-reviews', SLUICE_CA_BUNDLE: readFileSync(join(dir, 'cp', 'ca', 'bundle.pem'), 'utf8'), ...extraEnv };
  const args = ['--control-plane', cp.xds, '--service-account-token', tokenFile, '--identity-dir', join(dir, `pod-identity-${proxies.length}`), '--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off', '--drain-timeout', '1s'];
  const p = await startProxy('', args, { env, readyTimeoutMs: 30_000, expectFailure });
  proxies.push(p);
  return p;
}

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/reviews/1', headers: { host }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

type Container = { name: string; args?: string[]; env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] };
type PodJson = KubeObject & { spec: { serviceAccountName: string; nodeName: string; initContainers?: Container[] } };

/** The pod as sluice-cp's webhook patches it (AdmissionReview v1 over HTTPS, as the API server sends it). */
async function injected(pod: PodJson): Promise<PodJson> {
  const url = /"msg":"webhook listening","url":"https:\/\/127\.0\.0\.1:(\d+)\/inject"/.exec(cp.stderr());
  assert.ok(url !== null, 'sluice-cp says where its webhook listens');
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'bookinfo', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object: pod, dryRun: false } };
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: Number(url[1]), method: 'POST', path: '/inject?timeout=10s', ca: readFileSync(join(dir, 'cp', 'ca', 'bundle.pem')), servername: 'sluice-cp.sluice-system.svc', headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`webhook: ${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(review));
  });
  const response = (JSON.parse(body) as { response: { allowed: boolean; patch?: string } }).response;
  assert.equal(response.allowed, true);
  assert.ok(response.patch !== undefined, 'the pod of a labelled namespace is injected');
  return applyJsonPatch(pod, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as PatchOp[]);
}

/** A call to the reviews Service through the proxy on `outbound`, again until it answers 200 (the proxies' config may still be on its way), 20 s at most. */
async function reviewsThrough(outbound: number): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 20_000;
  let r = { status: 0, body: '' };
  while (Date.now() < deadline) {
    r = await get(outbound, 'reviews.bookinfo.svc.cluster.local').catch((e: Error) => ({ status: 0, body: e.message }));
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  return r;
}

test("a pod injected by the webhook: its proxy, run as the patch says, joins with its service-account token and serves mTLS to a VM agent's proxy", async () => {
  const pod = await injected(fixture('pod-reviews-v1') as PodJson);
  const sidecar = pod.spec.initContainers!.find((c) => c.name === 'sluice-proxy')!;
  assert.ok(pod.spec.initContainers!.some((c) => c.name === 'sluice-init' && c.args?.[0] === 'capture'), 'and the capture step before it');
  // The kubelet's part: the token file, the downward API, the pod's own folders.
  const podTokenFile = join(dir, 'pod-token');
  writeFileSync(podTokenFile, POD_TOKEN);
  const fields: Record<string, string> = { 'metadata.name': POD, 'metadata.namespace': 'bookinfo', 'spec.serviceAccountName': pod.spec.serviceAccountName, 'spec.nodeName': pod.spec.nodeName, 'status.podIP': '127.0.0.1' };
  const podEnv = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value ?? fields[e.valueFrom!.fieldRef!.fieldPath]]));
  const given = sidecar.args!;
  const args: string[] = [];
  for (let i = 0; i < given.length; i++) {
    if (given[i] === '--capture') continue;
    const value = { '--control-plane': cp.xds, '--service-account-token': podTokenFile, '--identity-dir': join(dir, 'injected-identity') }[given[i]];
    if (value !== undefined) args.push(given[i], value), i++;
    else args.push(given[i]);
  }
  assert.deepEqual(args.filter((a) => a.startsWith('--')), ['--control-plane', '--service-account-token', '--identity-dir'], 'the injected args, the capture flag aside');
  const podProcess = await startProxy('', [...args, '--app', `http=${app.port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off', '--drain-timeout', '1s'], { env: podEnv, readyTimeoutMs: 30_000 });
  proxies.push(podProcess);
  const identity = JSON.parse(await podProcess.waitForLog(/"msg":"identity ready"/)) as { identity: string; workload: string };
  assert.equal(identity.identity, 'spiffe://pods.sluice.dev/ns/bookinfo/sa/bookinfo-reviews');
  assert.equal(identity.workload, POD);
  assert.ok(cp.stderr().includes(`"via":"kubernetes-token pod bookinfo/${POD}"`), 'sluice-cp issued it on the TokenReview');

  // A VM agent of the same mesh, joined with a join token, calls the Service: its proxy sends the call over mTLS to the pod's.
  const env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const apply = await sluicectl(['apply', '-f', '-'], { env, stdin: 'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: productpage-vm-1, namespace: bookinfo, labels: { app: productpage } }\nspec: { address: 127.0.0.1, serviceAccount: productpage }\n' });
  assert.equal(apply.code, 0, apply.stderr);
  const tokenFile = join(dir, 'vm.token');
  const minted = await sluicectl(['token', 'create', '--workload', 'productpage-vm-1', '-n', 'bookinfo', '--ttl', '10m', '--out', tokenFile], { env });
  assert.equal(minted.code, 0, minted.stderr);
  const outbound = await closedPort();
  proxies.push(await startProxy('', ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, 'vm-identity'), '--outbound-port', String(outbound), '--access-log', 'off', '--drain-timeout', '1s'], { readyTimeoutMs: 30_000 }));
  const r = await reviewsThrough(outbound);
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /reviews-v1 \(pod\)/);
  const seen = app.seen.at(-1)!;
  assert.match(String(seen.headers['x-forwarded-client-cert']), /URI=spiffe:\/\/pods\.sluice\.dev\/ns\/bookinfo\/sa\/productpage/, "the pod's proxy checked the VM's certificate");
});

test('a token the API server does not accept, or for another service account, gets no certificate: the proxy exits 2 saying why', async () => {
  // Both proxies run at once (podProxy returns once each is spawned); each is then awaited.
  const stranger = await podProxy(`${POD_TOKEN.slice(0, -2)}xx`, {}, true);
  // The pod's own token, but the pod claims another service account: the CSR names what the token does not prove.
  const liar = await podProxy(POD_TOKEN, { SERVICE_ACCOUNT: 'payments' }, true);
  assert.equal(await stranger.exited, 2);
  assert.match(stranger.stderr(), /KUBERNETES_TOKEN_REJECTED|did not authenticate/);
  assert.equal(await liar.exited, 2);
  assert.match(liar.stderr(), /IDENTITY_MISMATCH|sa\/payments/);
});

test("a pod behind no Service (a Job's) joins too, and calls the Service through its proxy", async () => {
  const job = fixture('pod-reviews-v1') as PodJson;
  const name = 'ratings-migrate-7x2kq';
  api.put({ ...job, metadata: { ...job.metadata, name, uid: 'c0ffee00-1b2d-4f6a-8c0e-2d4f6a8c0e99', labels: { 'job-name': 'ratings-migrate' } }, spec: { ...job.spec, serviceAccountName: 'ratings' } });
  const token = POD_TOKEN.replace(/\.c2ln$/, '.am9i');
  api.registerToken(token, { namespace: 'bookinfo', serviceAccount: 'ratings', audiences: ['sluice-cp'], podName: name, podUid: 'c0ffee00-1b2d-4f6a-8c0e-2d4f6a8c0e99' });
  const tokenFile = join(dir, 'job-token');
  writeFileSync(tokenFile, token);
  const outbound = await closedPort();
  const env = { POD_NAME: name, POD_NAMESPACE: 'bookinfo', SERVICE_ACCOUNT: 'ratings', SLUICE_CA_BUNDLE: readFileSync(join(dir, 'cp', 'ca', 'bundle.pem'), 'utf8') };
  proxies.push(await startProxy('', ['--control-plane', cp.xds, '--service-account-token', tokenFile, '--identity-dir', join(dir, 'job-identity'), '--outbound-port', String(outbound), '--access-log', 'off', '--drain-timeout', '1s'], { env, readyTimeoutMs: 30_000 }));
  const r = await reviewsThrough(outbound);
  assert.equal(r.status, 200, r.body);
  assert.match(String(app.seen.at(-1)!.headers['x-forwarded-client-cert']), /URI=spiffe:\/\/pods\.sluice\.dev\/ns\/bookinfo\/sa\/ratings/);
});
