// The control-plane part of `npm run demo` (the README's first command) and the issue's
// acceptance: sluice-cp from nothing, `sluicectl apply -f examples/mesh/`, the route split
// shown by `get httproutes`, and a bad file refused with paths and nothing of it applied.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withFixedPorts } from '../helpers/fixed-ports.ts';

const DEMO = fileURLToPath(new URL('../../examples/mesh/demo.ts', import.meta.url));

test('the control-plane demo applies a mesh with a route split and refuses a broken file whole', { timeout: 400_000 }, async () => {
  // Its sluice-cp takes the default xDS ports (15012, 15010), as the README's demos do: one at a time.
  const r = await withFixedPorts(async () => spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 60_000 }));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const line of ['mesh.mesh.sluice.dev/default created', 'service/orders created', 'service/orders-canary created', 'workload.mesh.sluice.dev/orders-vm-1 created', 'httproute.gateway.networking.k8s.io/orders-split created']) {
    assert.ok(r.stdout.includes(line), line);
  }
  // STATUS is the control plane's (Accepted); a get before its view of the apply has no status to show yet.
  assert.match(r.stdout, /\$ sluicectl get httproutes\n\s+NAME\s+PARENTS\s+HOSTNAMES\s+BACKENDS\s+(STATUS\s+)?AGE\n\s+orders-split\s+orders:80\s.*orders:80 \(90\), orders-canary:80 \(10\)\s+(Accepted\s+)?\d+s\n/);
  assert.match(r.stdout, /route\.yaml:doc\[1\]: spec\.rules\[0\]\.backendRefs\[0\]\.wieght: unknown field 'wieght'; did you mean 'weight'\?/);
  assert.match(r.stdout, /route\.yaml:doc\[1\]: spec\.rules\[0\]\.backendRefs\[0\]\.port: is required/);
  assert.match(r.stdout, /error: 4 problems found; nothing was applied/);
  assert.match(r.stdout, /services 'default\/payments' does not exist/);
});
