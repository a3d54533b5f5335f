// sluicectl's resource verbs against a real sluice-cp, run in-process with captured
// output. One scenario, in order: apply a small mesh (a Mesh, two Services, two VM
// Workloads, an HTTPRoute splitting 90/10), read it back every way, change it, refuse a
// file with several bad documents as a whole, delete. Transcripts are compared with
// golden/*.txt; AGE is fixed by a clock 3h30m after now, and uids, timestamps and
// resourceVersions are normalized.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { assertGolden, sluicectl, transcript, type CliRun } from './harness.ts';

const MESH = `# the shop's mesh: orders served by VMs, 10% of its traffic to the canary
apiVersion: mesh.sluice.dev/v1alpha1
kind: Mesh
metadata:
  name: default
spec:
  trustDomain: shop.example
  mtls:
    mode: STRICT
---
apiVersion: v1
kind: Service
metadata:
  name: orders
  labels:
    app: orders
spec:
  selector:
    app: orders
    track: stable
  ports:
    - name: http
      port: 8080
      appProtocol: http
---
apiVersion: v1
kind: Service
metadata:
  name: orders-canary
spec:
  selector:
    app: orders
    track: canary
  ports:
    - name: http
      port: 8080
      appProtocol: http
---
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: orders-vm-1
  labels:
    app: orders
    track: stable
spec:
  address: 10.0.3.7
  ports:
    http: 8080
  zone: dc-1
  serviceAccount: orders
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: orders-vm-2
  labels:
    app: orders
    track: canary
spec:
  address: 10.0.3.8
  ports:
    http: 8080
  zone: dc-1
  serviceAccount: orders
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: orders-split
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: orders
      port: 8080
  rules:
    - backendRefs:
        - name: orders
          port: 8080
          weight: 90
        - name: orders-canary
          port: 8080
          weight: 10
`;

/** Each document bad in its own way but one, which must not be applied either. */
const BAD = `apiVersion: v1
kind: Service
metadata:
  name: payments
spec:
  ports:
    - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: Billing
spec:
  ports:
    - port: 70000
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: payments-vm-1
spec:
  adress: 10.0.3.9
---
apiVersion: v1
kind: Servcie
metadata:
  name: ledger
spec: {}
---
apiVersion: v1
kind: Service
metadata:
  name: refunds
  namespace: billing
spec:
  ports:
    - port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: payments
spec:
  ports:
    - port: 9090
---
apiVersion: v1
kind: Service
metadata:
  name: fx
  labels: [oops
`;

describe('sluicectl resource verbs against sluice-cp', () => {
  let cp: ControlPlaneProcess;
  const dir = mkdtempSync(join(tmpdir(), 'sluicectl-e2e-'));
  const meshFile = join(dir, 'mesh.yaml');
  const canaryFile = join(dir, 'mesh-50-50.yaml');
  const badFile = join(dir, 'bad.yaml');
  const now = () => Date.now() + 3.5 * 3_600_000;
  let env: Record<string, string>;
  const run = (...argv: string[]) => sluicectl(argv, { env, clock: now });
  const normalize = (text: string) =>
    text
      .replaceAll(dir, '<dir>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uid>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
      .replace(/(resourceVersion"?: "?|Resource Version: +)\d+/g, '$1<rv>');
  const golden = (name: string, runs: CliRun[]) => assertGolden(name, transcript(runs, normalize));

  before(async () => {
    cp = await startControlPlane({ args: ['--trust-domain', 'shop.example'] });
    env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
    writeFileSync(meshFile, MESH);
    writeFileSync(canaryFile, MESH.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    writeFileSync(badFile, BAD);
  });
  after(() => cp?.stop());

  test('apply creates every document in order, skipping empty ones; -n fills the namespace', async () => {
    const r = await run('apply', '-f', meshFile, '-n', 'shop');
    assert.equal(r.code, 0, r.stderr);
    golden('apply.txt', [r]);
  });

  test('get prints a table per kind (NAMESPACE first with -A), one resource as YAML, a list as JSON', async () => {
    const runs = [
      await run('get', 'meshes'),
      await run('get', 'svc', '-n', 'shop'),
      await run('get', 'workloads', '-A'),
      await run('get', 'httproutes', '-n', 'shop'),
      await run('get', 'service', 'orders', '-n', 'shop', '-o', 'yaml'),
      await run('get', 'meshes', '-o', 'json'),
      await run('get', 'services'),
    ];
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal(runs.at(-1)!.stderr, 'No resources found in default namespace.\n');
    golden('get.txt', runs);
  });

  test('get -o yaml of a list is a kubectl List that applies again as it is', async () => {
    const listed = await run('get', 'workloads', '-n', 'shop', '-o', 'yaml');
    assert.match(listed.stdout, /^apiVersion: v1\nkind: List\nitems:\n/);
    const again = await sluicectl(['apply', '-f', '-'], { env, stdin: listed.stdout });
    assert.equal(again.stdout, 'workload.mesh.sluice.dev/orders-vm-1 unchanged\nworkload.mesh.sluice.dev/orders-vm-2 unchanged\n');
  });

  test('-f DIR takes its .yaml, .yml and .json files in name order; -f repeats', async () => {
    const sub = join(dir, 'more');
    mkdirSync(sub);
    writeFileSync(join(sub, 'b.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 80}]}\n');
    writeFileSync(join(sub, 'a.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } }));
    writeFileSync(join(sub, 'notes.txt'), 'not a manifest');
    const r = await run('apply', '-f', sub, '-f', meshFile, '-n', 'shop', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, 3), ['service/a created (dry run)', 'service/b created (dry run)', 'mesh.mesh.sluice.dev/default unchanged (dry run)']);
  });

  test('describe shows metadata, the spec as YAML, then the status: conditions, selected Workloads, attached routes and policies, proxies', async () => {
    const runs = [
      await run('describe', 'httproute', 'orders-split', '-n', 'shop'),
      await run('describe', 'mesh', 'default'),
      await run('describe', 'service', 'orders', '-n', 'shop'),
      await run('describe', 'workload', 'orders-vm-1', '-n', 'shop'),
    ];
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    golden('describe.txt', runs);
  });

  test('apply again leaves everything unchanged, resourceVersions included', async () => {
    const before = JSON.parse((await run('get', 'services', '-n', 'shop', '-o', 'json')).stdout);
    const r = await run('apply', '-f', meshFile, '-n', 'shop');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').filter((l) => l !== '' && !l.endsWith(' unchanged')), []);
    const after = JSON.parse((await run('get', 'services', '-n', 'shop', '-o', 'json')).stdout);
    assert.deepEqual(after, before);
  });

  test('diff exits 0 with no output when in sync, 1 with a unified diff when not, and writes nothing', async () => {
    const same = await run('diff', '-f', meshFile, '-n', 'shop');
    assert.deepEqual([same.code, same.stdout, same.stderr], [0, '', '']);
    const changed = await run('diff', '-f', canaryFile, '-n', 'shop');
    assert.equal(changed.code, 1, changed.stderr);
    const added = await sluicectl(['diff', '-f', '-', '-n', 'shop'], { env, stdin: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: fx\nspec:\n  ports:\n    - port: 80\n' });
    assert.equal(added.code, 1, added.stderr);
    golden('diff.txt', [same, changed, added]);
    const route = await run('get', 'httproute', 'orders-split', '-n', 'shop', '-o', 'json');
    assert.deepEqual(JSON.parse(route.stdout).spec.rules[0].backendRefs.map((b: { weight: number }) => b.weight), [90, 10]);
  });

  test('apply --dry-run reports what would change without writing; apply then configures only that', async () => {
    const runs = [await run('apply', '-f', canaryFile, '-n', 'shop', '--dry-run'), await run('diff', '-f', canaryFile, '-n', 'shop'), await run('apply', '-f', canaryFile, '-n', 'shop'), await run('diff', '-f', canaryFile, '-n', 'shop')];
    assert.deepEqual(runs.map((r) => r.code), [0, 1, 0, 0]);
    golden('apply-change.txt', [runs[0], runs[2], runs[3]]);
  });

  test('a file with several bad documents: every problem is printed with file:doc[i]: path, nothing is applied, exit 1', async () => {
    const r = await run('apply', '-f', badFile, '-n', 'shop');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const services = await run('get', 'services', '-n', 'shop', '-o', 'json');
    const names = JSON.parse(services.stdout).items.map((s: { metadata: { name: string } }) => s.metadata.name);
    assert.deepEqual(names, ['orders', 'orders-canary'], 'the good document of the bad file was not applied');
    golden('apply-invalid.txt', [r]);
  });

  test('delete by name, by file, and a second time (not found, exit 1)', async () => {
    const runs = [await run('delete', 'httproute', 'orders-split', '-n', 'shop'), await run('delete', 'httproute', 'orders-split', '-n', 'shop'), await run('delete', '-f', meshFile, '-n', 'shop'), await run('get', 'services', '-n', 'shop')];
    assert.deepEqual(runs.map((r) => r.code), [0, 1, 1, 0]);
    golden('delete.txt', runs);
  });

  test('version prints the client and the server version', async () => {
    const r = await run('version');
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'Client Version: 0.1.0\nServer Version: 0.1.0\n', '']);
  });

  test('the token: --token-file beats SLUICE_TOKEN_FILE; a wrong one is a 401 that says where tokens come from', async () => {
    const wrong = join(dir, 'wrong-token');
    writeFileSync(wrong, 'not-the-token\n');
    const flagWins = await sluicectl(['get', 'meshes', '--token-file', cp.tokenFile], { env: { ...env, SLUICE_TOKEN_FILE: wrong } });
    assert.equal(flagWins.code, 0, flagWins.stderr);
    const refused = await sluicectl(['get', 'meshes'], { env: { ...env, SLUICE_TOKEN_FILE: wrong } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^sluicectl get: .*\\(sluicectl sent the token in ${wrong} \\(from SLUICE_TOKEN_FILE\\), and it was refused\\)\n$`));
    const none = await sluicectl(['get', 'meshes'], { env: { SLUICE_SERVER: cp.url } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /\(sluicectl sent no token: set --token-file, SLUICE_TOKEN_FILE or tokenFile in ~\/\.sluice\/config\)\n$/);
  });
});
