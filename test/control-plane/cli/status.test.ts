// What sluicectl shows of the status the control plane writes, against a real sluice-cp:
// `get`'s STATUS column (the first condition that is not True, else Accepted) and
// `describe`'s conditions, for a route with a typo'd backend, a policy whose target does
// not exist, and two RetryPolicies on one Service. Compared with golden/status.txt; AGE is
// fixed by a clock 2h after now, and uids, timestamps and resourceVersions are normalized.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { assertGolden, sluicectl, transcript } from './harness.ts';

const MESH = [
  'apiVersion: v1\nkind: Service\nmetadata: { name: orders }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }] }\n',
  'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: orders-1, labels: { app: orders } }\nspec: { address: 10.0.0.1, ports: { http: 8080 } }\n',
  'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: orders }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: orders, port: 80 }]\n  rules: [{ backendRefs: [{ name: orders, port: 80, weight: 50 }, { name: ordres, port: 80, weight: 50 }] }]\n',
  'apiVersion: mesh.sluice.dev/v1alpha1\nkind: RetryPolicy\nmetadata: { name: a-older }\nspec: { targetRefs: [{ kind: Service, name: orders }], attempts: 2 }\n',
  'apiVersion: mesh.sluice.dev/v1alpha1\nkind: RetryPolicy\nmetadata: { name: b-newer }\nspec: { targetRefs: [{ kind: Service, name: orders }], attempts: 5 }\n',
  'apiVersion: mesh.sluice.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: lost }\nspec: { targetRefs: [{ kind: Service, name: payments }], action: DENY, rules: [{ to: [{ methods: [DELETE] }] }] }\n',
].join('---\n');

let cp: ControlPlaneProcess;
let env: Record<string, string>;
const now = () => Date.now() + 2 * 3_600_000;
const run = (...argv: string[]) => sluicectl(argv, { env, clock: now });
const normalize = (text: string) =>
  text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uid>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/(resourceVersion"?: "?|Resource Version: +)\d+/g, '$1<rv>');

before(async () => {
  cp = await startControlPlane({ args: ['--trust-domain', 'shop.example'] });
  env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const applied = await sluicectl(['apply', '-f', '-'], { env, stdin: MESH });
  assert.equal(applied.code, 0, applied.stderr);
  // The status follows the store within a view rebuild: wait (bounded) until the last document has one.
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const got = await run('get', 'authorizationpolicy', 'lost', '-o', 'json');
    if (JSON.parse(got.stdout).status !== undefined) break;
    assert.ok(Date.now() < deadline, 'no status computed in 10 s');
  }
});
after(() => cp?.stop());

test('get shows each resource\'s STATUS, describe its conditions: BackendNotFound, TargetNotFound, Conflicted', async () => {
  const runs = [
    await run('get', 'httproutes'),
    await run('get', 'retrypolicies'),
    await run('get', 'authorizationpolicies'),
    await run('get', 'services'),
    await run('describe', 'httproute', 'orders'),
    await run('describe', 'retrypolicy', 'b-newer'),
  ];
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assertGolden('status.txt', transcript(runs, normalize));
});
