// deploy/vm/'s systemd units, checked by systemd's own parser (`systemd-analyze verify`,
// Debian package systemd; .ci/run installs it). No systemd runs as PID 1 here, so the
// units are verified, not started. verify wants each ExecStart program to exist: the test
// points /opt/sluice/bin/ at a copy of the archive's wrappers, nothing else changes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const VM = fileURLToPath(new URL('../../deploy/vm/', import.meta.url));
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const skip = analyze ? false : 'systemd-analyze is not installed (Debian package systemd)';

/** verify's complaints about the unit text, with a drop-in when given (empty when it parses clean), and its exit code. */
function verify(unit: string, text: string, dropIn?: string): { code: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-units-'));
  cpSync(join(VM, 'bin'), join(dir, 'bin'), { recursive: true });
  const file = join(dir, `${unit}.service`);
  writeFileSync(file, text.replaceAll('/opt/sluice/bin/', `${dir}/bin/`));
  if (dropIn !== undefined) {
    mkdirSync(`${file}.d`);
    writeFileSync(join(`${file}.d`, 'capture.conf'), dropIn.replaceAll('/opt/sluice/bin/', `${dir}/bin/`));
  }
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

test('the capture drop-in passes verify with the proxy unit: a fixed uid and gid, the rules installed as root before the start and removed after the stop, --capture', { skip }, () => {
  const unit = readFileSync(join(VM, 'sluice-proxy.service'), 'utf8');
  const dropIn = readFileSync(join(VM, 'sluice-proxy-capture.conf'), 'utf8');
  assert.deepEqual(verify('sluice-proxy', unit, dropIn), { code: 0, output: '' });
  for (const line of ['DynamicUser=no', 'User=1337', 'Group=1337', 'ExecStart=']) assert.ok(dropIn.split('\n').includes(line), line);
  assert.match(dropIn, /^ExecStartPre=\+\/opt\/sluice\/bin\/sluice-proxy capture install --proxy-uid 1337 --proxy-gid 1337$/m);
  assert.match(dropIn, /^ExecStopPost=\+\/opt\/sluice\/bin\/sluice-proxy capture uninstall --proxy-uid 1337 --proxy-gid 1337$/m);
  assert.match(dropIn, /^ExecStart=\/opt\/sluice\/bin\/sluice-proxy .* --capture /m);
  // verify reads the drop-in: a misspelt key in it is reported.
  assert.match(verify('sluice-proxy', unit, dropIn.replace('Group=1337', 'Groop=1337')).output, /Groop/);
});
