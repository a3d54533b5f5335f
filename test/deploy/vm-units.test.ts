// deploy/vm/'s systemd units, checked by systemd's own parser (`systemd-analyze verify`,
// Debian package systemd; .ci/run installs it). No systemd runs as PID 1 here, so the
// units are verified, not started. verify wants each ExecStart program to exist: the test
// points /opt/sluice/bin/ at a copy of the archive's wrappers, nothing else changes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const VM = fileURLToPath(new URL('../../deploy/vm/', import.meta.url));
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const skip = analyze ? false : 'systemd-analyze is not installed (Debian package systemd)';

/** verify's complaints about the unit text (empty when it parses clean), and its exit code. */
function verify(unit: string, text: string): { code: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-units-'));
  cpSync(join(VM, 'bin'), join(dir, 'bin'), { recursive: true });
  const file = join(dir, `${unit}.service`);
  writeFileSync(file, text.replaceAll('/opt/sluice/bin/', `${dir}/bin/`));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

for (const unit of ['sluice-proxy', 'sluice-cp']) {
  const text = readFileSync(join(VM, `${unit}.service`), 'utf8');

  test(`${unit}.service passes systemd-analyze verify with no warning`, { skip }, () => {
    assert.deepEqual(verify(unit, text), { code: 0, output: '' });
  });

  test(`${unit}.service runs hardened: its own user, a state folder as working directory, no capabilities, restarted on failure`, () => {
    for (const line of ['DynamicUser=yes', `StateDirectory=${unit}`, `WorkingDirectory=%S/${unit}`, 'Restart=on-failure', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'CapabilityBoundingSet=', 'AmbientCapabilities=']) {
      assert.ok(text.split('\n').includes(line), `${unit}.service has the line ${line}`);
    }
    assert.match(text, new RegExp(`^ExecStart=/opt/sluice/bin/${unit} `, 'm'));
  });
}

test('verify is a real check: a misspelt value is reported', { skip }, () => {
  const text = readFileSync(join(VM, 'sluice-proxy.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strickt');
  assert.match(verify('sluice-proxy', text).output, /strickt/);
});
