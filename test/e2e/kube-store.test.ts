// Issue 17 point 1 end to end with real processes: sluice-cp --store kubernetes against the
// fake Kubernetes API server (HTTPS, a kubeconfig), holding a Service, its Pod, its
// EndpointSlice and the Pod's Node as a cluster returns them. `sluicectl apply` puts a
// route and a VM Workload into the cluster (as CRD / Gateway API objects); a sluice-proxy
// joined with a token gets endpoints for the Service that include the pod IP from the
// EndpointSlice, and the route's status is written to its /status subresource.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { FakeKubeApi, type KubeObject } from '../helpers/fake-kube-api.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const fixture = (name: string): KubeObject => JSON.parse(readFileSync(new URL(`../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8')) as KubeObject;
const dir = mkdtempSync(join(tmpdir(), 'sluice-kube-e2e-'));
let api: FakeKubeApi;
let cp: ControlPlaneProcess;
let proxy: ProxyProcess | undefined;

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });
const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: env(), stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  api = await FakeKubeApi.start();
  for (const f of ['namespace-bookinfo', 'node-worker-a', 'service-reviews', 'pod-reviews-v1', 'endpointslice-reviews']) api.put(fixture(f));
  const kubeconfig = api.writeKubeconfig(dir);
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--store', 'kubernetes', '--kubeconfig', kubeconfig, '--webhook-addr', '127.0.0.1:0', '--data-dir', join(dir, 'cp'), '--trust-domain', 'e2e.sluice.dev'], timeoutMs: 30_000 });
});

after(async () => {
  await proxy?.stop();
  await cp?.stop();
  await api?.close();
});

test('sluicectl apply writes to the cluster; a joined VM proxy gets the pod IP of the EndpointSlice; the route status reaches /status', async () => {
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: productpage-vm-1, namespace: bookinfo, labels: { app: productpage } }\nspec: { address: 127.0.0.1, serviceAccount: productpage, zone: dc-1 }\n',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: reviews, namespace: bookinfo }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9080 }]\n  rules: [{ backendRefs: [{ name: reviews, port: 9080 }] }]\n',
  ].join('---\n'));
  // Both went to the Kubernetes API, as kubectl apply would have put them.
  assert.equal(api.get('mesh.sluice.dev/v1alpha1', 'Workload', 'bookinfo', 'productpage-vm-1')?.spec && true, true);
  assert.deepEqual(api.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'bookinfo', 'reviews')?.spec, { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] });
  assert.ok(api.requests.some((r) => r.method === 'POST' && r.path === '/apis/gateway.networking.k8s.io/v1/namespaces/bookinfo/httproutes'));

  const tokenFile = join(dir, 'productpage.token');
  await ctl(['token', 'create', '--workload', 'productpage-vm-1', '-n', 'bookinfo', '--ttl', '10m', '--out', tokenFile]);
  proxy = await startProxy('', ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, 'productpage'), '--drain-timeout', '1s', '--access-log', 'off', '--outbound-port', String(await closedPort())], { readyTimeoutMs: 30_000 });

  // The proxy's own config (its admin, read by sluicectl) holds the pod from the EndpointSlice.
  const endpoints = await until('the pod IP in the proxy endpoints', async () => {
    const out = await ctl(['proxy-config', 'endpoints', 'productpage-vm-1.bookinfo']);
    return /10\.244\.1\.7:9080/.test(out) ? out : undefined;
  });
  assert.match(endpoints, /10\.244\.1\.7:9080\s+HEALTHY\s+eu-west-1a/);
  assert.doesNotMatch(endpoints, /10\.244\.2\.9/, 'the not-ready endpoint of the slice is not sent');
  const clusters = await ctl(['proxy-config', 'clusters', 'productpage-vm-1.bookinfo']);
  assert.match(clusters, /spiffe:\/\/e2e\.sluice\.dev\/ns\/bookinfo\/sa\/bookinfo-reviews/);

  // The route's conditions, written through to the HTTPRoute's status subresource per parent.
  const status = await until('the route status in the cluster', async () => {
    const s = api.get('gateway.networking.k8s.io/v1', 'HTTPRoute', 'bookinfo', 'reviews')?.status as { parents?: { controllerName: string; conditions: { type: string; status: string }[] }[] } | undefined;
    return s?.parents?.[0]?.conditions.some((c) => c.type === 'Accepted') ? s : undefined;
  });
  assert.equal(status.parents![0].controllerName, 'sluice.dev/mesh-controller');
  assert.ok(status.parents![0].conditions.some((c) => c.type === 'Accepted' && c.status === 'True'), JSON.stringify(status));
  assert.ok(api.requests.some((r) => r.method === 'PATCH' && r.path === '/apis/gateway.networking.k8s.io/v1/namespaces/bookinfo/httproutes/reviews/status'));

  // A pod that goes away (its endpoint leaves the slice) leaves the proxy's endpoints.
  const slice = api.get('discovery.k8s.io/v1', 'EndpointSlice', 'bookinfo', 'reviews-7kx9w')!;
  api.put({ ...slice, endpoints: [] });
  await until('the pod to leave the proxy endpoints', async () => {
    const out = await ctl(['proxy-config', 'endpoints', 'productpage-vm-1.bookinfo']);
    return /10\.244\.1\.7/.test(out) ? undefined : true;
  });
});

test('a global on --store kubernetes keeps zone tokens as ZoneToken objects; a zone enrolls with one and its use is written back', async () => {
  const clusterApi = await FakeKubeApi.start();
  const globalDir = join(dir, 'global');
  const globalXds = await closedPort();
  const global = await startControlPlane({ dataDir: globalDir, args: ['--role', 'global', '--store', 'kubernetes', '--kubeconfig', clusterApi.writeKubeconfig(dir), '--data-dir', globalDir, '--trust-domain', 'e2e.sluice.dev', '--xds-addr', `127.0.0.1:${globalXds}`], timeoutMs: 30_000 });
  let zone: ControlPlaneProcess | undefined;
  try {
    const tokenFile = join(dir, 'onprem.zone-token');
    const minted = await sluicectl(['zone', 'token', 'create', 'onprem', '--ttl', '10m', '--out', tokenFile], { env: { SLUICE_SERVER: global.url, SLUICE_TOKEN_FILE: global.tokenFile } });
    assert.equal(minted.code, 0, minted.stderr);
    const id = /^token: sluice-zt\.(\w+)\./m.exec(readFileSync(tokenFile, 'utf8'))![1];
    const stored = clusterApi.get('ca.sluice.dev/v1', 'ZoneToken', 'sluice-system', id);
    assert.ok(stored !== undefined, 'the zone token is a ZoneToken object in the cluster');
    // The secret is base64url: 43 characters that may hold '-', which \w does not match.
    const secret = /sluice-zt\.[0-9a-f]{12}\.([A-Za-z0-9_-]{43})/.exec(readFileSync(tokenFile, 'utf8'))![1];
    assert.ok(!JSON.stringify(stored).includes(secret), 'never the secret');
    zone = await startControlPlane({ dataDir: join(dir, 'onprem'), args: ['--role', 'zone', '--zone', 'onprem', '--global', `127.0.0.1:${globalXds}`, '--zone-token', tokenFile, '--xds-addr', `127.0.0.1:${await closedPort()}`], timeoutMs: 30_000 });
    await until('the use of the token in the cluster', async () => ((clusterApi.get('ca.sluice.dev/v1', 'ZoneToken', 'sluice-system', id)?.status as { usedAt?: string } | undefined)?.usedAt === undefined ? undefined : true));
  } finally {
    await zone?.stop();
    await global.stop();
    await clusterApi.close();
  }
});
