// GAMMA consumer routes for proxyless gRPC clients: two real @grpc/grpc-js-xds clients,
// bootstrapped by `sluicectl bootstrap grpc --namespace`, one in team-a (which has a
// consumer GRPCRoute for prod's greeter) and one in team-b (which has none), dial the
// same name and are routed apart.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { sluicectl } from '../cli/harness.ts';
import { GREETER, startGreeter, type Greeter } from './greeter.ts';

type GreeterClient = grpc.Client & { SayHello: (req: object, cb: (err: grpc.ServiceError | null, res?: { from: string }) => void) => void };

let cp: ControlPlaneProcess;
let servers: Greeter[] = [];
const clients: Record<string, GreeterClient> = {};

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { stdin, env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

const call = (c: GreeterClient) => new Promise<string>((resolve, reject) => c.SayHello({ name: 'mesh' }, (err, res) => (err !== null ? reject(err) : resolve(res!.from))));

/** Calls from `namespace`'s client until a window of 10 all reach `who` (bounded). */
async function settles(namespace: string, who: string): Promise<void> {
  let last: string[] = [];
  for (let tries = 0; tries < 100; tries++) {
    last = [];
    for (let i = 0; i < 10; i++) last.push(await call(clients[namespace]).catch((e: Error) => e.message));
    if (last.every((s) => s === who)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`calls from ${namespace} did not all reach ${who}: last ${JSON.stringify(last)}`);
}

const consumerRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter, namespace: team-a }
spec:
  parentRefs: [{ group: "", kind: Service, name: greeter, namespace: prod, port: 50051 }]
  rules:
    - backendRefs: [{ name: greeter-v2, namespace: prod, port: 50051 }]
`;

before(async () => {
  cp = await startControlPlane();
  servers = await Promise.all(['v1', 'v2'].map((v) => startGreeter(`greeter-${v}`)));
  const services = ['greeter', 'greeter-v1', 'greeter-v2'].map((name) => {
    const selector = name === 'greeter' ? '{ app: greeter }' : `{ app: greeter, version: ${name.slice(-2)} }`;
    return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: prod }\nspec:\n  selector: ${selector}\n  ports: [{ name: grpc, port: 50051, appProtocol: grpc }]\n`;
  });
  const workloads = servers.map(
    (s) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${s.name}, namespace: prod, labels: { app: greeter, version: ${s.name.slice(-2)} } }\nspec: { address: 127.0.0.1, ports: { grpc: ${s.port} } }\n`,
  );
  // The producer's route: every call to greeter goes to v1.
  const producer = `apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: { name: greeter, namespace: prod }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: greeter, port: 50051 }]\n  rules: [{ backendRefs: [{ name: greeter-v1, port: 50051 }] }]\n`;
  await ctl(['apply', '-f', '-'], [...services, ...workloads, producer].join('---\n'));
  (await import('@grpc/grpc-js-xds')).register();
  const Client = grpc.makeGenericClientConstructor(GREETER, 'Greeter');
  for (const namespace of ['team-a', 'team-b']) {
    const bootstrap = await ctl(['bootstrap', 'grpc', '--node-id', `proxyless-${namespace}`, '--namespace', namespace, '--xds-address', cp.xdsPlaintext!]);
    // A bootstrap per channel (grpc-js-xds's own test option), so two namespaces share one process.
    clients[namespace] = new Client('xds:///greeter.prod.svc.cluster.local:50051', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap,
    }) as unknown as GreeterClient;
  }
  await settles('team-a', 'greeter-v1');
  await settles('team-b', 'greeter-v1');
});

after(async () => {
  for (const c of Object.values(clients)) c.close();
  await Promise.all(servers.map((s) => s.stop()));
  // The clients end their ADS streams a moment after they close; sluice-cp is stopped once they have.
  for (let tries = 0; tries < 100 && cp !== undefined && / SYNCED/.test(await ctl(['proxy-status'])); tries++) await new Promise((r) => setTimeout(r, 100));
  await cp?.stop();
});

test("a consumer GRPCRoute moves its namespace's proxyless client, and only that one", async () => {
  await ctl(['apply', '-f', '-'], consumerRoute);
  await settles('team-a', 'greeter-v2');
  for (let i = 0; i < 10; i++) assert.equal(await call(clients['team-b']), 'greeter-v1', "team-b follows the producer's route");
  await ctl(['delete', 'grpcroute', 'greeter', '-n', 'team-a']);
  await settles('team-a', 'greeter-v1');
});
