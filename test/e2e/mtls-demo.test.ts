// The mTLS half of `npm run demo` (the README's first command): its exact topology and
// ports, certificates made with sluicectl, one caller let in and the others kept out.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withFixedPorts } from '../helpers/fixed-ports.ts';

const DEMO = fileURLToPath(new URL('../../examples/mtls/demo.ts', import.meta.url));

test('the mTLS demo lets frontend in, keeps batch and a plaintext caller out, then exits 0', { timeout: 400_000 }, async () => {
  // The example's fixed ports: one test at a time binds them (the README's quick start runs this demo too).
  const r = await withFixedPorts(() => spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 60_000 }));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /\$ sluicectl ca create --trust-domain demo\.sluice\.dev --out \$DEMO\/ca/);
  assert.match(r.stdout, /frontend\s+GET \/orders\/42\s+-> 200\s+orders saw GET \/orders\/42 from spiffe:\/\/demo\.sluice\.dev\/ns\/shop\/sa\/frontend/);
  assert.match(r.stdout, /frontend\s+GET \/admin\s+-> 403\s+rbac_access_denied/);
  assert.match(r.stdout, /batch\s+GET \/orders\/42\s+-> 403\s+rbac_access_denied/);
  assert.match(r.stdout, /plaintext\s+GET \/orders\/42\s+-> connection closed, nothing answered/);
  assert.match(r.stdout, /frontend let in, batch and plaintext kept out/);
});
