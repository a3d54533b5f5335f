// sluicectl with kubectl's habits: flags before the verb as after it, one line (and the
// nearest command) for a command it does not know, --version.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import pkg from '../../../package.json' with { type: 'json' };
import { sluicectl } from './harness.ts';

// Nothing listens there: each run fails reaching it, which shows where the flag went.
const NOWHERE = 'http://127.0.0.1:1';

test('global flags before the verb are the same as after it: --server URL get svc, -n NS get svc', async () => {
  const before = await sluicectl(['--server', NOWHERE, 'get', 'services']);
  const after = await sluicectl(['get', 'services', '--server', NOWHERE]);
  assert.equal(before.code, after.code);
  assert.equal(before.stderr, after.stderr);
  assert.match(before.stderr, /127\.0\.0\.1:1/);
  const eq = await sluicectl([`--server=${NOWHERE}`, '-n', 'shop', 'get', 'services']);
  assert.equal(eq.stderr, after.stderr);
  // A flag the command does not have, before the verb, is not taken for one.
  const stray = await sluicectl(['--nope', 'get', 'services']);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /^sluicectl: unknown command/);
});

test('an unknown command is one line with the nearest command, not the whole usage', async () => {
  const typo = await sluicectl(['gte', 'services']);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, "sluicectl: unknown command 'gte services'; did you mean 'sluicectl get'? (sluicectl --help lists the commands)\n");
  const far = await sluicectl(['frobnicate']);
  assert.equal(far.stderr, "sluicectl: unknown command 'frobnicate' (sluicectl --help lists the commands)\n");
  assert.equal(far.stdout, '');
});

test('--version prints the version and exits 0, with no control plane', async () => {
  const r = await sluicectl(['--version']);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, `sluicectl ${pkg.version}\n`, '']);
});
