// Where sluicectl finds the control plane, with no control plane running: flags beat the
// environment, which beats ~/.sluice/config, which beats the default; and what it says
// when nothing answers.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_SERVER, loadConnection, resolveServerConfig } from '../../../control-plane/cli/server-config.ts';
import { sluicectl } from './harness.ts';
import { closedPort } from '../../helpers/ports.ts';

function homeWithConfig(config: string): string {
  const home = mkdtempSync(join(tmpdir(), 'sluicectl-home-'));
  mkdirSync(join(home, '.sluice'));
  writeFileSync(join(home, '.sluice', 'config'), config);
  return home;
}

/** A port nothing listens on: bound, then released. */
describe('server settings', () => {
  const home = homeWithConfig('server: http://from-config.example:15014\ntokenFile: tokens/admin\ncaFile: ~/ca/root.pem\n');
  const env = { SLUICE_SERVER: 'http://from-env.example:15014', SLUICE_TOKEN_FILE: '/env/token', SLUICE_CA_FILE: '/env/ca.pem' };
  const flags = { server: 'https://from-flag.example:15014', 'token-file': '/flag/token', 'ca-file': '/flag/ca.pem' };

  test('with nothing set, the server is http://127.0.0.1:15014 and there is no token', () => {
    const c = resolveServerConfig({}, {}, mkdtempSync(join(tmpdir(), 'sluicectl-home-')));
    assert.deepEqual(c, { server: { value: DEFAULT_SERVER, from: 'default' }, tokenFile: undefined, caFile: undefined });
    assert.equal(DEFAULT_SERVER, 'http://127.0.0.1:15014');
  });

  test('~/.sluice/config gives all three, its relative paths read from ~/.sluice and ~ expanded', () => {
    const c = resolveServerConfig({}, {}, home);
    assert.deepEqual(c.server, { value: 'http://from-config.example:15014', from: '~/.sluice/config' });
    assert.deepEqual(c.tokenFile, { value: join(home, '.sluice', 'tokens', 'admin'), from: '~/.sluice/config' });
    assert.deepEqual(c.caFile, { value: join(home, 'ca', 'root.pem'), from: '~/.sluice/config' });
  });

  test('the environment beats the config file', () => {
    const c = resolveServerConfig({}, env, home);
    assert.deepEqual(c, {
      server: { value: env.SLUICE_SERVER, from: 'SLUICE_SERVER' },
      tokenFile: { value: env.SLUICE_TOKEN_FILE, from: 'SLUICE_TOKEN_FILE' },
      caFile: { value: env.SLUICE_CA_FILE, from: 'SLUICE_CA_FILE' },
    });
  });

  test('flags beat the environment', () => {
    const c = resolveServerConfig(flags, env, home);
    assert.deepEqual(c, {
      server: { value: flags.server, from: '--server' },
      tokenFile: { value: flags['token-file'], from: '--token-file' },
      caFile: { value: flags['ca-file'], from: '--ca-file' },
    });
  });

  test('each setting is resolved on its own: a flag for one, the environment for another, the file for the third', () => {
    const c = resolveServerConfig({ server: flags.server }, { SLUICE_TOKEN_FILE: env.SLUICE_TOKEN_FILE }, home);
    assert.equal(c.server.from, '--server');
    assert.equal(c.tokenFile?.from, 'SLUICE_TOKEN_FILE');
    assert.equal(c.caFile?.from, '~/.sluice/config');
  });

  test('an empty environment variable counts as unset', () => {
    assert.equal(resolveServerConfig({}, { SLUICE_SERVER: '' }, home).server.from, '~/.sluice/config');
  });

  test('a token file that cannot be read is named with where it was set', () => {
    assert.throws(() => loadConnection(resolveServerConfig({}, { SLUICE_TOKEN_FILE: '/nonexistent/token' }, home)), /cannot read the token file \/nonexistent\/token \(from SLUICE_TOKEN_FILE\): ENOENT/);
  });

  test('a misspelt key, bad YAML or a server that is not an http(s) URL is refused with the place to fix', () => {
    assert.throws(() => resolveServerConfig({}, {}, homeWithConfig('server: http://x:1\ntokenfile: t\n')), /config: unknown key 'tokenfile'; did you mean 'tokenFile'\?/);
    assert.throws(() => resolveServerConfig({}, {}, homeWithConfig('server: [\n')), /config: line \d+, column \d+: /);
    assert.throws(() => resolveServerConfig({}, { SLUICE_SERVER: 'cp.example:15014' }, home), /invalid server 'cp.example:15014' \(from SLUICE_SERVER\): write it as http:\/\/HOST:PORT/);
  });
});

describe('sluicectl with no control plane', () => {
  test('version prints the client version, then says the server cannot be reached and how to point at it; exit 1', async () => {
    const port = await closedPort();
    const r = await sluicectl(['version'], { env: { SLUICE_SERVER: `http://127.0.0.1:${port}` } });
    assert.equal(r.stdout, 'Client Version: 0.1.0\n');
    assert.equal(r.stderr, `sluicectl version: cannot reach the control plane at http://127.0.0.1:${port}: ECONNREFUSED (is sluice-cp running? set --server or SLUICE_SERVER)\n`);
    assert.equal(r.code, 1);
  });

  test('the server comes from the config file when neither flag nor environment names one', async () => {
    const port = await closedPort();
    const r = await sluicectl(['get', 'meshes'], { home: homeWithConfig(`server: http://127.0.0.1:${port}\n`) });
    assert.match(r.stderr, new RegExp(`cannot reach the control plane at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    assert.equal(r.code, 1);
  });

  test('--server beats SLUICE_SERVER for a command', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const r = await sluicectl(['get', 'meshes', '--server', `http://127.0.0.1:${a}`], { env: { SLUICE_SERVER: `http://127.0.0.1:${b}` } });
    assert.match(r.stderr, new RegExp(`at http://127\\.0\\.0\\.1:${a}:`));
  });

  test('a missing token file stops the command before any request, exit 2', async () => {
    const r = await sluicectl(['get', 'meshes', '--token-file', '/nonexistent/admin-token']);
    assert.equal(r.stderr, 'sluicectl get: cannot read the token file /nonexistent/admin-token (from --token-file): ENOENT\n');
    assert.equal(r.code, 2);
  });

  test('an unknown kind is refused with the closest name and the known kinds, exit 2', async () => {
    const r = await sluicectl(['get', 'meshs']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown resource type 'meshs'; did you mean 'mesh(es)?'\?\nknown resource types: .*meshes \(Mesh, mesh\)/);
  });

  test('get takes KIND and an optional NAME, no more', async () => {
    const none = await sluicectl(['get']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /expected 1 to 2 argument\(s\), got 0/);
    const three = await sluicectl(['get', 'mesh', 'a', 'b']);
    assert.match(three.stderr, /expected 1 to 2 argument\(s\), got 3/);
  });

  test('apply without -f names the flag with its short form', async () => {
    const r = await sluicectl(['apply']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing -f\/--filename/);
  });
});
