// The Kubernetes store against the fake API server (test/helpers/fake-kube-api.ts), over
// HTTPS with a kubeconfig, driven by @kubernetes/client-node as in production, and fed
// with objects as a cluster returns them (test/fixtures/kubernetes/).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { parseFlags } from '../../../control-plane/flags.ts';
import { isStoreError, openStore, type KubeStoreOptions, type WatchEvent } from '../../../control-plane/store/index.ts';
import { KubeStore } from '../../../control-plane/store/kube-store.ts';
import { writeStatusThrough, GATEWAY_CONTROLLER_NAME } from '../../../control-plane/store/kube-status.ts';
import { FakeKubeApi, type KubeObject } from '../../helpers/fake-kube-api.ts';
import { waitFor } from '../../helpers/wait.ts';

const FIXTURES = new URL('../../fixtures/kubernetes/', import.meta.url);
const fixture = (name: string): KubeObject => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as KubeObject;
const WORKLOADS = 'workloads.mesh.sluice.dev';
const ROUTES = 'httproutes.gateway.networking.k8s.io';
const workload = (name: string, address: string): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: 'bookinfo', labels: { app: 'reviews' } }, spec: { address } });

type Logged = { level: string; msg: string; fields?: Record<string, unknown> };

async function setup(t: TestContext, opts: Partial<KubeStoreOptions> = {}, fake: { bookmarkMs?: number } = {}) {
  const api = await FakeKubeApi.start(fake);
  for (const f of ['namespace-bookinfo', 'node-worker-a', 'service-reviews', 'pod-reviews-v1', 'endpointslice-reviews']) api.put(fixture(f));
  const kubeconfig = api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'sluice-kube-')));
  const logged: Logged[] = [];
  const store = await KubeStore.open({ kubeconfig, log: (level, msg, fields) => logged.push({ level, msg, fields }), retryMs: 50, ...opts });
  // The store first: a store still running would reconnect to a closing server.
  t.after(async () => {
    await store.close();
    await api.close();
  });
  return { api, store, kubeconfig, logged };
}

/** waitFor for an async check. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const watchRequests = (api: FakeKubeApi, path: string) => api.requests.filter((r) => r.path === path && /[?&]watch=/.test(r.query));

describe('fake Kubernetes API server', () => {
  test('answers client-node typed clients as a cluster does: lists, 404 Status, TokenReview', async (t) => {
    const api = await FakeKubeApi.start();
    t.after(() => api.close());
    api.put(fixture('pod-reviews-v1'));
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'sluice-kube-'))));
    const core = kc.makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: 'bookinfo' });
    assert.equal(pods.items.length, 1);
    assert.equal(pods.items[0].status?.podIP, '10.244.1.7');
    assert.equal(pods.metadata?.resourceVersion, String(api.resourceVersion));
    await assert.rejects(core.readNamespacedService({ name: 'nope', namespace: 'bookinfo' }), (err: { code?: number }) => err.code === 404);

    api.registerToken('sa-token', { namespace: 'bookinfo', serviceAccount: 'bookinfo-reviews', audiences: ['sluice'] });
    const auth = kc.makeApiClient(AuthenticationV1Api);
    const ok = await auth.createTokenReview({ body: { spec: { token: 'sa-token', audiences: ['sluice'] } } });
    assert.equal(ok.status?.authenticated, true);
    assert.equal(ok.status?.user?.username, 'system:serviceaccount:bookinfo:bookinfo-reviews');
    assert.deepEqual(ok.status?.audiences, ['sluice']);
    const wrongAudience = await auth.createTokenReview({ body: { spec: { token: 'sa-token', audiences: ['other'] } } });
    assert.notEqual(wrongAudience.status?.authenticated, true);
    const unknown = await auth.createTokenReview({ body: { spec: { token: 'forged', audiences: ['sluice'] } } });
    assert.notEqual(unknown.status?.authenticated, true);
  });

  test('refuses a request without the kubeconfig token (401)', async (t) => {
    const api = await FakeKubeApi.start({ tls: false });
    t.after(() => api.close());
    const res = await fetch(`${api.url}/api/v1/pods`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { kind: string }).kind, 'Status');
  });

  test('the main resource ignores status, /status changes only status; a stale resourceVersion is 409', async (t) => {
    const api = await FakeKubeApi.start({ tls: false });
    t.after(() => api.close());
    const h = { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' };
    const base = `${api.url}/apis/mesh.sluice.dev/v1alpha1/namespaces/bookinfo/workloads`;
    const created = (await (await fetch(base, { method: 'POST', headers: h, body: JSON.stringify({ ...workload('vm1', '10.0.0.5'), status: { conditions: [{ type: 'Made' }] } }) })).json()) as KubeObject;
    assert.equal(created.status, undefined);
    assert.equal(created.metadata.generation, 1);
    const withStatus = (await (await fetch(`${base}/vm1/status`, { method: 'PUT', headers: h, body: JSON.stringify({ ...created, spec: { address: '10.9.9.9' }, status: { ok: true } }) })).json()) as KubeObject;
    assert.deepEqual(withStatus.status, { ok: true });
    assert.deepEqual(withStatus.spec, { address: '10.0.0.5' });
    const main = (await (await fetch(`${base}/vm1`, { method: 'PUT', headers: h, body: JSON.stringify({ ...withStatus, spec: { address: '10.0.0.6' }, status: { ok: false } }) })).json()) as KubeObject;
    assert.deepEqual(main.status, { ok: true });
    assert.equal(main.metadata.generation, 2);
    const stale = await fetch(`${base}/vm1`, { method: 'PUT', headers: h, body: JSON.stringify(withStatus) });
    assert.equal(stale.status, 409);
    assert.equal(((await stale.json()) as { reason: string }).reason, 'Conflict');
    const noVersion = await fetch(`${base}/vm1`, { method: 'PUT', headers: h, body: JSON.stringify({ ...main, metadata: { name: 'vm1', namespace: 'bookinfo' } }) });
    assert.equal(noVersion.status, 422);
  });
});

describe('kubernetes store', () => {
  test('a watch resumed with a revision from before a control-plane restart is EXPIRED (list again), never resumed at an unrelated change', async (t) => {
    const { store, kubeconfig, api } = await setup(t);
    for (let i = 0; i < 5; i++) await store.create('workloads.mesh.sluice.dev', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: `vm${i}`, namespace: 'bookinfo' }, spec: { address: '10.0.0.1' } });
    const before = store.revision();
    await store.close();
    // sluice-cp started again: its revisions count from the cluster's state again, below what a client last saw.
    const again = await KubeStore.open({ kubeconfig, retryMs: 50, log: () => {} });
    try {
      assert.ok(again.revision() > before, `the revisions go on growing across the restart (${again.revision()} > ${before})`);
      await assert.rejects(again.watch({ fromRevision: before }, () => {}), { code: 'EXPIRED' });
      assert.ok(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm4'), 'what was written is in the cluster still');
    } finally {
      // Before the fake server closes (setup's after), which waits for every watch on it to end.
      await again.close();
    }
  });

  test('lists what the cluster holds, as the kinds the control plane reads, at its own revisions', async (t) => {
    const { store } = await setup(t);
    const services = await store.list('services');
    assert.equal(services.items.length, 1);
    const svc = services.items[0];
    // The fake leaves apiVersion/kind out of list items, as a real server does for built-in kinds.
    assert.equal(svc.apiVersion, 'v1');
    assert.equal(svc.kind, 'Service');
    assert.equal((svc.metadata as Record<string, unknown>).managedFields, undefined);
    assert.equal(svc.metadata.uid, '5f0e2c4d-8a61-4d3b-9c1e-2b7a0d9e6f11');
    assert.ok(Number(svc.metadata.resourceVersion) <= store.revision());
    const slices = await store.list('endpointslices.discovery.k8s.io', { namespace: 'bookinfo' });
    assert.equal(slices.items[0].kind, 'EndpointSlice');
    assert.equal((await store.get('pods', 'bookinfo', 'reviews-v1-6b8d4f7c9d-x2k4p')).kind, 'Pod');
    await assert.rejects(store.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'bookinfo' } }), (err) => isStoreError(err, 'INVALID'));
    // Core Services are read, never written: sluice-cp's role cannot change a Service of the cluster, and says to use kubectl.
    await assert.rejects(store.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'bookinfo' }, spec: { ports: [{ port: 80 }] } }), (err) => isStoreError(err, 'INVALID') && /apply Services with kubectl/.test((err as Error).message));
    await assert.rejects(store.delete('services', 'bookinfo', svc.metadata.name), (err) => isStoreError(err, 'INVALID'));
  });

  test('writes go to the cluster as CRD objects, and a get right after sees them', async (t) => {
    const { api, store } = await setup(t);
    const created = await store.create(WORKLOADS, workload('vm1', '10.0.0.5'));
    const inCluster = api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1');
    assert.deepEqual(inCluster?.spec, { address: '10.0.0.5' });
    assert.equal(inCluster?.metadata.uid, created.metadata.uid);
    assert.deepEqual((await store.get(WORKLOADS, 'bookinfo', 'vm1')).spec, { address: '10.0.0.5' });
    await assert.rejects(store.create(WORKLOADS, workload('vm1', '10.0.0.5')), (err) => isStoreError(err, 'ALREADY_EXISTS'));
    const updated = await store.update(WORKLOADS, { ...created, spec: { address: '10.0.0.6' } });
    assert.equal(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1')?.metadata.generation, 2);
    assert.ok(Number(updated.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
    // Unchanged: no request, no revision.
    const before = api.requests.length;
    assert.equal(await store.update(WORKLOADS, { ...updated }), updated);
    assert.equal(api.requests.length, before);
    await store.delete(WORKLOADS, 'bookinfo', 'vm1', { resourceVersion: updated.metadata.resourceVersion });
    assert.equal(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1'), undefined);
    await assert.rejects(store.get(WORKLOADS, 'bookinfo', 'vm1'), (err) => isStoreError(err, 'NOT_FOUND'));
  });

  test('a write racing kubectl gets CONFLICT, from the mirror or from the API server (409)', async (t) => {
    const { api, store } = await setup(t, {}, { bookmarkMs: 60_000 });
    const created = await store.create(WORKLOADS, workload('vm1', '10.0.0.5'));
    // kubectl edits it; the store sees the change on its watch, so the old revision is stale.
    const edited = api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1')!;
    api.put({ ...edited, spec: { address: '10.0.0.7' } });
    await waitFor(() => store.revision() > Number(created.metadata.resourceVersion), 5000, 'the store to see kubectl edit');
    await assert.rejects(store.update(WORKLOADS, { ...created, spec: { address: '10.0.0.8' } }), (err) => isStoreError(err, 'CONFLICT'));

    // Now a change the store has not seen yet (its watches are down): the API server refuses the write.
    const current = await store.get(WORKLOADS, 'bookinfo', 'vm1');
    api.dropWatches();
    await waitFor(() => api.openWatches === 0, 5000, 'the watches to drop');
    api.put({ ...api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1')!, spec: { address: '10.0.0.9' } });
    const conflictsBefore = api.requests.filter((r) => r.method === 'PUT').length;
    await assert.rejects(store.update(WORKLOADS, { ...current, spec: { address: '10.0.0.10' } }), (err) => isStoreError(err, 'CONFLICT'));
    assert.equal(api.requests.filter((r) => r.method === 'PUT').length, conflictsBefore + 1, 'the write reached the API server and was refused there');
  });

  test('a dropped watch resumes from the last resourceVersion seen, and misses nothing', async (t) => {
    const { api, store } = await setup(t, {}, { bookmarkMs: 60_000 });
    const events: WatchEvent[] = [];
    await store.watch({ resourceType: 'pods' }, (e) => events.push(e));
    const pod = fixture('pod-reviews-v1');
    api.put({ ...pod, metadata: { ...pod.metadata, name: 'reviews-v1-6b8d4f7c9d-aaaaa', uid: 'u-a' } });
    await waitFor(() => events.length === 1, 5000, 'the first pod event');
    const seen = String(api.resourceVersion);
    api.dropWatches();
    // Written while no watch is open: only a resumed watch (from `seen`) brings it.
    api.put({ ...pod, metadata: { ...pod.metadata, name: 'reviews-v1-6b8d4f7c9d-bbbbb', uid: 'u-b' } });
    await waitFor(() => events.length === 2, 5000, 'the pod written while the watch was down');
    assert.equal(events[1].object.metadata.name, 'reviews-v1-6b8d4f7c9d-bbbbb');
    const resumed = watchRequests(api, '/api/v1/pods').map((r) => new URLSearchParams(r.query).get('resourceVersion'));
    assert.equal(resumed.at(-1), seen);
    assert.ok(resumed.every((rv) => rv !== '' && rv !== '0'), 'never a watch from "now", which would lose events');
    assert.equal(api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/pods' && r.query === '').length, 1, 'no second list');
  });

  test('bookmarks move the resume point, so a resumed watch does not start from the old list', async (t) => {
    const { api, store } = await setup(t, {}, { bookmarkMs: 60_000 });
    const listedAt = api.resourceVersion;
    // Changes of another type move the cluster's resourceVersion; pods only hear of it by bookmark.
    await store.create(WORKLOADS, workload('vm1', '10.0.0.5'));
    await store.create(WORKLOADS, workload('vm2', '10.0.0.6'));
    const bookmarkAt = api.resourceVersion;
    assert.ok(bookmarkAt > listedAt);
    api.bookmarkNow();
    // The bookmark reaches every watch; then drop them and see where the pods watch resumes.
    await new Promise((r) => setTimeout(r, 200));
    api.dropWatches();
    await waitFor(() => watchRequests(api, '/api/v1/pods').length >= 2, 5000, 'the pods watch to resume');
    const rv = new URLSearchParams(watchRequests(api, '/api/v1/pods').at(-1)!.query).get('resourceVersion');
    assert.equal(rv, String(bookmarkAt));
  });

  test('410 Gone: the store lists again and reconciles what changed while it could not watch', async (t) => {
    const { api, store, logged } = await setup(t, {}, { bookmarkMs: 60_000 });
    const deleted: string[] = [];
    await store.watch({ resourceType: 'endpointslices.discovery.k8s.io' }, (e) => {
      if (e.type === 'DELETED') deleted.push(e.object.metadata.name);
    });
    api.dropWatches();
    const slice = fixture('endpointslice-reviews');
    api.remove('discovery.k8s.io/v1', 'EndpointSlice', 'bookinfo', slice.metadata.name);
    api.put({ ...slice, metadata: { ...slice.metadata, name: 'reviews-new01', uid: 'u-new' } });
    // The history of both changes is gone: the resume gets ERROR 410 Expired.
    api.compact();
    await waitFor(() => deleted.includes(slice.metadata.name), 5000, 'the deletion, found by the relist');
    assert.deepEqual((await store.list('endpointslices.discovery.k8s.io')).items.map((s) => s.metadata.name), ['reviews-new01']);
    assert.ok(logged.some((l) => /410 Gone/.test(l.msg) && l.fields?.type === 'endpointslices.discovery.k8s.io'));
    assert.ok(api.requests.filter((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices' && r.query === '').length >= 2, 'listed again');
  });

  test('resync lists every type again and mends what a lost event left wrong', async (t) => {
    const { api, store } = await setup(t, { resyncMs: 300 }, { bookmarkMs: 60_000 });
    const node = fixture('node-worker-a');
    // Changed without any event reaching the store (lost on the way): only a new list shows it.
    api.put({ ...node, metadata: { ...node.metadata, labels: { ...(node.metadata.labels as object), 'topology.kubernetes.io/zone': 'eu-west-1c' } } }, { lost: true });
    await eventually(async () => (await store.get('nodes', undefined, 'worker-a')).metadata.labels?.['topology.kubernetes.io/zone'] === 'eu-west-1c', 'the resync');
  });

  test('status goes to the /status subresource; a status-only change is no new revision', async (t) => {
    const { api, store } = await setup(t);
    const created = await store.create(WORKLOADS, workload('vm1', '10.0.0.5'));
    const write = writeStatusThrough(store);
    const conditions = [{ type: 'Ready', status: 'True' as const, reason: 'Connected', message: 'its proxy is connected', observedGeneration: 1, lastTransitionTime: '2026-12-06T10:00:00Z' }];
    write([{ kind: 'Workload', namespace: 'bookinfo', name: 'vm1', uid: created.metadata.uid, status: { conditions, proxies: 1 } }]);
    await store.statusSettled();
    const patch = api.requests.find((r) => r.method === 'PATCH');
    assert.equal(patch?.path, '/apis/mesh.sluice.dev/v1alpha1/namespaces/bookinfo/workloads/vm1/status');
    assert.deepEqual(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1')?.status, { conditions, proxies: 1 });
    assert.equal(store.revision(), Number(created.metadata.resourceVersion), 'writing status made no revision');
    assert.equal((await store.get(WORKLOADS, 'bookinfo', 'vm1')).metadata.resourceVersion, created.metadata.resourceVersion);
    // A field the control plane no longer reports is removed; the same status twice is one write.
    write([{ kind: 'Workload', namespace: 'bookinfo', name: 'vm1', uid: created.metadata.uid, status: { conditions } }]);
    write([{ kind: 'Workload', namespace: 'bookinfo', name: 'vm1', uid: created.metadata.uid, status: { conditions } }]);
    await store.statusSettled();
    await new Promise((r) => setTimeout(r, 100));
    write([{ kind: 'Workload', namespace: 'bookinfo', name: 'vm1', uid: created.metadata.uid, status: { conditions } }]);
    await store.statusSettled();
    assert.deepEqual(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'vm1')?.status, { conditions });
    assert.equal(api.requests.filter((r) => r.method === 'PATCH').length, 2);
    // Another object of the same name (another uid) is not written.
    write([{ kind: 'Workload', namespace: 'bookinfo', name: 'vm1', uid: 'someone-else', status: { conditions: [] } }]);
    await store.statusSettled();
    assert.equal(api.requests.filter((r) => r.method === 'PATCH').length, 2);
  });

  test('a route status is written per parent, keeping other controllers entries', async (t) => {
    const { api, store } = await setup(t);
    const route = await store.create(ROUTES, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'reviews', namespace: 'bookinfo' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] } });
    const other = { parentRef: { name: 'gw' }, controllerName: 'example.com/gateway', conditions: [] };
    const inCluster = api.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'bookinfo', 'reviews')!;
    api.put({ ...inCluster, status: { parents: [other] } });
    await eventually(async () => ((await store.get(ROUTES, 'bookinfo', 'reviews')).status as { parents?: unknown[] } | undefined)?.parents?.length === 1, 'the other controller status');
    const conditions = [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'ok', observedGeneration: 1, lastTransitionTime: '2026-12-06T10:00:00Z' }];
    writeStatusThrough(store)([{ kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews', uid: route.metadata.uid, status: { conditions, policies: [] } }]);
    await store.statusSettled();
    assert.deepEqual(api.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'bookinfo', 'reviews')?.status, {
      parents: [other, { parentRef: { group: '', kind: 'Service', name: 'reviews', port: 9080 }, controllerName: GATEWAY_CONTROLLER_NAME, conditions }],
    });
  });

  test('a missing CRD is an empty type, logged, not a failed start; an unreachable API server is', async (t) => {
    const api = await FakeKubeApi.start();
    t.after(() => api.close());
    const kubeconfig = api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'sluice-kube-')));
    const logged: Logged[] = [];
    const store = await KubeStore.open({ kubeconfig, log: (level, msg, fields) => logged.push({ level, msg, fields }), types: [{ type: 'widgets.example.com', group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true, statusSubresource: true, writable: true, ownStatus: false }] });
    t.after(() => store.close());
    assert.deepEqual((await store.list('widgets.example.com')).items, []);
    assert.ok(logged.some((l) => /is its CRD installed/.test(l.msg)));
    await api.close();
    await assert.rejects(KubeStore.open({ kubeconfig }), /--store kubernetes: listing .* failed/);
  });
});

describe('--store kubernetes: its config', () => {
  test('without --kubeconfig outside a pod, the error says what is missing; --kubeconfig is refused with a file store', async () => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
    try {
      await assert.rejects(openStore('kubernetes'), /in-cluster config \(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not in a pod\); give --kubeconfig FILE/);
    } finally {
      if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port !== undefined) process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
    await assert.rejects(openStore('kubernetes', { kubeconfig: join(tmpdir(), 'no-such-kubeconfig') }), /--kubeconfig .*no-such-kubeconfig cannot be read/);
    assert.throws(() => parseFlags(['--kubeconfig', 'k', '--store', 'file:x']), /--kubeconfig is only for --store kubernetes/);
    assert.throws(() => parseFlags(['--store', 'kubernetes']), /--data-dir is required with --store kubernetes/);
    const flags = parseFlags(['--store', 'kubernetes', '--kubeconfig', 'k', '--data-dir', 'd']);
    assert.ok(flags !== 'help' && flags !== 'version' && flags.kubeconfig === 'k');
  });
});
