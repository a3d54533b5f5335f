// sluice-proxy's flags as an operator types them: relative paths are the working
// directory's, resolved once (a relative identity folder was once joined onto itself:
// 'sluice-identity/sluice-identity/cert.pem'), and values the control plane would refuse
// later are refused at the start, with the flag named.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFlags } from '../../proxy/flags.ts';

const xds = (argv: string[]) => {
  const r = parseFlags(['--control-plane', '127.0.0.1:15012', ...argv]);
  assert.ok(r.ok === true, r.ok === false ? r.error : 'help');
  return r.flags.xds!;
};

test('relative --token and --identity-dir (the default ./sluice-identity included) resolve against the working directory', () => {
  assert.equal(xds([]).identityDir, join(process.cwd(), 'sluice-identity'));
  const f = xds(['--token', 'orders.token', '--identity-dir', '../vm/id']);
  assert.equal(f.tokenFile, join(process.cwd(), 'orders.token'));
  assert.equal(f.identityDir, join(process.cwd(), '..', 'vm', 'id'));
  assert.equal(xds(['--identity-dir', '/var/lib/sluice/identity']).identityDir, '/var/lib/sluice/identity');
  assert.equal(xds([]).tokenFile, null);
});

test('--outbound-port 0 is refused: the control plane puts the outbound listener on that very port', () => {
  const r = parseFlags(['--control-plane', '127.0.0.1:15012', '--outbound-port', '0']);
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /^--outbound-port: 0 is not a port/);
});
