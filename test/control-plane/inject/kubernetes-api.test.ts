// The injector's calls to the Kubernetes API, through @kubernetes/client-node against a
// small server of our own standing in for the API server: it answers reads with a
// MutatingWebhookConfiguration and Namespaces as a cluster returns them, and records the
// exact requests the client sends (method, path, content type, body).

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import { keepCaBundleCurrent, updateCaBundle } from '../../../control-plane/inject/index.ts';
import { injectorOnKubernetes } from '../../../control-plane/inject/kubernetes.ts';
import { applyJsonPatch, type PatchOp } from '../../helpers/json-patch.ts';

const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sluice-sidecar-injector';
const BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Vy\n-----END CERTIFICATE-----\n';

type Seen = { method: string; url: string; contentType: string | undefined; authorization: string | undefined; body: string };

let stored: Record<string, unknown>;
const seen: Seen[] = [];
let server: http.Server;
let api: AdmissionregistrationV1Api;
let kc: KubeConfig;

const NAMESPACES: Record<string, unknown> = {
  shop: {
    kind: 'Namespace',
    apiVersion: 'v1',
    metadata: {
      name: 'shop',
      uid: '0b6c1d2e-3f40-4a5b-8c7d-9e0f1a2b3c4d',
      resourceVersion: '1207',
      creationTimestamp: '2026-12-01T08:00:00Z',
      labels: { 'kubernetes.io/metadata.name': 'shop', 'sluice.dev/inject': 'enabled' },
      managedFields: [{ manager: 'kubectl-label', operation: 'Update', apiVersion: 'v1', time: '2026-12-01T08:05:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:sluice.dev/inject': {} } } } }],
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  },
};

function configuration(caBundle: string | undefined): Record<string, unknown> {
  const clientConfig = (path: string) => ({ service: { namespace: 'sluice-system', name: 'sluice-cp', path, port: 443 }, ...(caBundle === undefined ? {} : { caBundle }) });
  const webhook = (name: string, path: string) => ({
    name,
    clientConfig: clientConfig(path),
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    namespaceSelector: { matchLabels: { 'sluice.dev/inject': 'enabled' } },
    objectSelector: {},
    sideEffects: 'None',
    timeoutSeconds: 10,
    admissionReviewVersions: ['v1'],
    reinvocationPolicy: 'Never',
  });
  return {
    kind: 'MutatingWebhookConfiguration',
    apiVersion: 'admissionregistration.k8s.io/v1',
    metadata: {
      name: 'sluice-sidecar-injector',
      uid: '3f6d2c1a-8b7e-4f5d-9c0a-1e2b3c4d5e6f',
      resourceVersion: '48211',
      generation: 1,
      creationTimestamp: '2026-12-06T09:00:00Z',
      labels: { 'app.kubernetes.io/name': 'sluice', 'app.kubernetes.io/component': 'injector' },
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'admissionregistration.k8s.io/v1', time: '2026-12-06T09:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:webhooks': {} } }],
    },
    webhooks: [webhook('inject.sluice.dev', '/inject'), webhook('inject-objects.sluice.dev', '/inject')],
  };
}

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
      const path = (req.url ?? '').split('?')[0];
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
      if (ns !== null && req.method === 'GET') {
        if (NAMESPACES[ns[1]] !== undefined) return send(200, NAMESPACES[ns[1]]);
        return send(403, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `namespaces "${ns[1]}" is forbidden: User "system:serviceaccount:sluice-system:sluice-cp" cannot get resource "namespaces" in API group "" in the namespace "${ns[1]}"`, reason: 'Forbidden', details: { name: ns[1], kind: 'namespaces' }, code: 403 });
      }
      if (path !== PATH) return send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `mutatingwebhookconfigurations.admissionregistration.k8s.io "${path.split('/').pop()}" not found`, reason: 'NotFound', details: { name: path.split('/').pop(), group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' }, code: 404 });
      if (req.method === 'GET') return send(200, stored);
      if (req.method === 'PATCH' && req.headers['content-type'] === 'application/json-patch+json') {
        try {
          stored = applyJsonPatch(stored, JSON.parse(body) as PatchOp[]);
        } catch (err) {
          return send(422, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: (err as Error).message, reason: 'Invalid', code: 422 });
        }
        return send(200, stored);
      }
      send(415, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'UnsupportedMediaType', code: 415 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'sluice-cp', token: 'sa-token-of-sluice-cp' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'sluice-cp' }],
    currentContext: 'fake',
  });
  api = kc.makeApiClient(AdmissionregistrationV1Api);
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('an empty caBundle is set on every webhook with one JSON Patch, guarded by a test of each name', async () => {
  stored = configuration(undefined);
  seen.length = 0;
  assert.equal(await updateCaBundle(api, 'sluice-sidecar-injector', BUNDLE), 2);
  assert.deepEqual(
    seen.map((s) => [s.method, s.url.split('?')[0]]),
    [
      ['GET', PATH],
      ['PATCH', PATH],
    ],
  );
  const patch = seen[1];
  assert.equal(patch.contentType, 'application/json-patch+json');
  assert.equal(patch.authorization, 'Bearer sa-token-of-sluice-cp');
  assert.equal(new URL(patch.url, 'http://x').searchParams.get('fieldManager'), 'sluice-cp');
  const b64 = Buffer.from(BUNDLE).toString('base64');
  assert.deepEqual(JSON.parse(patch.body), [
    { op: 'test', path: '/webhooks/0/name', value: 'inject.sluice.dev' },
    { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64 },
    { op: 'test', path: '/webhooks/1/name', value: 'inject-objects.sluice.dev' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: b64 },
  ]);
  for (const w of stored.webhooks as { clientConfig: { caBundle: string } }[]) assert.equal(w.clientConfig.caBundle, b64);
});

test('a current caBundle is read and left alone; a rotated one is replaced', async () => {
  stored = configuration(Buffer.from(BUNDLE).toString('base64'));
  seen.length = 0;
  assert.equal(await updateCaBundle(api, 'sluice-sidecar-injector', BUNDLE), 0);
  assert.deepEqual(seen.map((s) => s.method), ['GET']);
  const rotated = `${BUNDLE}${BUNDLE.replace('Q2Vy', 'TmV3')}`;
  assert.equal(await updateCaBundle(api, 'sluice-sidecar-injector', rotated), 2);
  assert.deepEqual(JSON.parse(seen[2].body)[1], { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from(rotated).toString('base64') });
});

test('a missing configuration is an error from the API; keepCaBundleCurrent sets the bundle at its first round', async () => {
  await assert.rejects(updateCaBundle(api, 'not-there', BUNDLE), /404|not found/i);
  stored = configuration(undefined);
  const logs: { level: string; msg: string }[] = [];
  const done = new Promise<void>((resolve) => {
    const stop = keepCaBundleCurrent({
      api,
      name: 'sluice-sidecar-injector',
      bundle: () => BUNDLE,
      intervalMs: 3_600_000,
      log: (level, msg) => {
        logs.push({ level, msg });
        stop();
        resolve();
      },
    });
  });
  await done;
  assert.deepEqual(logs, [{ level: 'info', msg: 'webhook caBundle updated' }]);
  assert.equal((stored.webhooks as { clientConfig: { caBundle?: string } }[])[0].clientConfig.caBundle, Buffer.from(BUNDLE).toString('base64'));
});

test("injectorOnKubernetes reads a namespace's labels, falls back to null when refused, and sets the caBundle at once", async () => {
  stored = configuration(undefined);
  seen.length = 0;
  const logs: string[] = [];
  let patched!: () => void;
  const firstRound = new Promise<void>((resolve) => (patched = resolve));
  const injector = injectorOnKubernetes(kc, {
    bundle: () => BUNDLE,
    log: (_level, msg) => {
      logs.push(msg);
      if (msg === 'webhook caBundle updated') patched();
    },
  });
  try {
    await firstRound;
    assert.deepEqual(await injector.namespaceLabels('shop'), { 'kubernetes.io/metadata.name': 'shop', 'sluice.dev/inject': 'enabled' });
    assert.equal(await injector.namespaceLabels('secret-team'), null);
    assert.ok(logs.some((m) => /namespaceSelector decides/.test(m)));
    assert.deepEqual(
      seen.filter((s) => s.url.startsWith('/api/v1/')).map((s) => [s.method, s.url.split('?')[0], s.authorization]),
      [
        ['GET', '/api/v1/namespaces/shop', 'Bearer sa-token-of-sluice-cp'],
        ['GET', '/api/v1/namespaces/secret-team', 'Bearer sa-token-of-sluice-cp'],
      ],
    );
  } finally {
    injector.stop();
  }
});
