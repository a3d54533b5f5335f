// `sluice-proxy capture install|uninstall|check`, run for real inside a network namespace
// of its own: the rules iptables then lists, install twice, check naming a deleted rule,
// uninstall leaving nothing, and errors that name what failed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { PROXY_MAIN } from '../../helpers/proxy-process.ts';
import { deleteNetns, makeNetns, netnsMissing, nsEnv, type Netns } from '../../helpers/netns.ts';

const skip = netnsMissing();
if (skip !== null) console.log(`# skipped: ${skip}`);

describe('sluice-proxy capture', { skip: skip ?? false }, () => {
  let ns: Netns;
  before(() => {
    ns = makeNetns('rules');
  });
  after(() => deleteNetns(ns));

  const capture = (...args: string[]) => spawnSync(ns.prefix[0], [...ns.prefix.slice(1), process.execPath, PROXY_MAIN, 'capture', ...args], { encoding: 'utf8', timeout: 30_000, env: nsEnv() });
  const nat = () => ns.exec('iptables', ['-t', 'nat', '-S']).split('\n').filter((l) => l.startsWith('-A ') || l.startsWith('-N '));

  test('install writes our two chains and their jumps; twice changes nothing; uninstall leaves the table as it was', () => {
    const before = nat();
    const flags = ['--proxy-uid', '1500', '--exclude-cidrs', '169.254.169.254/32', '--exclude-inbound-ports', '22', '--exclude-outbound-ports', '5432'];
    const r = capture('install', ...flags);
    assert.equal(r.status, 0, r.stderr);
    const once = nat();
    assert.deepEqual(once.filter((l) => !before.includes(l)), [
      '-N SLUICE_INBOUND',
      '-N SLUICE_OUTPUT',
      '-A PREROUTING -p tcp -j SLUICE_INBOUND',
      '-A OUTPUT -p tcp -j SLUICE_OUTPUT',
      '-A SLUICE_INBOUND -p tcp -m tcp --dport 15000 -j RETURN',
      '-A SLUICE_INBOUND -p tcp -m tcp --dport 15020 -j RETURN',
      '-A SLUICE_INBOUND -p tcp -m tcp --dport 15001 -j RETURN',
      '-A SLUICE_INBOUND -p tcp -m tcp --dport 15006 -j RETURN',
      '-A SLUICE_INBOUND -p tcp -m tcp --dport 22 -j RETURN',
      '-A SLUICE_INBOUND -p tcp -j REDIRECT --to-ports 15006',
      '-A SLUICE_OUTPUT -d 127.0.0.254/32 -p tcp -m tcp --dport 15002 -j REDIRECT --to-ports 15001',
      '-A SLUICE_OUTPUT -m owner --uid-owner 1500 -j RETURN',
      '-A SLUICE_OUTPUT -d 127.0.0.0/8 -j RETURN',
      '-A SLUICE_OUTPUT -o lo -j RETURN',
      '-A SLUICE_OUTPUT -d 169.254.169.254/32 -j RETURN',
      '-A SLUICE_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN',
      '-A SLUICE_OUTPUT -p tcp -j REDIRECT --to-ports 15001',
    ]);
    assert.equal(capture('install', ...flags).status, 0);
    assert.deepEqual(nat(), once, 'a second install leaves the same rules, no copies');
    const ok = capture('check', ...flags);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /capture rules complete/);

    ns.exec('iptables', ['-t', 'nat', '-D', 'SLUICE_OUTPUT', '-m', 'owner', '--uid-owner', '1500', '-j', 'RETURN']);
    ns.exec('iptables', ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'SLUICE_INBOUND']);
    const missing = capture('check', ...flags);
    assert.equal(missing.status, 1);
    assert.equal(
      missing.stderr,
      'capture rules incomplete:\n' +
        '  rule missing: iptables -t nat -A SLUICE_OUTPUT -m owner --uid-owner 1500 -j RETURN\n' +
        '  rule missing: iptables -t nat -A PREROUTING -p tcp -j SLUICE_INBOUND\n',
    );
    assert.equal(capture('install', ...flags).status, 0, 'install repairs what is missing');
    assert.deepEqual(nat(), once);

    assert.equal(capture('uninstall').status, 0);
    assert.deepEqual(nat(), before);
    assert.equal(capture('uninstall').status, 0, 'uninstall of nothing is no error');
    const none = capture('check');
    assert.equal(none.status, 1);
    assert.match(none.stderr, /chain SLUICE_OUTPUT \(nat\) does not exist/);
  });

  test('--include-inbound-ports captures only those ports', () => {
    try {
      assert.equal(capture('install', '--include-inbound-ports', '8080,9090').status, 0);
      const inbound = nat().filter((l) => l.startsWith('-A SLUICE_INBOUND') && l.includes('REDIRECT'));
      assert.deepEqual(inbound, ['-A SLUICE_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15006', '-A SLUICE_INBOUND -p tcp -m tcp --dport 9090 -j REDIRECT --to-ports 15006']);
    } finally {
      capture('uninstall');
    }
  });

  test('bad flags are named, exit 2; a failing iptables is named with what it said, exit 1', () => {
    const bad = capture('install', '--proxy-uid', 'me', '--exclude-cidrs', '10.0.0.0/40', '--outbound-port', '0');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--proxy-uid: 'me' is not a user or group id/);
    assert.match(bad.stderr, /--exclude-cidrs: '10\.0\.0\.0\/40' is not an IPv4 address or CIDR/);
    assert.match(bad.stderr, /--outbound-port: '0' is not a port/);
    assert.match(capture('reinstall').stderr, /expected install, uninstall or check; got 'reinstall'/);
    const missing = capture('install', '--iptables', '/nonexistent/iptables');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /sluice-proxy capture install: iptables -t nat -N SLUICE_OUTPUT failed \(exit 127\): \/nonexistent\/iptables: spawnSync \/nonexistent\/iptables ENOENT/);
  });
});
