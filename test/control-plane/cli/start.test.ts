// sluicectl loads only what the verb it runs uses (issue 16): which packages a start
// loads, seen by a module hook in a real process. Not a timing test (test/bench/cli-start.ts
// measures the time); this keeps a stray static import from bringing typebox, ajv, yaml,
// node-forge or undici back into every start.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../../control-plane/cli/main.ts', import.meta.url));
const LAUNCHER = fileURLToPath(new URL('../../../control-plane/cli/sluicectl.js', import.meta.url));
const HOOK = `data:text/javascript,${encodeURIComponent(
  "import { registerHooks } from 'node:module'; const seen = new Set(); registerHooks({ load(url, c, next) { seen.add(url); return next(url, c); } }); process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify([...seen]) + '\\n'));",
)}`;
const HEAVY = ['typebox', 'ajv', 'yaml', 'node-forge', 'undici'] as const;

/** The packages of HEAVY a run of sluicectl loaded. */
function packagesLoaded(entry: string, ...argv: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', HOOK, entry, ...argv], { encoding: 'utf8', env: { ...process.env, SLUICE_SERVER: 'http://127.0.0.1:1', HOME: '/nonexistent' } });
  const line = /\nLOADED (.*)\n/.exec(r.stderr);
  assert.ok(line !== null, `no module list on stderr: ${r.stderr}`);
  const urls = JSON.parse(line[1]) as string[];
  return HEAVY.filter((p) => urls.some((u) => u.includes(`/node_modules/${p}/`)));
}

test('--help, version and a group help load none of typebox, ajv, yaml, node-forge, undici', () => {
  assert.deepEqual(packagesLoaded(MAIN, '--help'), []);
  assert.deepEqual(packagesLoaded(LAUNCHER, '--help'), []);
  assert.deepEqual(packagesLoaded(MAIN, 'version'), []);
  assert.deepEqual(packagesLoaded(MAIN, 'ca', '--help'), []);
  assert.deepEqual(packagesLoaded(MAIN, 'get', '--help'), []);
});

test('get loads the kinds\' names but not their schemas (typebox), a validator compiler, a YAML parser or CA code', () => {
  assert.deepEqual(packagesLoaded(MAIN, 'get', 'svc'), []);
  assert.deepEqual(packagesLoaded(MAIN, 'get', 'all', '-o', 'wide'), []);
});

test('apply and delete -f load the YAML parser and nothing else heavy: the server validates what is applied', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluicectl-start-'));
  try {
    const file = join(dir, 'svc.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n');
    assert.deepEqual(packagesLoaded(MAIN, 'apply', '-f', file), ['yaml']);
    assert.deepEqual(packagesLoaded(MAIN, 'delete', '-f', file), ['yaml']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
