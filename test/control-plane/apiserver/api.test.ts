// The HTTP API as sluicectl and any other client meet it: a real sluice-cp process on
// 127.0.0.1, bearer tokens, Kubernetes-style paths and Status errors, optimistic
// concurrency, dry runs, streamed watches, and HTTPS off loopback.

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';

const MESHES = '/apis/mesh.sluice.dev/v1alpha1/meshes';
// Meshes vary by dnsDomain: their trustDomain must be the control plane's (api/carried.ts).
const mesh = (name: string, dnsDomain = 'example.org', extra: Record<string, unknown> = {}) => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name, ...extra }, spec: { trustDomain: 'example.org', dnsDomain } });

describe('the control plane API', () => {
  let cp: ControlPlaneProcess;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(cp.url + path, { method, headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, headers: res.headers, json: (await res.json()) as any };
  };

  before(async () => {
    cp = await startControlPlane({ args: ['--trust-domain', 'example.org'] });
  });
  after(() => cp.stop());

  test('the admin token is made at first start into DATADIR/admin-token, mode 0600; without it, 401', async () => {
    assert.equal(statSync(join(cp.dataDir, 'admin-token')).mode & 0o777, 0o600);
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${cp.token}`, `Bearer ${cp.token}x`]) {
      const res = await fetch(cp.url + MESHES, { headers: authorization === undefined ? {} : { authorization } });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="sluice"');
      assert.equal(((await res.json()) as any).reason, 'UNAUTHORIZED');
    }
    assert.equal((await fetch(`${cp.url}/healthz`)).status, 200);
  });

  test('create, get, list, update, delete, with server-owned metadata', async () => {
    const created = await call('POST', MESHES, mesh('crud'));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const meta = created.json.metadata;
    assert.match(meta.uid, /^[0-9a-f-]{36}$/);
    assert.equal(meta.generation, 1);
    assert.ok(Number(meta.resourceVersion) > 0);
    assert.ok(!Number.isNaN(Date.parse(meta.creationTimestamp)));
    assert.deepEqual((await call('GET', `${MESHES}/crud`)).json, created.json);
    const list = await call('GET', MESHES);
    assert.equal(list.json.kind, 'MeshList');
    assert.ok(list.json.items.some((m: any) => m.metadata.name === 'crud'));
    assert.ok(Number(list.json.metadata.resourceVersion) >= Number(meta.resourceVersion));

    const updated = await call('PUT', `${MESHES}/crud`, { ...mesh('crud', 'other.org'), metadata: { name: 'crud', uid: 'forged', resourceVersion: meta.resourceVersion } });
    assert.equal(updated.status, 200, JSON.stringify(updated.json));
    assert.equal(updated.json.metadata.uid, meta.uid, 'the uid is the server\'s');
    assert.equal(updated.json.metadata.generation, 2);
    assert.equal(updated.json.spec.dnsDomain, 'other.org');
    const same = await call('PUT', `${MESHES}/crud`, mesh('crud', 'other.org'));
    assert.equal(same.json.metadata.resourceVersion, updated.json.metadata.resourceVersion, 'a write that changes nothing makes no revision');

    const deleted = await call('DELETE', `${MESHES}/crud`);
    assert.equal(deleted.status, 200);
    assert.equal(deleted.json.spec.dnsDomain, 'other.org');
    const gone = await call('GET', `${MESHES}/crud`);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.reason, 'NOT_FOUND');
    assert.equal((await call('DELETE', `${MESHES}/crud`)).status, 404);
    assert.equal((await call('PUT', `${MESHES}/crud`, mesh('crud'))).status, 404, 'PUT never creates');
  });

  test('422 lists every violation with its field path, and nothing is stored', async () => {
    const bad = { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'bad', labels: { 'no spaces': 'x' } }, spec: { trustDomain: 'UPPER', mtls: { mode: 'STRIC' }, dnsDomian: 'x' } };
    const r = await call('POST', MESHES, bad);
    assert.equal(r.status, 422);
    assert.equal(r.json.kind, 'Status');
    assert.equal(r.json.reason, 'INVALID');
    assert.match(r.json.message, /Mesh "bad" is invalid: 3 problems/);
    assert.deepEqual(
      r.json.details.causes.map((c: any) => c.field).sort(),
      ['metadata.labels["no spaces"]', 'spec.dnsDomian', 'spec.mtls.mode'],
    );
    assert.equal((await call('GET', `${MESHES}/bad`)).status, 404);
  });

  test("a Mesh whose trustDomain is not the CA's is refused with both names, and nothing is stored", async () => {
    const r = await call('POST', MESHES, { ...mesh('foreign'), spec: { trustDomain: 'other.org' } });
    assert.equal(r.status, 422, JSON.stringify(r.json));
    assert.equal(r.json.reason, 'INVALID');
    assert.deepEqual(r.json.details.causes.map((c: any) => c.field), ['spec.trustDomain']);
    assert.match(r.json.details.causes[0].message, /'other\.org' is not the trust domain of this control plane's CA \('example\.org'\)/);
    assert.equal((await call('GET', `${MESHES}/foreign`)).status, 404);
    assert.equal((await call('POST', `${MESHES}?dryRun=All`, { ...mesh('foreign'), spec: { trustDomain: 'other.org' } })).status, 422, 'a dry run says the same');
  });

  // What the API accepts is what every joined proxy enforces: the rest is refused, never stored and ignored.
  test('a valid resource that joined proxies would not enforce is refused with the field and why, and nothing is stored', async () => {
    const ns = '/apis/mesh.sluice.dev/v1alpha1/namespaces/shop';
    const policy = (kind: string, plural: string, spec: object) => call('POST', `${ns}/${plural}`, { apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: { name: 'p' }, spec });
    const target = { targetRefs: [{ kind: 'Service', name: 'orders' }] };
    // Every policy kind is carried: what is refused is a field Envoy's own fields cannot say.
    const routes = '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes';
    const route = (spec: object) => call('POST', routes, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec });
    const parent = { parentRefs: [{ group: '', kind: 'Service', name: 'orders', port: 80 }] };
    const backend = { backendRefs: [{ name: 'orders', port: 80 }] };
    const refused = await route({
      parentRefs: [{ group: '', kind: 'Service', name: 'orders', namespace: 'billing', port: 80 }],
      hostnames: ['orders.example.com'],
      rules: [{ backendRefs: [{ name: 'orders', port: 80, filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x.internal' } }] }], timeouts: { backendRequest: '1s' } }],
    });
    assert.equal(refused.status, 422, JSON.stringify(refused.json));
    assert.deepEqual(refused.json.details.causes.map((c: any) => c.field).sort(), ['spec.hostnames', 'spec.rules[0].backendRefs[0].filters[0].type'], 'a parent in another namespace (a GAMMA consumer route) is carried');
    assert.equal((await call('GET', `${routes}/r`)).status, 404);
    // The same route without what is not carried is accepted; both timeouts and a rule's filters are carried.
    const filters = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }] } }];
    assert.equal((await route({ ...parent, rules: [{ ...backend, filters, timeouts: { request: '2s', backendRequest: '1s' } }] })).status, 201);
    // A consumer route: its parent is a Service in another namespace.
    const consumer = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'to-billing' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'ledger', namespace: 'billing', port: 80 }], rules: [backend] } };
    assert.equal((await call('POST', routes, consumer)).status, 201);
    // A RetryPolicy is carried, but for the budget fields Envoy's retry_budget cannot say.
    const retry = await policy('RetryPolicy', 'retrypolicies', { ...target, attempts: 2, budget: { percent: 150, ttl: '30s' } });
    assert.equal(retry.status, 422, JSON.stringify(retry.json));
    assert.deepEqual(retry.json.details.causes.map((c: any) => c.field), ['spec.budget.ttl', 'spec.budget.percent']);
    assert.equal((await call('GET', `${ns}/retrypolicies/p`)).status, 404);
    assert.equal((await policy('RetryPolicy', 'retrypolicies', { ...target, attempts: 2, budget: { percent: 50, minRetriesPerSecond: 5 } })).status, 201);
    // A RequestAuthentication is carried as jwt_authn, but for what Envoy's fields say otherwise: clock skew in whole seconds, dotted claim names.
    const jwtRule = { issuer: 'https://sso.example.com', jwksUri: 'https://sso.example.com/certs' };
    const ra = await policy('RequestAuthentication', 'requestauthentications', { ...target, jwtRules: [{ ...jwtRule, clockSkew: '1500ms', outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }, { header: 'x-roles', claim: 'realm_access.roles' }] }] });
    assert.equal(ra.status, 422, JSON.stringify(ra.json));
    assert.deepEqual(ra.json.details.causes.map((c: any) => c.field), ['spec.jwtRules[0].clockSkew', 'spec.jwtRules[0].outputClaimToHeaders[1].claim']);
    assert.equal((await call('GET', `${ns}/requestauthentications/p`)).status, 404);
    assert.equal((await policy('RequestAuthentication', 'requestauthentications', { ...target, jwtRules: [{ ...jwtRule, clockSkew: '2s', outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }] }] })).status, 201);
    // An AuthorizationPolicy is carried whole, what reads the verified JWT included.
    const jwt = await policy('AuthorizationPolicy', 'authorizationpolicies', { ...target, rules: [{ from: [{ identities: ['*'] }, { requestPrincipals: ['https://sso.example.com/alice'], notRequestPrincipals: ['https://sso.example.com/bob'] }] }, { when: [{ claim: 'role', values: ['admin'] }] }] });
    assert.equal(jwt.status, 201, JSON.stringify(jwt.json));
    assert.equal((await call('DELETE', `${ns}/authorizationpolicies/p`)).status, 200);
    assert.equal((await policy('AuthorizationPolicy', 'authorizationpolicies', { ...target, rules: [] })).status, 201);
    // A CircuitBreakerPolicy is carried whole, on the Service's clusters; a route has no cluster of its own, so a route target is invalid.
    assert.equal((await policy('CircuitBreakerPolicy', 'circuitbreakerpolicies', { ...target, limits: { maxActiveRequests: 2 }, outlierDetection: { consecutive5xx: 3 }, healthCheck: { path: '/healthz' } })).status, 201);
    const onRoute = await call('POST', `${ns}/circuitbreakerpolicies`, { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'CircuitBreakerPolicy', metadata: { name: 'r' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' }] } });
    assert.equal(onRoute.status, 422, JSON.stringify(onRoute.json));
    assert.deepEqual(onRoute.json.details.causes.map((c: any) => [c.field, c.message]), [['spec.targetRefs[0].kind', 'a CircuitBreakerPolicy targets Service only: its limits and health checks are kept per destination service; got HTTPRoute']]);
    // A LoadBalancingPolicy is carried whole.
    assert.equal((await policy('LoadBalancingPolicy', 'loadbalancingpolicies', { ...target, type: 'Maglev', hashOn: { type: 'Cookie', name: 'sid' }, failoverThreshold: 60 })).status, 201);
    // A FaultInjectionPolicy is carried, but for what Envoy's fault filter cannot say: one abort status per kind of request, a 0s delay.
    const onRouteOf = (kind: string) => ({ targetRefs: [{ kind, group: 'gateway.networking.k8s.io', name: 'r' }] });
    const grpcOnHttp = await policy('FaultInjectionPolicy', 'faultinjectionpolicies', { ...onRouteOf('HTTPRoute'), abort: { grpcStatus: 14 }, delay: { fixedDelay: '0s' } });
    assert.equal(grpcOnHttp.status, 422, JSON.stringify(grpcOnHttp.json));
    assert.deepEqual(grpcOnHttp.json.details.causes.map((c: any) => c.field), ['spec.abort.grpcStatus', 'spec.delay.fixedDelay']);
    const both = await policy('FaultInjectionPolicy', 'faultinjectionpolicies', { ...onRouteOf('GRPCRoute'), abort: { grpcStatus: 14, httpStatus: 500 } });
    assert.deepEqual(both.json.details.causes.map((c: any) => c.field), ['spec.abort.httpStatus']);
    assert.equal((await call('GET', `${ns}/faultinjectionpolicies/p`)).status, 404);
    assert.equal((await policy('FaultInjectionPolicy', 'faultinjectionpolicies', { ...onRouteOf('HTTPRoute'), abort: { httpStatus: 503, percent: 10 }, delay: { fixedDelay: '1s' } })).status, 201);
  });

  test('409: a name taken, a stale resourceVersion; of 20 racing updates from one version exactly one wins', async () => {
    const created = await call('POST', MESHES, mesh('race'));
    assert.equal((await call('POST', MESHES, mesh('race'))).json.reason, 'ALREADY_EXISTS');
    const rv = created.json.metadata.resourceVersion;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call('PUT', `${MESHES}/race`, mesh('race', `t${i}.example.org`, { resourceVersion: rv }))));
    const codes = results.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, ...Array(19).fill(409)]);
    for (const r of results.filter((r) => r.status === 409)) assert.equal(r.json.reason, 'CONFLICT');
    const winner = results.find((r) => r.status === 200)!.json.spec.dnsDomain;
    assert.equal((await call('GET', `${MESHES}/race`)).json.spec.dnsDomain, winner);
  });

  test('dryRun=All validates and answers without storing', async () => {
    const dry = await call('POST', `${MESHES}?dryRun=All`, mesh('dry'));
    assert.equal(dry.status, 201);
    assert.equal(dry.json.metadata.uid, undefined);
    assert.equal((await call('GET', `${MESHES}/dry`)).status, 404);
    assert.equal((await call('POST', `${MESHES}?dryRun=All`, { ...mesh('dry'), spec: {} })).status, 422);
  });

  test("status is the control plane's: computed and served on GET and list, a client's ignored, observedGeneration following the spec's generation", async () => {
    const ROUTES = '/apis/gateway.networking.k8s.io/v1/namespaces/st/httproutes';
    const SERVICES = '/api/v1/namespaces/st/services';
    const forged = { conditions: [{ type: 'Accepted', status: 'True', reason: 'Forged', message: 'from the client', observedGeneration: 9, lastTransitionTime: '2000-01-01T00:00:00Z' }] };
    assert.equal((await call('POST', SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } })).status, 201);
    const route = (backend: string, labels: Record<string, string> = {}) => ({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', labels },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }], rules: [{ backendRefs: [{ name: backend, port: 80 }] }] }, status: forged,
    });
    const created = await call('POST', ROUTES, route('wbe'));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.status, undefined, "a client's status is not stored");
    // The status follows the store within a view rebuild: poll, bounded.
    const resolved = async (reason: string, generation: number) => {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
        const got = (await call('GET', `${ROUTES}/web`)).json;
        const c = got.status?.conditions?.find((x: any) => x.type === 'ResolvedRefs');
        if (c?.reason === reason && c.observedGeneration === generation) return { got, c };
      }
      return assert.fail(`ResolvedRefs ${reason} at generation ${generation} not served in 10 s`);
    };
    const first = await resolved('BackendNotFound', 1);
    assert.equal(first.c.status, 'False');
    assert.match(first.c.message, /Service st\/wbe does not exist/);
    assert.ok(!JSON.stringify(first.got).includes('Forged'));
    const listed = (await call('GET', ROUTES)).json.items[0];
    assert.deepEqual(listed.status, first.got.status, 'list serves the same status');
    // A label is no spec change: generation 1, and the condition keeps its time.
    const relabeled = await call('PUT', `${ROUTES}/web`, route('wbe', { team: 'a' }));
    assert.equal(relabeled.json.metadata.generation, 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await resolved('BackendNotFound', 1)).c.lastTransitionTime, first.c.lastTransitionTime);
    const fixed = await call('PUT', `${ROUTES}/web`, route('web'));
    assert.equal(fixed.json.metadata.generation, 2);
    const second = await resolved('ResolvedRefs', 2);
    assert.equal(second.c.status, 'True');
    assert.notEqual(second.c.lastTransitionTime, first.c.lastTransitionTime);
  });

  test('bad requests: unknown paths, wrong kind or name in the body, bad JSON, YAML bodies, oversize bodies', async () => {
    assert.equal((await call('GET', '/apis/mesh.sluice.dev/v1alpha1/meshs')).json.message.includes("serves no 'v1alpha1/meshs'"), true);
    assert.equal((await call('GET', '/apis/mesh.sluice.dev/v1alpha1/namespaces/x/meshes')).status, 404);
    assert.equal((await call('PUT', `${MESHES}/a`, mesh('b'))).status, 400);
    assert.equal((await call('POST', MESHES, { ...mesh('k'), kind: 'Workload' })).status, 400);
    const badJson = await call('POST', MESHES, '{"apiVersion":');
    assert.equal(badJson.status, 400);
    assert.match(badJson.json.message, /not valid JSON/);
    const yaml = await call('POST', MESHES, 'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: {name: from-yaml}\nspec: {trustDomain: example.org, dnsDomain: y.org}\n', { 'content-type': 'application/yaml' });
    assert.equal(yaml.status, 201);
    const big = await call('POST', MESHES, { ...mesh('big'), metadata: { name: 'big', annotations: { a: 'x'.repeat(4 * 1024 * 1024) } } });
    assert.equal(big.status, 413);
    assert.equal((await call('PATCH', `${MESHES}/from-yaml`, {})).status, 405);
  });

  test('a watch streams every change after its resourceVersion, one JSON event per line', async () => {
    const start = (await call('GET', MESHES)).json.metadata.resourceVersion;
    const controller = new AbortController();
    const res = await fetch(`${cp.url}${MESHES}?watch=true&resourceVersion=${start}`, { headers: { authorization: `Bearer ${cp.token}` }, signal: controller.signal });
    assert.equal(res.status, 200);
    await call('POST', MESHES, mesh('w1'));
    await call('PUT', `${MESHES}/w1`, mesh('w1', 'changed.org'));
    await call('DELETE', `${MESHES}/w1`);
    const events: any[] = [];
    let text = '';
    for await (const chunk of res.body!) {
      text += Buffer.from(chunk).toString('utf8');
      const lines = text.split('\n');
      text = lines.pop()!;
      events.push(...lines.map((l) => JSON.parse(l)));
      if (events.length >= 3) break;
    }
    controller.abort();
    assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    const revs = events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual([...revs].sort((a, b) => a - b), revs);
  });
});

test('off loopback the API is HTTPS with the control plane\'s own certificate, trusted through DATADIR/ca/bundle.pem', async () => {
  const cp = await startControlPlane({ args: ['--api-addr', '0.0.0.0:0'] });
  try {
    assert.match(cp.url, /^https:\/\//);
    const port = new URL(cp.url).port;
    const ca = readFileSync(join(cp.dataDir, 'ca', 'bundle.pem'), 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    const { fetch: undiciFetch } = await import('undici');
    const ok = await undiciFetch(`https://127.0.0.1:${port}/version`, { dispatcher, headers: { authorization: `Bearer ${cp.token}` } });
    assert.equal(ok.status, 200);
    assert.match(((await ok.json()) as any).version, /^\d+\.\d+\.\d+/);
    await assert.rejects(undiciFetch(`https://127.0.0.1:${port}/version`), (err: Error) => /certificate/i.test(String((err.cause as Error)?.message ?? err.message)));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/version`));
    await dispatcher.close();
  } finally {
    await cp.stop();
  }
});
