// Every program answers --version and --help at once, on stdout, exit 0, with no control
// plane and no config: what an operator (or a package manager, or a unit's ExecStartPre)
// tries first.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import pkg from '../package.json' with { type: 'json' };

const PROGRAMS = {
  'sluice-proxy': fileURLToPath(new URL('../proxy/main.ts', import.meta.url)),
  'sluice-cp': fileURLToPath(new URL('../control-plane/main.ts', import.meta.url)),
  sluicectl: fileURLToPath(new URL('../control-plane/cli/main.ts', import.meta.url)),
};

for (const [name, main] of Object.entries(PROGRAMS)) {
  test(`${name} --version and --help`, () => {
    const version = spawnSync(process.execPath, [main, '--version'], { encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual([version.status, version.stdout, version.stderr], [0, `${name} ${pkg.version}\n`, '']);
    const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^usage: ${name} `));
    assert.equal(help.stderr, '');
  });
}
