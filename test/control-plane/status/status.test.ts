// The status the control plane computes for each resource, from a MeshView and the ADS
// streams' states: every reason of every condition, and the book that keeps
// lastTransitionTime while a condition's status holds.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { StatusBook, type Computed } from '../../../control-plane/status/conditions.ts';
import { StatusController } from '../../../control-plane/status/index.ts';
import { meshStatus } from '../../../control-plane/status/mesh-status.ts';
import { workloadStatus } from '../../../control-plane/status/workload-status.ts';
import { buildMeshView, type MeshInputs } from '../../../control-plane/xds/mesh-view.ts';
import type { ProxyStatus } from '../../../control-plane/xds/proxy-status.ts';

let uid = 0;
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'shop', uid: `uid-${name}-${++uid}`, generation: 1, creationTimestamp: `2026-01-01T00:00:${String(uid % 60).padStart(2, '0')}Z`, ...extra });
const service = (name: string, selector?: Record<string, string>): Resource => ({ apiVersion: 'v1', kind: 'Service', metadata: meta(name), spec: { ...(selector === undefined ? {} : { selector }), ports: [{ name: 'http', port: 80 }] } });
const workload = (name: string, labels: Record<string, string>): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta(name, { labels }), spec: { address: '10.0.0.1', ports: { http: 8080 } } });
const route = (name: string, parent: string, backends: { name: string; port?: number; weight?: number }[]): Resource => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta(name),
  spec: { parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }], rules: [{ name: 'all', backendRefs: backends.map((b) => ({ port: 80, ...b })) }] },
});
const policy = (kind: 'RetryPolicy' | 'AuthorizationPolicy', name: string, targetRefs: object[]): Resource => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind, metadata: meta(name), spec: { targetRefs, ...(kind === 'RetryPolicy' ? { attempts: 1 } : { action: 'ALLOW', rules: [{}] }) } });

function view(resources: Resource[]) {
  const of = (kind: string) => resources.filter((r) => r.kind === kind) as never;
  const input: MeshInputs = {
    revision: 1, meshes: [], services: of('Service'), workloads: of('Workload'), httpRoutes: of('HTTPRoute'), grpcRoutes: [],
    retryPolicies: of('RetryPolicy'), authorizationPolicies: of('AuthorizationPolicy'), trustBundle: 'pem', defaultTrustDomain: 'cluster.local',
  };
  return buildMeshView(input);
}

const cond = (m: Map<string, Computed>, key: string, type: string) => {
  const c = m.get(key)?.conditions.find((x) => x.type === type);
  assert.ok(c !== undefined, `${key} has a ${type} condition`);
  return { status: c.status, reason: c.reason, message: c.message };
};

describe('routes', () => {
  test("Accepted and ResolvedRefs are True when the parent and every backend exist", () => {
    const m = meshStatus(view([service('orders', { app: 'orders' }), route('web', 'orders', [{ name: 'orders' }])]));
    assert.equal(cond(m, 'HTTPRoute/shop/web', 'Accepted').reason, 'Accepted');
    assert.deepEqual(cond(m, 'HTTPRoute/shop/web', 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs', message: 'every backendRef names a Service port that exists' });
  });

  test("a backendRef to a Service that does not exist is ResolvedRefs=False BackendNotFound, naming it and saying its share is answered 500", () => {
    const m = meshStatus(view([service('orders', { app: 'orders' }), route('web', 'orders', [{ name: 'orders', weight: 50 }, { name: 'ordres', weight: 50 }])]));
    assert.deepEqual(cond(m, 'HTTPRoute/shop/web', 'ResolvedRefs'), {
      status: 'False',
      reason: 'BackendNotFound',
      message: 'spec.rules[0].backendRefs[1]: Service shop/ordres does not exist; its share of the calls is answered 500',
    });
    assert.equal(cond(m, 'HTTPRoute/shop/web', 'Accepted').status, 'True', 'the route still routes');
  });

  test('a backendRef to a port the Service does not have is BackendNotFound too', () => {
    const m = meshStatus(view([service('orders', { app: 'orders' }), route('web', 'orders', [{ name: 'orders', port: 8080 }])]));
    assert.match(cond(m, 'HTTPRoute/shop/web', 'ResolvedRefs').message, /Service shop\/orders has no TCP port 8080/);
  });

  test('a parent Service that does not exist is Accepted=False NoMatchingParent', () => {
    const m = meshStatus(view([route('web', 'nowhere', [])]));
    assert.deepEqual(cond(m, 'HTTPRoute/shop/web', 'Accepted'), { status: 'False', reason: 'NoMatchingParent', message: 'spec.parentRefs[0]: Service shop/nowhere does not exist' });
  });
});

describe('policies', () => {
  test('a policy whose targets exist is Accepted, and shows on its Service and route', () => {
    const m = meshStatus(view([service('orders', { app: 'orders' }), route('web', 'orders', [{ name: 'orders' }]), policy('RetryPolicy', 'r', [{ kind: 'Service', name: 'orders' }, { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'web', sectionName: 'all' }])]));
    assert.deepEqual(cond(m, 'RetryPolicy/shop/r', 'Accepted'), { status: 'True', reason: 'Accepted', message: 'applies to Service/orders, HTTPRoute/web#all' });
    assert.deepEqual(m.get('Service/shop/orders')?.fields?.policies, ['RetryPolicy/r']);
    assert.deepEqual(m.get('HTTPRoute/shop/web')?.fields?.policies, ['RetryPolicy/r (rule all)']);
  });

  test('a target that does not exist (a Service, a route, a rule name) is Accepted=False TargetNotFound', () => {
    const m = meshStatus(view([
      route('web', 'orders', []),
      policy('AuthorizationPolicy', 'a', [{ kind: 'Service', name: 'ordres' }]),
      policy('RetryPolicy', 'r', [{ kind: 'HTTPRoute', name: 'web', sectionName: 'nope' }, { kind: 'GRPCRoute', name: 'rpc' }]),
    ]));
    assert.deepEqual(cond(m, 'AuthorizationPolicy/shop/a', 'Accepted'), { status: 'False', reason: 'TargetNotFound', message: 'Service/ordres: Service shop/ordres does not exist' });
    assert.deepEqual(cond(m, 'RetryPolicy/shop/r', 'Accepted'), {
      status: 'False',
      reason: 'TargetNotFound',
      message: "HTTPRoute/web#nope: HTTPRoute shop/web has no rule named 'nope'; GRPCRoute/rpc: GRPCRoute shop/rpc does not exist",
    });
  });

  test('two RetryPolicies on one target: the older holds it, the newer is Accepted=False Conflicted naming it', () => {
    const older = policy('RetryPolicy', 'older', [{ kind: 'Service', name: 'orders' }]);
    const newer = policy('RetryPolicy', 'newer', [{ kind: 'Service', name: 'orders' }]);
    const m = meshStatus(view([service('orders', { app: 'orders' }), newer, older]));
    assert.equal(cond(m, 'RetryPolicy/shop/older', 'Accepted').reason, 'Accepted');
    assert.deepEqual(cond(m, 'RetryPolicy/shop/newer', 'Accepted'), { status: 'False', reason: 'Conflicted', message: 'Service/orders: RetryPolicy shop/older (older) holds it, so this one does not apply there' });
    assert.deepEqual(m.get('Service/shop/orders')?.fields?.policies, ['RetryPolicy/older']);
  });

  test('two AuthorizationPolicies on one target both apply: neither is Conflicted', () => {
    const m = meshStatus(view([service('orders', { app: 'orders' }), policy('AuthorizationPolicy', 'a', [{ kind: 'Service', name: 'orders' }]), policy('AuthorizationPolicy', 'b', [{ kind: 'Service', name: 'orders' }])]));
    for (const p of ['a', 'b']) assert.equal(cond(m, `AuthorizationPolicy/shop/${p}`, 'Accepted').reason, 'Accepted');
  });
});

describe('Services', () => {
  test('a Service counts and names the Workloads it selects, and lists its routes; none selected or no selector is WorkloadsSelected=False', () => {
    const m = meshStatus(view([
      service('orders', { app: 'orders' }), service('empty', { app: 'none' }), service('manual'),
      workload('o-2', { app: 'orders' }), workload('o-1', { app: 'orders' }), workload('other', { app: 'x' }),
      route('web', 'orders', [{ name: 'orders' }]),
    ]));
    const orders = m.get('Service/shop/orders')!;
    assert.deepEqual(orders.fields, { selectedWorkloads: 2, workloads: ['o-1', 'o-2'], routes: ['HTTPRoute/web'], policies: [] });
    assert.deepEqual(cond(m, 'Service/shop/orders', 'WorkloadsSelected'), { status: 'True', reason: 'WorkloadsSelected', message: 'selects 2 Workloads' });
    assert.equal(cond(m, 'Service/shop/empty', 'WorkloadsSelected').reason, 'NoWorkloads');
    assert.equal(cond(m, 'Service/shop/manual', 'WorkloadsSelected').reason, 'NoSelector');
  });
});

describe('Workloads', () => {
  const v = view([service('orders', { app: 'orders' }), workload('o-1', { app: 'orders' })]);
  const synced = { state: 'SYNCED', version: 'v', sent: 'v', acked: 'v', resources: 'all' } as const;
  const proxy = (status: 'CONNECTED' | 'OFFLINE', types: ProxyStatus['types']): ProxyStatus => ({
    id: 'o-1.shop', status, ...(status === 'OFFLINE' ? { lastSeen: '2026-01-01T01:00:00.000Z' } : {}), kind: 'proxy', peer: '127.0.0.1:1', connectedAt: '2026-01-01T00:00:00.000Z', userAgent: 'sluice-proxy', types,
  });
  const states = (proxies: ProxyStatus[]) => {
    const c = workloadStatus(v, proxies).get('Workload/shop/o-1')!;
    return { conditions: c.conditions.map((x) => `${x.type}=${x.status} ${x.reason}`), proxies: (c.fields?.proxies as { state: string }[]).map((p) => p.state) };
  };

  test('never joined; connected and holding the current config; a NACK; not yet ACKed; left', () => {
    assert.deepEqual(states([]), { conditions: ['InSync=False NeverConnected', 'Connected=False NeverConnected'], proxies: [] });
    assert.deepEqual(states([proxy('CONNECTED', { Listener: synced, Cluster: synced })]), { conditions: ['InSync=True Synced', 'Connected=True Connected'], proxies: ['SYNCED'] });
    const nack = { ...synced, state: 'NACKED' as const, nack: { version: 'v', message: 'Cluster x: bad', at: '2026-01-01T00:00:01.000Z' } };
    assert.deepEqual(states([proxy('CONNECTED', { Listener: synced, Cluster: nack })]), { conditions: ['InSync=False Nacked', 'Connected=True Connected'], proxies: ['NACKED'] });
    assert.match(workloadStatus(v, [proxy('CONNECTED', { Cluster: nack })]).get('Workload/shop/o-1')!.conditions[0].message, /Cluster x: bad/);
    assert.deepEqual(states([proxy('CONNECTED', { Listener: { ...synced, state: 'STALE' } })]), { conditions: ['InSync=False Stale', 'Connected=True Connected'], proxies: ['STALE'] });
    assert.deepEqual(states([proxy('OFFLINE', { Listener: synced })]), { conditions: ['InSync=False Offline', 'Connected=False Offline'], proxies: ['OFFLINE'] });
  });

  test('a Workload lists the Services that select it', () => {
    assert.deepEqual(workloadStatus(v, []).get('Workload/shop/o-1')!.fields?.services, ['Service/orders']);
  });
});

describe('the status book', () => {
  const input = (status: 'True' | 'False', generation = 1, uid = 'u1'): Map<string, Computed> =>
    new Map([['HTTPRoute/shop/web', { uid, generation, conditions: [{ type: 'ResolvedRefs', status, reason: status === 'True' ? 'ResolvedRefs' : 'BackendNotFound', message: 'm' }] }]]);
  const all = () => true;

  test("lastTransitionTime changes only when a condition's status does; observedGeneration is the spec's generation", () => {
    const book = new StatusBook();
    book.apply(input('True'), Date.parse('2026-01-01T00:00:00Z'), all);
    book.apply(input('True', 2), Date.parse('2026-01-01T00:05:00Z'), all);
    let c = book.get('HTTPRoute', 'shop', 'web', 'u1')!.conditions[0];
    assert.equal(c.lastTransitionTime, '2026-01-01T00:00:00.000Z', 'recomputed, same status: the time stays');
    assert.equal(c.observedGeneration, 2);
    book.apply(input('False', 3), Date.parse('2026-01-01T00:10:00Z'), all);
    c = book.get('HTTPRoute', 'shop', 'web', 'u1')!.conditions[0];
    assert.deepEqual([c.status, c.reason, c.lastTransitionTime, c.observedGeneration], ['False', 'BackendNotFound', '2026-01-01T00:10:00.000Z', 3]);
  });

  test('a resource deleted is forgotten; one re-created under the same name (another uid) starts afresh', () => {
    const book = new StatusBook();
    book.apply(input('True'), 0, all);
    assert.equal(book.get('HTTPRoute', 'shop', 'web', 'other-uid'), undefined);
    book.apply(new Map(), 1000, all);
    assert.equal(book.get('HTTPRoute', 'shop', 'web', 'u1'), undefined);
    book.apply(input('True', 1, 'u2'), 2000, all);
    assert.equal(book.get('HTTPRoute', 'shop', 'web', 'u2')!.conditions[0].lastTransitionTime, '1970-01-01T00:00:02.000Z');
  });
});

test('the controller recomputes Workloads on proxy events without touching the other statuses', () => {
  let now = 0;
  let proxies: ProxyStatus[] = [];
  const ctl = new StatusController({ now: () => now, proxies: () => proxies });
  const v = view([service('orders', { app: 'orders' }), workload('o-1', { app: 'orders' }), route('web', 'orders', [{ name: 'gone' }])]);
  ctl.viewChanged(v);
  const w = [...v.workloads.values()][0];
  const r = v.httpRoutes[0];
  assert.equal((ctl.statusOf(w)!.conditions[1] as { reason: string }).reason, 'NeverConnected');
  now = 5000;
  proxies = [{ id: 'o-1.shop', status: 'CONNECTED', kind: 'proxy', peer: 'p', connectedAt: '1970-01-01T00:00:05.000Z', userAgent: '', types: { Listener: { state: 'SYNCED', version: 'v', sent: 'v', acked: 'v', resources: 'all' } } }];
  ctl.refreshWorkloads();
  const connected = ctl.statusOf(w)!.conditions[1];
  assert.deepEqual([connected.reason, connected.lastTransitionTime], ['Connected', '1970-01-01T00:00:05.000Z']);
  assert.equal(ctl.statusOf(r)!.conditions[1].lastTransitionTime, '1970-01-01T00:00:00.000Z', "the route's status is the view's");
  assert.equal(ctl.statusOf({ ...r, metadata: { ...r.metadata, uid: 'another' } }), undefined);
  ctl.close();
});

test('a view that only changes routes does not read every proxy before the push goes on: Workloads are recomputed once the burst settles', async () => {
  let reads = 0;
  const ctl = new StatusController({ now: () => 0, proxies: () => (reads++, []), settleMs: 20 });
  const [svc, wl] = [service('orders', { app: 'orders' }), workload('o-1', { app: 'orders' })];
  const v = view([svc, wl]);
  ctl.viewChanged(v);
  assert.equal(reads, 1, 'a Workload without a status yet gets one at once');
  const w = [...v.workloads.values()][0];
  assert.notEqual(ctl.statusOf(w), undefined);
  ctl.viewChanged(view([svc, wl, route('web', 'orders', [{ name: 'orders' }])]));
  assert.equal(reads, 1, 'a route change reads no proxy synchronously');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(reads, 2, 'and the Workloads are recomputed after the settle');
  ctl.close();
});

test('Workloads are recomputed once proxy events stop for settleMs, or maxSettleMs after the first when they never stop', async () => {
  let reads = 0;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const ctl = new StatusController({ now: () => 0, proxies: () => (reads++, []), settleMs: 300, maxSettleMs: 1000 });
  ctl.viewChanged(view([service('orders', { app: 'orders' })]));
  reads = 0;
  // A burst of ACKs 10 ms apart for 600 ms, longer than settleMs: nothing is read while it lasts (the 300 ms quiet leaves room for a slow timer).
  for (let i = 0; i < 60; i++) {
    ctl.proxiesChanged();
    await sleep(10);
  }
  assert.equal(reads, 0, 'not while the burst goes on');
  await sleep(700);
  assert.equal(reads, 1, 'once, after it stopped');
  // Events that never stop still get a recompute, at maxSettleMs.
  const t0 = performance.now();
  while (reads === 1 && performance.now() - t0 < 3000) {
    ctl.proxiesChanged();
    await sleep(10);
  }
  assert.equal(reads, 2);
  ctl.close();
});

test('every policy kind the xDS generators carry has its Accepted condition: a kind in POLICIES without a status row would be enforced and never say so', async () => {
  const { POLICIES } = await import('../../../control-plane/xds/policies/index.ts');
  const { POLICY_KINDS } = await import('../../../control-plane/status/mesh-status.ts');
  // The Mesh's own settings (its tracing) are no policy with targets: checked whole at apply, and carried to every proxy.
  assert.deepEqual(POLICY_KINDS.map((k) => k.kind).sort(), POLICIES.map((p) => p.kind).filter((k) => k !== 'Mesh').sort());
});
