// The injection webhook as the API server uses it: an AdmissionReview v1 with a Pod as a
// cluster sends it, POSTed over HTTPS to /inject (the certificate checked against the mesh
// CA for the Service's DNS name), the returned JSON Patch applied by RFC 6902, and the pod
// that comes out checked field by field and against the Kubernetes OpenAPI schema.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { Pod } from 'kubernetes-models/v1';
import { createCa, loadCa, type Ca } from '../../../certs/index.ts';
import { injectConfig, startWebhookServer, type Labels, type WebhookServer } from '../../../control-plane/inject/index.ts';
import { parseAppProbes } from '../../../kinds/app-probes.ts';
import { applyJsonPatch, type PatchOp } from '../../helpers/json-patch.ts';

type ReviewJson = { request: { uid: string; namespace: string; object: V1Pod } & Record<string, unknown> } & Record<string, unknown>;
type Answer = { status: number; body: string };

const fixture = (name: string): ReviewJson => JSON.parse(readFileSync(new URL(`testdata/${name}.json`, import.meta.url), 'utf8'));
const SERVICE_NAME = 'sluice-cp.sluice-system.svc';

let ca: Ca;
let webhook: WebhookServer;
const namespaces: Record<string, Labels> = {
  shop: { 'kubernetes.io/metadata.name': 'shop', 'sluice.dev/inject': 'enabled' },
  batch: { 'kubernetes.io/metadata.name': 'batch', 'sluice.dev/inject': 'enabled' },
  plain: { 'kubernetes.io/metadata.name': 'plain' },
  'kube-system': { 'kubernetes.io/metadata.name': 'kube-system', 'sluice.dev/inject': 'enabled' },
  'sluice-system': { 'kubernetes.io/metadata.name': 'sluice-system', 'sluice.dev/inject': 'enabled' },
};

before(async () => {
  const loaded = loadCa(createCa({ trustDomain: 'cluster.local', now: Date.now() }));
  assert.ok(loaded.ok);
  ca = loaded.value;
  webhook = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    ca,
    service: 'sluice-cp',
    namespace: 'sluice-system',
    config: injectConfig({ image: 'registry.example/sluice/proxy:0.1.0', service: 'sluice-cp', namespace: 'sluice-system', sidecarMode: 'native', caBundle: () => ca.bundle }),
    namespaceLabels: async (ns) => namespaces[ns] ?? null,
    log: () => undefined,
    now: Date.now,
  });
});
after(() => webhook.close());

function post(body: string, opts: { method?: string; path?: string; servername?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: webhook.port, method: opts.method ?? 'POST', path: opts.path ?? '/inject?timeout=10s', ca: ca.bundle, servername: opts.servername ?? SERVICE_NAME, headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs the review; returns the response object and the pod with its patch applied. */
async function review(r: ReviewJson): Promise<{ response: Record<string, unknown>; pod: V1Pod; patch: PatchOp[] }> {
  const answer = await post(JSON.stringify(r));
  assert.equal(answer.status, 200, answer.body);
  const out = JSON.parse(answer.body);
  assert.equal(out.apiVersion, 'admission.k8s.io/v1');
  assert.equal(out.kind, 'AdmissionReview');
  assert.equal(out.response.uid, r.request.uid);
  if (out.response.patch === undefined) return { response: out.response, pod: r.request.object, patch: [] };
  assert.equal(out.response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as PatchOp[];
  return { response: out.response, pod: applyJsonPatch(r.request.object, patch), patch };
}

const byName = (list: V1Container[] | undefined, name: string) => list?.find((c) => c.name === name);

test('a Deployment pod comes back with the capture step, the proxy as a native sidecar, and the token volume', async () => {
  const original = fixture('review-deployment-pod');
  const { response, pod } = await review(original);
  assert.equal(response.allowed, true);
  const init = pod.spec!.initContainers!;
  assert.deepEqual(init.map((c) => c.name), ['sluice-init', 'sluice-proxy', 'migrate']);

  const capture = init[0];
  assert.equal(capture.image, 'registry.example/sluice/proxy:0.1.0');
  assert.deepEqual(capture.args!.slice(0, 8), ['capture', 'install', '--proxy-uid', '1337', '--inbound-port', '15006', '--outbound-port', '15001']);
  assert.deepEqual(capture.securityContext!.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  assert.equal(capture.securityContext!.allowPrivilegeEscalation, false);
  assert.equal(capture.restartPolicy, undefined, 'the capture step runs once');

  const proxy = init[1];
  assert.equal(proxy.restartPolicy, 'Always');
  assert.deepEqual(proxy.startupProbe!.httpGet, { path: '/healthz/ready', port: 15020, scheme: 'HTTP' });
  assert.deepEqual(proxy.securityContext, { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  assert.ok(proxy.resources!.requests!.cpu && proxy.resources!.requests!.memory && proxy.resources!.limits!.memory);
  const env = Object.fromEntries(proxy.env!.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value]));
  assert.equal(env.POD_NAME, 'metadata.name');
  assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
  assert.equal(env.SERVICE_ACCOUNT, 'spec.serviceAccountName');
  assert.equal(env.SLUICE_CA_BUNDLE, ca.bundle, "the mesh's roots, for the proxy's first contact with the control plane");
  assert.deepEqual(proxy.args!.slice(0, 3), ['--control-plane', 'sluice-cp.sluice-system.svc:15012', '--capture']);
  const tokenMount = proxy.volumeMounts!.find((m) => m.name === 'sluice-token');
  assert.equal(tokenMount?.readOnly, true);
  assert.ok(proxy.args!.some((a) => a.startsWith(tokenMount!.mountPath)), 'the proxy is told where its token is');

  const token = pod.spec!.volumes!.find((v) => v.name === 'sluice-token');
  assert.deepEqual(token?.projected?.sources, [{ serviceAccountToken: { audience: 'sluice-cp', expirationSeconds: 3600, path: 'token' } }]);
  // What the pod had stays as it was.
  assert.deepEqual(pod.spec!.volumes![0], original.request.object.spec!.volumes![0]);
  assert.deepEqual(byName(init, 'migrate'), byName(original.request.object.spec!.initContainers, 'migrate'));
  assert.deepEqual(pod.metadata!.managedFields, original.request.object.metadata!.managedFields);
  assert.deepEqual(pod.status, original.request.object.status);
  assert.equal(pod.metadata!.annotations!['kubectl.kubernetes.io/restartedAt'], '2026-12-01T09:14:02Z');
  assert.ok(pod.metadata!.annotations!['sluice.dev/status']);
  assert.deepEqual(pod.spec!.containers.map((c) => c.name), ['web', 'worker']);

  // The result is a valid Pod by the Kubernetes OpenAPI schema.
  assert.doesNotThrow(() => new Pod(pod as never).validate());
});

test("the app's http, tcp and grpc probes go to the proxy's :15020, with the originals in SLUICE_APP_PROBES", async () => {
  const original = fixture('review-deployment-pod');
  const { pod } = await review(original);
  const web = byName(pod.spec!.containers, 'web')!;
  const worker = byName(pod.spec!.containers, 'worker')!;
  const before = byName(original.request.object.spec!.containers, 'web')!;
  assert.deepEqual(web.livenessProbe, { initialDelaySeconds: 5, timeoutSeconds: 2, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, httpGet: { path: '/app-health/web/livez', port: 15020, scheme: 'HTTP' } });
  assert.equal(web.readinessProbe!.httpGet!.path, '/app-health/web/readyz');
  assert.equal(web.startupProbe!.httpGet!.path, '/app-health/web/startupz');
  assert.equal(web.startupProbe!.tcpSocket, undefined);
  assert.equal(web.startupProbe!.failureThreshold, before.startupProbe!.failureThreshold);
  assert.equal(worker.readinessProbe!.httpGet!.path, '/app-health/worker/readyz');
  assert.deepEqual(worker.livenessProbe, byName(original.request.object.spec!.containers, 'worker')!.livenessProbe, 'exec probes run in the container: unchanged');

  const proxy = byName(pod.spec!.initContainers, 'sluice-proxy')!;
  const probes = parseAppProbes(proxy.env!.find((e) => e.name === 'SLUICE_APP_PROBES')!.value!);
  assert.ok(probes.ok, probes.ok ? '' : probes.error);
  assert.deepEqual(Object.fromEntries(probes.value), {
    // The named port 'http' resolved to the container's 8080.
    '/app-health/web/livez': { httpGet: { path: '/livez', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: 'kubelet' }] }, timeoutSeconds: 2 },
    '/app-health/web/readyz': { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP', httpHeaders: [] }, timeoutSeconds: 1 },
    '/app-health/web/startupz': { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
    '/app-health/worker/readyz': { grpc: { port: 9090, service: '' }, timeoutSeconds: 1 },
  });
});

test('a pod opting out of probe rewriting keeps its probes, and the proxy gets no SLUICE_APP_PROBES', async () => {
  const r = fixture('review-deployment-pod');
  r.request.object.metadata!.annotations!['sluice.dev/rewrite-app-probes'] = 'false';
  const { pod } = await review(r);
  assert.deepEqual(pod.spec!.containers, r.request.object.spec!.containers);
  assert.equal(byName(pod.spec!.initContainers, 'sluice-proxy')!.env!.find((e) => e.name === 'SLUICE_APP_PROBES'), undefined);
});

test('a Job pod with no annotations and no init containers gets both lists made, and only its own container among the containers', async () => {
  const r = fixture('review-job-pod');
  const { pod } = await review(r);
  assert.deepEqual(pod.spec!.initContainers!.map((c) => [c.name, c.restartPolicy]), [['sluice-init', undefined], ['sluice-proxy', 'Always']]);
  // A Job is done when its containers are: the proxy is not one of them.
  assert.deepEqual(pod.spec!.containers.map((c) => c.name), ['report']);
  assert.ok(pod.metadata!.annotations!['sluice.dev/status']);
  assert.deepEqual(pod.metadata!.finalizers, ['batch.kubernetes.io/job-tracking']);
});

test('the container sidecar mode (clusters older than 1.29) puts the proxy first among the containers, holding the app until it is ready', async () => {
  const r = fixture('review-job-pod');
  r.request.object.metadata!.annotations = { 'sluice.dev/sidecar-mode': 'container' };
  const { pod } = await review(r);
  assert.deepEqual(pod.spec!.initContainers!.map((c) => c.name), ['sluice-init']);
  assert.deepEqual(pod.spec!.containers.map((c) => c.name), ['sluice-proxy', 'report']);
  const proxy = pod.spec!.containers[0];
  assert.equal(proxy.restartPolicy, undefined);
  assert.deepEqual(proxy.lifecycle!.postStart!.exec!.command, ['node', '/opt/sluice/proxy/main.ts', 'wait', '--port', '15020', '--timeout', '2m']);
  assert.doesNotThrow(() => new Pod(pod as never).validate());
});

test('a pod is not injected twice: the patched pod sent again comes back with no patch', async () => {
  const r = fixture('review-deployment-pod');
  const first = await review(r);
  const again = structuredClone(r);
  again.request.object = first.pod;
  const second = await review(again);
  assert.equal(second.response.allowed, true);
  assert.equal(second.response.patch, undefined);
});

test('pods are left alone in unlabelled namespaces, system namespaces, the control plane namespace, and when they opt out', async () => {
  for (const ns of ['plain', 'kube-system', 'kube-public', 'sluice-system']) {
    const r = fixture('review-job-pod');
    r.request.namespace = ns;
    r.request.object.metadata!.namespace = ns;
    const { response } = await review(r);
    assert.equal(response.allowed, true, ns);
    assert.equal(response.patch, undefined, ns);
  }
  for (const value of ['false', 'disabled']) {
    const out = fixture('review-job-pod');
    out.request.object.metadata!.annotations = { 'sluice.dev/inject': value };
    assert.equal((await review(out)).response.patch, undefined, value);
  }
  const hostNet = fixture('review-job-pod');
  hostNet.request.object.spec!.hostNetwork = true;
  assert.equal((await review(hostNet)).response.patch, undefined);
  // The control: the same pod in a labelled namespace is injected.
  assert.notEqual((await review(fixture('review-job-pod'))).response.patch, undefined);
});

test('a bad sluice.dev annotation refuses the pod with a message naming the annotation', async () => {
  const r = fixture('review-job-pod');
  r.request.object.metadata!.annotations = { 'sluice.dev/exclude-outbound-ports': '5432,http', 'sluice.dev/proxy-memory': 'lots' };
  const { response } = await review(r);
  assert.equal(response.allowed, false);
  const status = response.status as { code: number; message: string };
  assert.equal(status.code, 400);
  assert.match(status.message, /sluice\.dev\/exclude-outbound-ports: 'http' not a port/);
  assert.match(status.message, /sluice\.dev\/proxy-memory: 'lots' is not a Kubernetes quantity/);
});

test('capture exclusions from the annotations reach the capture step', async () => {
  const r = fixture('review-job-pod');
  r.request.object.metadata!.annotations = { 'sluice.dev/exclude-outbound-ports': '5432, 6379', 'sluice.dev/exclude-inbound-ports': '9100', 'sluice.dev/exclude-outbound-cidrs': '169.254.169.254/32' };
  const { pod } = await review(r);
  const args = pod.spec!.initContainers![0].args!;
  const flag = (name: string) => args[args.indexOf(name) + 1];
  assert.equal(flag('--exclude-outbound-ports'), '5432,6379');
  assert.equal(flag('--exclude-inbound-ports'), '9100');
  assert.equal(flag('--exclude-cidrs'), '169.254.169.254/32');
});

test('malformed input is answered 400 with the reason, and the webhook keeps serving', async () => {
  const notJson = await post('{"apiVersion": "admission.k8s.io/v1",');
  assert.equal(notJson.status, 400);
  assert.match(notJson.body, /not JSON/);
  const noUid = fixture('review-job-pod');
  delete (noUid.request as Record<string, unknown>).uid;
  const a = await post(JSON.stringify(noUid));
  assert.equal(a.status, 400);
  assert.match(a.body, /request\.uid/);
  const badPod = fixture('review-job-pod');
  (badPod.request.object.spec as unknown as Record<string, unknown>).containers = 'web';
  const b = await post(JSON.stringify(badPod));
  assert.equal(b.status, 400);
  assert.match(b.body, /request\.object\.spec\.containers: must be a list/);
  const v1beta1 = { ...fixture('review-job-pod'), apiVersion: 'admission.k8s.io/v1beta1' };
  assert.match((await post(JSON.stringify(v1beta1))).body, /apiVersion: must be admission\.k8s\.io\/v1/);
  assert.equal((await post('[]')).status, 400);
  assert.equal((await post('', { method: 'GET' })).status, 405);
  assert.equal((await post('{}', { path: '/mutate' })).status, 404);
  assert.equal((await review(fixture('review-job-pod'))).response.allowed, true);
});

test("the webhook's certificate names the Service's DNS names and chains to the mesh CA", async () => {
  for (const name of ['sluice-cp.sluice-system.svc', 'sluice-cp.sluice-system.svc.cluster.local']) assert.equal((await post('', { method: 'GET', servername: name })).status, 405);
  await assert.rejects(post('', { method: 'GET', servername: 'other.sluice-system.svc' }), /altnames/);
});
