// Builds both images with buildah and runs them: only with SLUICE_BUILD_IMAGES=1 (it needs
// buildah and debootstrap from Debian, the Debian and npm registries, root, and minutes of
// CPU), so `npm test` stays offline. No container registry is reachable here, so the base
// image node:24-bookworm-slim cannot be pulled: a stand-in is made the way that image is
// made (Debian bookworm from debootstrap, this Node 24 binary in /usr/local/bin, npm in
// /usr/local/lib/node_modules) and passed as NODE_IMAGE. Everything after FROM is the
// Dockerfiles' own: npm ci from the registry, apt-get install iptables, the compile cache.
//
//   SLUICE_BUILD_IMAGES=1 node_modules/.bin/node --test test/deploy/image-build.test.ts

import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedPort } from '../helpers/ports.ts';
import { REPO } from './kube-objects.ts';
import { PROXY_UID } from '../../control-plane/inject/config.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip =
  process.env.SLUICE_BUILD_IMAGES !== '1' ? 'set SLUICE_BUILD_IMAGES=1 to build the images (needs buildah, debootstrap, root and the Debian and npm registries)'
  : !has('buildah') || !has('debootstrap') ? 'buildah and debootstrap are not installed (apt-get install -y buildah debootstrap)'
  : process.getuid?.() !== 0 ? 'building needs root (buildah --isolation chroot)'
  : false;

const STANDIN = 'localhost/sluice-node-standin:24-bookworm-slim';

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${String(r.stdout).slice(-3000)}\n${String(r.stderr).slice(-3000)}`);
  return String(r.stdout);
}

/** node:24-bookworm-slim as its Dockerfile makes it: Debian bookworm, Node in /usr/local/bin, npm beside it. */
function standIn(): void {
  if (spawnSync('buildah', ['inspect', STANDIN], { stdio: 'ignore' }).status === 0) return;
  const root = mkdtempSync(join(tmpdir(), 'sluice-standin-'));
  try {
    run('debootstrap', ['--variant=minbase', 'bookworm', root, 'http://deb.debian.org/debian']);
    cpSync(realpathSync(process.execPath), join(root, 'usr/local/bin/node'));
    const npm = join(run('npm', ['root', '-g']).trim(), 'npm');
    cpSync(npm, join(root, 'usr/local/lib/node_modules/npm'), { recursive: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    rmSync(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
    const c = run('buildah', ['from', 'scratch']).trim();
    try {
      run('buildah', ['copy', c, root, '/']);
      run('buildah', ['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', c]);
      run('buildah', ['commit', '-q', c, STANDIN]);
    } finally {
      spawnSync('buildah', ['rm', c], { stdio: 'ignore' });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** buildah bud of one Dockerfile on the stand-in, with this machine's CA bundle for npm (its registry may sit behind a TLS proxy). */
function build(file: string, tag: string): void {
  const bundle = '/etc/ssl/certs/ca-certificates.crt';
  const dir = mkdtempSync(join(tmpdir(), 'sluice-build-'));
  try {
    writeFileSync(join(dir, 'npmrc'), `cafile=${bundle}\n`);
    const volumes = existsSync(bundle) ? ['-v', `${bundle}:${bundle}:ro`, '-v', `${join(dir, 'npmrc')}:/root/.npmrc:ro`] : [];
    run('buildah', ['bud', '--isolation', 'chroot', '--layers=false', ...volumes, '--build-arg', `NODE_IMAGE=${STANDIN}`, '-f', join(REPO, 'deploy/images', file), '-t', tag, REPO], { timeout: 900_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = (tag: string): { Entrypoint: string[]; User: string } => (JSON.parse(run('buildah', ['inspect', tag])) as { OCIv1: { config: { Entrypoint: string[]; User: string } } }).OCIv1.config;

/** Runs the image's ENTRYPOINT with `args`, as its USER, as a container would. */
function runImage(tag: string, args: string[], env: string[] = []): { code: number | null; out: string } {
  const c = run('buildah', ['from', tag]).trim();
  try {
    const { Entrypoint, User } = config(tag);
    const r = spawnSync('buildah', ['run', '--isolation', 'chroot', '--user', User, ...env.flatMap((e) => ['--env', e]), c, '--', ...Entrypoint, ...args], { encoding: 'utf8' });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    spawnSync('buildah', ['rm', c], { stdio: 'ignore' });
  }
}

describe('the images, built with buildah', { skip, timeout: 1_800_000 }, () => {
  const tags = { cp: 'localhost/sluice-cp:image-build-test', proxy: 'localhost/sluice-proxy:image-build-test' };

  test('both build, run as their users (sluice-cp 65532, the proxy 1337 as injected), and start from the baked compile cache', () => {
    standIn();
    try {
      build('sluice-cp.Dockerfile', tags.cp);
      build('sluice-proxy.Dockerfile', tags.proxy);
      for (const [name, tag] of [['sluice-cp', tags.cp], ['sluice-proxy', tags.proxy]] as const) {
        assert.equal(config(tag).User, name === 'sluice-cp' ? '65532:65532' : `${PROXY_UID}:${PROXY_UID}`);
        const r = runImage(tag, ['--version'], ['NODE_DEBUG_NATIVE=COMPILE_CACHE']);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+$`, 'm'));
        const hits = r.out.match(/retrieving transpile cache for StrippedTypeScript \S+\.\.\.success/g) ?? [];
        assert.ok(hits.length > 50, `${name}: ${hits.length} TypeScript files from the cache`);
        assert.doesNotMatch(r.out, /writing cache for StrippedTypeScript|permission denied/, `${name} finds every module in the baked cache`);
      }
      const c = run('buildah', ['from', tags.proxy]).trim();
      try {
        assert.match(run('buildah', ['run', '--isolation', 'chroot', c, '--', 'iptables', '--version']), /^iptables v1\.8/);
      } finally {
        spawnSync('buildah', ['rm', c], { stdio: 'ignore' });
      }
    } catch (err) {
      for (const t of Object.values(tags)) spawnSync('buildah', ['rmi', t], { stdio: 'ignore' });
      throw err;
    }
  });

  test("sluice-cp's image serves its health endpoint over HTTPS, as the probes ask", async () => {
    const port = await closedPort();
    const c = run('buildah', ['from', tags.cp]).trim();
    const { Entrypoint, User } = config(tags.cp);
    const child = spawn('buildah', ['run', '--isolation', 'chroot', '--user', User, c, '--', ...Entrypoint, '--store', 'file:/tmp/store', '--api-addr', `0.0.0.0:${port}`, '--xds-addr', '127.0.0.1:0', '--xds-plaintext-addr', 'off'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    try {
      for (let i = 0; i < 600 && !/"api listening"/.test(log); i++) await sleep(100);
      assert.match(log, /"api listening"/);
      const status = await new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.equal(status, 200);
    } finally {
      // buildah's own process group: buildah and the sluice-cp it runs.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      spawnSync('buildah', ['rm', c], { stdio: 'ignore' });
      for (const t of Object.values(tags)) spawnSync('buildah', ['rmi', t], { stdio: 'ignore' });
    }
  });
});
