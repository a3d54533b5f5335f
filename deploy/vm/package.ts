// `npm run package`: the release archive for a VM, dist/sluice-<version>-linux-<arch>.tar.gz.
// It carries everything the three programs run on and nothing else: the pinned Node 24
// binary (node_modules/node), the sources (Node strips their types as it loads them), the
// production dependencies from package-lock.json, one shell wrapper per program, and the
// systemd units. No tests, no dev tools, nothing fetched: it is a copy and a tar, so it
// builds in seconds from a clean clone after `npm ci`.
//
// Reproducible: files go in sorted, owned by 0:0, dated at the last commit (or
// SOURCE_DATE_EPOCH), gzip without a name or time, so the same tree gives the same bytes.
//
//   node deploy/vm/package.ts [--out DIR]        (default DIR: dist/)
//
// Prints the archive's path on stdout.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The folders the programs load code from at run time (tests, examples and the bench stay out). */
const SOURCES = ['proxy', 'control-plane', 'xds', 'certs', 'kinds'];
const PROGRAMS = ['sluice-proxy', 'sluice-cp', 'sluicectl'];
/** What of deploy/vm/ an operator needs on the VM (the units the install steps copy). */
const VM_FILES = ['sluice-proxy.service', 'sluice-cp.service', 'sluice-proxy.env', 'sluice-cp.env', 'sluice-proxy-capture.conf'];

type Lock = { packages: Record<string, { dev?: boolean; devOptional?: boolean; link?: boolean; optional?: boolean; os?: string[]; cpu?: string[] }> };

/**
 * The top-level node_modules entries a production install has (`npm ci --omit=dev`) on
 * linux-<this arch>: an optional package for another platform (koffi's prebuilt binaries
 * come one package per os and cpu) is neither installed nor wanted.
 */
function productionPackages(lock: Lock): string[] {
  const forUs = (list: string[] | undefined, ours: string) => list === undefined || list.includes(ours);
  return Object.entries(lock.packages)
    .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && p.dev !== true && p.devOptional !== true)
    .filter(([, p]) => p.optional !== true || (forUs(p.os, 'linux') && forUs(p.cpu, process.arch)))
    .map(([path]) => path)
    .sort();
}

function sourceDateEpoch(): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO, encoding: 'utf8' });
  return git.status === 0 && /^\d+$/.test(git.stdout.trim()) ? Number(git.stdout.trim()) : 0;
}

function fail(message: string): never {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

let values: { out: string };
try {
  values = parseArgs({ options: { out: { type: 'string', default: join(REPO, 'dist') } }, strict: true }).values;
} catch (err) {
  fail(`${(err as Error).message}\nusage: node deploy/vm/package.ts [--out DIR]`);
}
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as Lock;
const nodeBin = join(REPO, 'node_modules', 'node', 'bin', 'node');
if (!existsSync(nodeBin)) fail(`${nodeBin} is missing: run npm ci first (Node 24 is pinned as a dev dependency)`);
const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
if (!nodeVersion.startsWith('v24.')) fail(`${nodeBin} is ${nodeVersion}, not Node 24`);

const name = `sluice-${pkg.version}-linux-${process.arch}`;
const stage = mkdtempSync(join(tmpdir(), 'sluice-package-'));
const top = join(stage, name);
try {
  const lib = join(top, 'lib');
  mkdirSync(lib, { recursive: true });
  for (const dir of SOURCES) cpSync(join(REPO, dir), join(lib, dir), { recursive: true });
  writeFileSync(join(lib, 'package.json'), readFileSync(join(REPO, 'package.json')));
  for (const path of productionPackages(lock)) {
    const from = join(REPO, path);
    if (!existsSync(from)) fail(`${path} is in package-lock.json but not installed: run npm ci first`);
    cpSync(realpathSync(from), join(lib, path), { recursive: true, dereference: true });
  }
  mkdirSync(join(top, 'node', 'bin'), { recursive: true });
  cpSync(realpathSync(nodeBin), join(top, 'node', 'bin', 'node'));
  chmodSync(join(top, 'node', 'bin', 'node'), 0o755);
  const nodeLicense = join(REPO, 'node_modules', 'node', 'node_modules', `node-linux-${process.arch}`, 'LICENSE');
  if (existsSync(nodeLicense)) cpSync(nodeLicense, join(top, 'node', 'LICENSE'));
  mkdirSync(join(top, 'bin'));
  for (const program of PROGRAMS) {
    cpSync(join(REPO, 'deploy', 'vm', 'bin', program), join(top, 'bin', program));
    chmodSync(join(top, 'bin', program), 0o755);
  }
  mkdirSync(join(top, 'deploy', 'vm'), { recursive: true });
  for (const f of VM_FILES) cpSync(join(REPO, 'deploy', 'vm', f), join(top, 'deploy', 'vm', f));
  cpSync(join(REPO, 'README.md'), join(top, 'README.md'));
  writeFileSync(join(top, 'VERSION'), `sluice ${pkg.version}\nnode ${nodeVersion}\n`);

  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const archive = join(out, `${name}.tar.gz`);
  const epoch = sourceDateEpoch();
  const tar = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--mode=u+rwX,go+rX,go-w', '-C', stage, '-cf', '-', name];
  // tar | gzip -n, with no shell: the archive's bytes depend on the tree alone.
  const tarred = spawnSync('tar', tar, { maxBuffer: 1 << 30 });
  if (tarred.status !== 0) fail(`tar failed: ${tarred.stderr}`);
  const zipped = spawnSync('gzip', ['-n', '-6'], { input: tarred.stdout, maxBuffer: 1 << 30 });
  if (zipped.status !== 0) fail(`gzip failed: ${zipped.stderr}`);
  writeFileSync(archive, zipped.stdout);
  process.stdout.write(`${archive}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
