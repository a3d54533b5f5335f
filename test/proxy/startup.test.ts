// Startup: a bad config lists every violation as FILE: path: message and exits 2; the proxy
// never starts half-configured.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { PROXY_MAIN, singleBackendConfig, startProxy, writeConfig } from '../helpers/proxy-process.ts';

function run(args: string[]) {
  return spawnSync(process.execPath, [PROXY_MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe('sluice-proxy startup', () => {
  test('refuses a bad config with every violation and exit code 2', () => {
    const file = writeConfig(`
listeners:
  - { name: main, address: 127.0.0.1, port: 70000, protocol: http }
routes:
  - name: r
    rules:
      - matches: [{ path: { type: Prefix, value: /x } }]
        backendRefs: [{ name: nowhere }]
backends:
  - { name: web, endpoints: [{ address: 127.0.0.1, port: 1, wieght: 2 }] }
`);
    const r = run(['--config', file, '--admin-port', '0', '--stats-port', '0']);
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`${file}: `));
    assert.ok(lines.some((l) => l.startsWith(`${file}: listeners[0].port: `)), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`${file}: routes[0].rules[0].matches[0].path.type: `)), r.stderr);
    assert.ok(lines.some((l) => l.startsWith(`${file}: backends[0].endpoints[0]`) && l.includes('wieght')), r.stderr);
    assert.doesNotMatch(r.stderr, /proxy ready/);
  });

  test('refuses an unknown flag with the usage and exit code 2', () => {
    const r = run(['--config', 'x.yaml', '--no-such-flag']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /usage: sluice-proxy/);
  });

  test('names the file when it cannot be read', () => {
    const r = run(['--config', '/nonexistent/proxy.yaml', '--admin-port', '0', '--stats-port', '0']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /\/nonexistent\/proxy\.yaml: /);
  });
});

test('SIGTERM the moment the proxy says it is ready drains and exits 0, not by the signal', async () => {
  // A supervisor may act on the `proxy ready` line at once: the handlers must be there first
  // (3 of 12 such stops died by the signal when they were installed after it).
  const codes: (number | null)[] = [];
  for (let i = 0; i < 6; i++) codes.push(await (await startProxy(singleBackendConfig(1))).stop('SIGTERM'));
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
});
