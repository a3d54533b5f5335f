// sluice-cp as a process: its flags are checked before anything is opened, a data folder
// serves one control plane at a time, SIGTERM stops it cleanly, and the admin token
// outlives restarts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CP_MAIN, startControlPlane } from '../../helpers/control-plane.ts';

const run = (...args: string[]) => spawnSync(process.execPath, [CP_MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });

test('bad flags stop sluice-cp with exit 2, the reason and the usage', () => {
  for (const [args, reason] of [
    [['--api-addr', 'localhost'], /--api-addr must be HOST:PORT/],
    [['--api-addr', '127.0.0.1:70000'], /port must be 0-65535/],
    [['--store', 'etcd://127.0.0.1:2379'], /--data-dir is required with --store etcd/],
    [['--stor', 'file:x'], /Unknown option '--stor'/],
    [['--store', 'file:'], /--store file: needs a directory/],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, reason);
    assert.match(r.stderr, /usage: sluice-cp/);
  }
  const unknownStore = run('--store', 'etcd://127.0.0.1:2379', '--data-dir', mkdtempSync(join(tmpdir(), 'sluice-cp-')), '--api-addr', '127.0.0.1:0');
  assert.equal(unknownStore.status, 1);
  assert.match(unknownStore.stderr, /unknown store 'etcd:\/\/127.0.0.1:2379'; use file:DIR/);
});

test('a second sluice-cp on the same data folder is refused; SIGTERM exits 0; the token survives a restart', async () => {
  const first = await startControlPlane();
  try {
    const second = run('--store', `file:${first.dataDir}`, '--api-addr', '127.0.0.1:0');
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`in use by process ${first.pid}`));
  } finally {
    assert.equal(await first.stop('SIGTERM'), 0);
  }
  const again = await startControlPlane({ dataDir: first.dataDir });
  try {
    assert.equal(again.token, first.token);
    assert.equal((await fetch(`${again.url}/version`, { headers: { authorization: `Bearer ${first.token}` } })).status, 200);
  } finally {
    await again.stop();
  }
});

test('--trust-domain on a data folder whose CA is for another trust domain exits 2 naming both; the same one, or none, starts', async () => {
  const first = await startControlPlane({ args: ['--trust-domain', 'a.example'] });
  await first.stop();
  const clash = run('--store', `file:${first.dataDir}`, '--api-addr', '127.0.0.1:0', '--xds-addr', '127.0.0.1:0', '--xds-plaintext-addr', 'off', '--trust-domain', 'b.example');
  assert.equal(clash.status, 2, clash.stderr);
  assert.match(clash.stderr, /--trust-domain b\.example, but the CA in .* is for a\.example/);
  for (const args of [['--trust-domain', 'a.example'], []]) {
    const again = await startControlPlane({ dataDir: first.dataDir, args });
    await again.stop();
  }
});

test('SIGTERM the moment sluice-cp says it listens stops it cleanly (exit 0), not by the signal', async () => {
  // A supervisor may act on the "api listening" line at once: the handlers must be there first.
  const codes: (number | null)[] = [];
  for (let i = 0; i < 5; i++) codes.push(await (await startControlPlane()).stop('SIGTERM'));
  assert.deepEqual(codes, [0, 0, 0, 0, 0]);
});

test('a port sluice-cp needs that is taken (API, xDS TLS, xDS plaintext) stops it with exit 1, naming the flag and the address', async () => {
  const { createServer } = await import('node:net');
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  const port = (busy.address() as { port: number }).port;
  try {
    const base = { '--api-addr': '127.0.0.1:0', '--xds-addr': '127.0.0.1:0', '--xds-plaintext-addr': '127.0.0.1:0' };
    for (const flag of Object.keys(base) as (keyof typeof base)[]) {
      const args = Object.entries({ ...base, [flag]: `127.0.0.1:${port}` }).flat();
      const r = run('--store', `file:${join(mkdtempSync(join(tmpdir(), 'sluice-cp-busy-')), 'data')}`, ...args);
      assert.equal(r.status, 1, `${flag} taken: ${r.signal === null ? '' : `still running after 20 s, killed by ${r.signal}; `}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`"msg":"sluice-cp failed to start","error":"${flag} 127\\.0\\.0\\.1:${port} cannot be bound`));
      // JSON lines only: grpc-js's own "E No address added..." goes through our log.
      for (const line of r.stderr.split('\n').filter((l) => l !== '')) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
    }
  } finally {
    busy.close();
  }
});

test('run by npx, sluice-cp stops when the wrapper that started it is killed, instead of running on orphaned; run otherwise, it does not watch', { timeout: 60_000 }, async () => {
  const { spawn } = await import('node:child_process');
  const { execFileSync } = await import('node:child_process');
  const start = (env: NodeJS.ProcessEnv) => {
    const data = join(mkdtempSync(join(tmpdir(), 'sluice-cp-wrapper-')), 'data');
    // What npm exec runs: sh -c '<bin> ...'; `; true` keeps the shell as the parent, as it is under npm.
    const sh = spawn('sh', ['-c', `"${process.execPath}" "${CP_MAIN}" --store file:${data} --api-addr 127.0.0.1:0 --xds-addr 127.0.0.1:0 --xds-plaintext-addr 127.0.0.1:0; true`], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    return new Promise<{ sh: typeof sh; cp: number }>((resolve, reject) => {
      let err = '';
      let done = false;
      const timer = setTimeout(() => reject(new Error(`no 'api listening' in 20 s: ${err}`)), 20_000);
      sh.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (done || !err.includes('"api listening"')) return;
        done = true;
        clearTimeout(timer);
        resolve({ sh, cp: Number(execFileSync('pgrep', ['-P', String(sh.pid)], { encoding: 'utf8' }).trim().split('\n')[0]) });
      });
    });
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const npx = await start({ npm_command: 'exec' });
  npx.sh.kill('SIGKILL');
  try {
    for (const until = Date.now() + 15_000; alive(npx.cp); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until) assert.fail('sluice-cp ran on after its npx wrapper was killed');
    }
  } finally {
    if (alive(npx.cp)) process.kill(npx.cp, 'SIGKILL');
  }
  const plain = await start({ npm_command: '' });
  plain.sh.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2000));
  try {
    assert.ok(alive(plain.cp), 'run without npx, sluice-cp does not stop with its parent (nohup, a shell that exits)');
  } finally {
    process.kill(plain.cp, 'SIGTERM');
  }
});
