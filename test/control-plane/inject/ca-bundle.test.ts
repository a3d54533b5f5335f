// Keeping the webhook's caBundle current, through @kubernetes/client-node's
// AdmissionregistrationV1Api against a small server of our own standing in for the API
// server: it answers the read with a MutatingWebhookConfiguration as a cluster returns it,
// and records the exact PATCH the client sends (method, path, content type, body).

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import { keepCaBundleCurrent, updateCaBundle } from '../../../control-plane/inject/index.ts';
import { applyJsonPatch, type PatchOp } from '../../helpers/json-patch.ts';

const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sluice-sidecar-injector';
const BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Vy\n-----END CERTIFICATE-----\n';

type Seen = { method: string; url: string; contentType: string | undefined; authorization: string | undefined; body: string };

let stored: Record<string, unknown>;
const seen: Seen[] = [];
let server: http.Server;
let api: AdmissionregistrationV1Api;

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
  const kc = new KubeConfig();
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
