// The interop test with a client nobody here wrote: a real @grpc/grpc-js-xds client,
// bootstrapped by `sluicectl bootstrap grpc`, finds gRPC servers registered as Workloads
// through sluice-cp's plaintext xDS port, and follows a GRPCRoute split applied (and then
// changed) with sluicectl, a RetryPolicy and a LoadBalancingPolicy.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { sluicectl } from '../cli/harness.ts';
import { GREETER, startGreeter, type Greeter } from './greeter.ts';

let cp: ControlPlaneProcess;
let servers: Greeter[] = [];
type Reply = (err: grpc.ServiceError | null, res?: { from: string }) => void;
let client: grpc.Client & { SayHello: ((req: object, cb: Reply) => void) & ((req: object, md: grpc.Metadata, cb: Reply) => void) & ((req: object, md: grpc.Metadata, options: grpc.CallOptions, cb: Reply) => void) };

const apply = async (yaml: string) => {
  const r = await sluicectl(['apply', '-f', '-'], { stdin: yaml, env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
  assert.equal(r.code, 0, r.stderr);
  return r;
};

const call = () =>
  new Promise<string>((resolve, reject) => client.SayHello({ name: 'mesh' }, (err, res) => (err !== null ? reject(err) : resolve(res!.from))));

async function counts(n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const from = await call();
    seen[from] = (seen[from] ?? 0) + 1;
  }
  return seen;
}

/** Calls until `ok(counts of the last `window` calls)` holds, or fails after `limit` calls. */
async function until(ok: (seen: Record<string, number>) => boolean, window = 20, limit = 60): Promise<Record<string, number>> {
  for (let tries = 0; tries < limit / window; tries++) {
    const seen = await counts(window);
    if (ok(seen)) return seen;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`traffic did not follow the config within ${limit} calls`);
}

const route = (v1: number, v2: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-split }
spec:
  parentRefs: [{ group: "", kind: Service, name: greeter, port: 50051 }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter } }]
      backendRefs:
        - { name: greeter-v1, port: 50051, weight: ${v1} }
        - { name: greeter-v2, port: 50051, weight: ${v2} }
`;

before(async () => {
  cp = await startControlPlane();
  servers = await Promise.all(['v1', 'v2'].map((v) => startGreeter(`greeter-${v}`)));
  const services = ['greeter', 'greeter-v1', 'greeter-v2'].map((name) => {
    const selector = name === 'greeter' ? '{ app: greeter }' : `{ app: greeter, version: ${name.slice(-2)} }`;
    return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  selector: ${selector}\n  ports: [{ name: grpc, port: 50051, appProtocol: grpc }]\n`;
  });
  const workloads = servers.map(
    (s) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${s.name}, labels: { app: greeter, version: ${s.name.slice(-2)} } }\nspec: { address: 127.0.0.1, ports: { grpc: ${s.port} }, zone: dc-1 }\n`,
  );
  await apply([...services, ...workloads].join('---\n'));

  const bootstrap = await sluicectl(['bootstrap', 'grpc', '--node-id', 'proxyless-test', '--xds-address', cp.xdsPlaintext!, '--zone', 'dc-1']);
  assert.equal(bootstrap.code, 0, bootstrap.stderr);
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = bootstrap.stdout;
  (await import('@grpc/grpc-js-xds')).register();
  const Client = grpc.makeGenericClientConstructor(GREETER, 'Greeter');
  client = new Client('xds:///greeter.default.svc.cluster.local:50051', grpc.credentials.createInsecure()) as unknown as typeof client;
});

after(async () => {
  client?.close();
  await Promise.all(servers.map((s) => s.stop()));
  await cp?.stop();
});

test('a proxyless gRPC client reaches every Workload a Service selects, through the Listener named as it dials', async () => {
  const seen = await until((s) => (s['greeter-v1'] ?? 0) > 0 && (s['greeter-v2'] ?? 0) > 0);
  assert.equal((seen['greeter-v1'] ?? 0) + (seen['greeter-v2'] ?? 0), 20);
});

test('a GRPCRoute split applied with sluicectl moves its traffic, and a change to it moves it again', async () => {
  await apply(route(0, 100));
  await until((s) => s['greeter-v2'] === 20);
  await apply(route(75, 25));
  const seen = await until((s) => (s['greeter-v1'] ?? 0) > 0, 200, 400);
  // 200 calls at 75/25: v1 expects 150 (sd ~6); these bounds fail only if the split is wrong.
  assert.ok(seen['greeter-v1'] >= 110 && seen['greeter-v1'] <= 190, JSON.stringify(seen));
  await apply(route(100, 0));
  await until((s) => s['greeter-v1'] === 20);
});

test("a RetryPolicy reaches proxyless clients too, in the fields gRPC reads: a call answered UNAVAILABLE once is retried", async () => {
  await apply(route(100, 0));
  await apply(`
apiVersion: mesh.sluice.dev/v1alpha1
kind: RetryPolicy
metadata: { name: greeter }
spec: { targetRefs: [{ kind: Service, name: greeter }], attempts: 2, retryOn: [unavailable], backoff: { baseInterval: 1ms, maxInterval: 5ms } }
`);
  const v1 = servers[0];
  // Bounded wait for the push: until then, the UNAVAILABLE reaches the caller.
  for (let tries = 0; ; tries++) {
    v1.unavailable = 1;
    const before = v1.calls;
    const ok = await call().then(
      () => true,
      (err: grpc.ServiceError) => (assert.equal(err.code, grpc.status.UNAVAILABLE), false),
    );
    if (ok) {
      assert.equal(v1.calls - before, 2, 'one try and one retry');
      break;
    }
    assert.ok(tries < 100, 'the retry policy never reached the client');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test('a FaultInjectionPolicy reaches proxyless clients too, in the fault filter gRPC runs: a call through the route is aborted with its status, and runs again once it is deleted', async () => {
  await apply(route(100, 0));
  await until((s) => s['greeter-v1'] === 20);
  const policy = `
apiVersion: mesh.sluice.dev/v1alpha1
kind: FaultInjectionPolicy
metadata: { name: greeter-chaos }
spec: { targetRefs: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: greeter-split }], abort: { grpcStatus: 8 } }
`;
  // Followed by a change to the route's weights: grpc-js-xds (1.14) compares a new RouteConfiguration
  // with the last over the last one's fields only, so a key added to a route's empty
  // typed_per_filter_config alone reads as no change (xds/SUBSET.md, "FaultInjectionPolicy").
  // Two applies, the policy first: the weights' push then carries the fault whatever the
  // control plane pushed between them (in one apply, a busy control plane may push the route
  // and the policy apart, the fault last, and the client would never see it).
  await apply(policy);
  await apply(route(99, 1));
  const outcome = () => call().then(() => grpc.status.OK, (err: grpc.ServiceError) => err.code);
  const v1 = servers[0];
  // Bounded waits for each push.
  for (let tries = 0; (await outcome()) !== grpc.status.RESOURCE_EXHAUSTED; tries++) {
    assert.ok(tries < 100, 'the fault never reached the client');
    await new Promise((r) => setTimeout(r, 100));
  }
  const before = v1.calls;
  for (let i = 0; i < 10; i++) assert.equal(await outcome(), grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(v1.calls, before, 'an aborted call is sent nowhere');
  const del = await sluicectl(['delete', '-f', '-'], { stdin: policy, env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
  assert.equal(del.code, 0, del.stderr);
  for (let tries = 0; (await outcome()) !== grpc.status.OK; tries++) {
    assert.ok(tries < 100, 'the deleted fault was still injected');
    await new Promise((r) => setTimeout(r, 100));
  }
});

test("route filters and a redirect rule do not cost proxyless clients their routes: gRPC takes the fields it reads, and gets no redirect route", async () => {
  // grpc-js-xds refuses a whole RouteConfiguration holding a route whose action is not `route`.
  await apply(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: greeter-web }
spec:
  parentRefs: [{ group: "", kind: Service, name: greeter, port: 50051 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-split }
spec:
  parentRefs: [{ group: "", kind: Service, name: greeter, port: 50051 }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter } }]
      filters:
        - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-mesh, value: "1" }] } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: greeter-v1, port: 50051 }, percent: 10 } }
      backendRefs:
        - { name: greeter-v2, port: 50051, filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-v, value: "2" }] } }] }
`);
  // The change after the filtered route moves the traffic only if the client took it.
  await until((s) => s['greeter-v2'] === 20);
});

test('a CircuitBreakerPolicy reaches proxyless clients in the fields gRPC reads: over max_requests a call is dropped UNAVAILABLE', async () => {
  await apply(route(100, 0));
  // Success-rate ejection is sent too (gRPC reads it); it must not make the client refuse the cluster.
  await apply(`
apiVersion: mesh.sluice.dev/v1alpha1
kind: CircuitBreakerPolicy
metadata: { name: greeter-v1 }
spec:
  targetRefs: [{ kind: Service, name: greeter-v1 }]
  limits: { maxActiveRequests: 1 }
  outlierDetection: { interval: 1s, successRate: { minimumHosts: 5, requestVolume: 100 } }
  healthCheck: { path: /healthz }
`);
  const v1 = servers[0];
  v1.delayMs = 300;
  try {
    // Bounded wait for the push: until then, three calls at once all succeed.
    for (let tries = 0; ; tries++) {
      const outcome = (p: Promise<string>) => p.then(() => 'ok', (err: grpc.ServiceError) => `${grpc.status[err.code]}: ${err.details}`);
      // The first call in flight (counted once it starts), then two more while it is held.
      const first = outcome(call());
      await new Promise((r) => setTimeout(r, 100));
      const results = await Promise.all([first, outcome(call()), outcome(call())]);
      const dropped = results.filter((r) => r !== 'ok');
      if (dropped.length > 0) {
        assert.equal(results.filter((r) => r === 'ok').length, 1, JSON.stringify(results));
        for (const r of dropped) assert.match(r, /^UNAVAILABLE: Call dropped by load balancing policy/);
        break;
      }
      assert.ok(tries < 50, 'the limit never reached the client');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    v1.delayMs = 0;
  }
});

test('a LoadBalancingPolicy reaches proxyless clients as RING_HASH with a header hash_policy: a key keeps its Workload, and the keys spread', async () => {
  // The routes are deleted, so calls go to the greeter Service itself: both Workloads behind one cluster.
  for (const [kind, name] of [['grpcroute', 'greeter-split'], ['httproute', 'greeter-web']]) {
    const r = await sluicectl(['delete', kind, name], { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
    assert.equal(r.code, 0, r.stderr);
  }
  await apply(`
apiVersion: mesh.sluice.dev/v1alpha1
kind: LoadBalancingPolicy
metadata: { name: greeter }
spec: { targetRefs: [{ kind: Service, name: greeter }], type: RingHash, hashOn: { type: Header, name: x-user } }
`);
  const callAs = (user: string) =>
    new Promise<string>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('x-user', user);
      // A deadline: a ring_hash pick waits for its subchannel to connect, and a call must not wait past the test.
      client.SayHello({ name: 'mesh' }, md, { deadline: Date.now() + 5000 }, (err, res) => (err !== null ? reject(err) : resolve(res!.from)));
    });
  const landed = async (user: string, n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await callAs(user));
    return seen;
  };
  // Bounded wait for the push: round robin alternates, so a key sticks only once the ring is there
  // (a call failing while the client takes the new config is tried again, within the bound).
  let last = '';
  for (let tries = 0; ; tries++) {
    assert.ok(tries < 50, `calls with one x-user never stuck to one Workload (last: ${last})`);
    const seen = await landed('warm', 10).catch((err: grpc.ServiceError) => new Set([`error ${grpc.status[err.code]}: ${err.details}`]));
    last = [...seen].join(', ');
    if (seen.size === 1 && !last.startsWith('error')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const user of ['alice', 'bob', 'carol']) assert.equal((await landed(user, 10)).size, 1, `${user} moved between Workloads`);
  const used = new Set<string>();
  for (let i = 0; i < 40; i++) used.add(await callAs(`key-${i}`));
  assert.equal(used.size, 2, 'forty keys all hashed to one Workload');
});

test('sluicectl proxy-status shows the proxyless client with every type it subscribed to SYNCED', async () => {
  const env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const r = await sluicectl(['proxy-status'], { env });
  assert.equal(r.code, 0, r.stderr);
  // The client's locality zone (its bootstrap's node.locality) in the ZONE column.
  assert.match(r.stdout, /^NAME\s+KIND\s+ZONE\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+AGE\n/);
  // gRPC asks for no secrets: its SDS column is '-'.
  assert.match(r.stdout, /\nproxyless-test\s+generic\s+dc-1\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+-\s+\d+[smh]\n/);
  const json = await sluicectl(['proxy-status', 'proxyless-test', '-o', 'json'], { env });
  const [row] = JSON.parse(json.stdout) as { types: Record<string, { resources: number | string }> }[];
  assert.deepEqual(row.types.Listener.resources, 1);
  const missing = await sluicectl(['proxy-status', 'nobody'], { env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no xDS client with node id 'nobody'/);
});
