// `npm run demo` (third part): the control plane. sluice-cp starts on an empty data
// folder, sluicectl applies this folder (a mesh, two services, their workloads and a
// 90/10 route split), shows what it holds, then refuses a file with mistakes and applies
// nothing of it. Every command is run as a real process, as an operator types it.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CP = join(ROOT, 'control-plane/main.ts');
const SLUICECTL = join(ROOT, 'control-plane/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'sluice-cp-demo-'));
const data = join(dir, 'data');
const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_TOKEN_FILE: join(data, 'admin-token') };

function sluicectl(args: string[], expectStatus = 0): void {
  console.log(`$ sluicectl ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [SLUICECTL, ...args], { encoding: 'utf8', env, cwd: ROOT });
  process.stdout.write(r.stdout.replace(/^/gm, '  ').replace(/ {2}$/, ''));
  process.stdout.write(r.stderr.replace(/^/gm, '  ').replace(/ {2}$/, ''));
  if (r.status !== expectStatus) throw new Error(`sluicectl ${args.join(' ')} exited ${r.status}, expected ${expectStatus}`);
}

async function main(): Promise<number> {
  console.log(`$ sluice-cp --store file:$DEMO/data --trust-domain demo.sluice.dev --api-addr 127.0.0.1:0      # $DEMO is ${dir}`);
  const cp = spawn(process.execPath, [CP, '--store', `file:${data}`, '--trust-domain', 'demo.sluice.dev', '--api-addr', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      cp.stderr!.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        const m = /"msg":"api listening".*"url":"([^"]+)"/.exec(log);
        if (m !== null) resolve(m[1]);
      });
      cp.once('exit', (code) => reject(new Error(`sluice-cp exited (${code}):\n${log}`)));
    });
    env.SLUICE_SERVER = url;
    console.log(`$ export SLUICE_SERVER=${url} SLUICE_TOKEN_FILE=$DEMO/data/admin-token\n`);
    sluicectl(['apply', '-f', 'examples/mesh/']);
    sluicectl(['get', 'httproutes']);
    sluicectl(['get', 'services']);
    sluicectl(['get', 'workloads']);
    console.log('\na file with mistakes: every one reported with its path, nothing of the file applied');
    sluicectl(['apply', '-f', 'examples/mesh/broken/route.yaml'], 1);
    sluicectl(['get', 'service', 'payments'], 1);
    console.log('\nthe control plane holds the mesh; nothing of the broken file was applied');
    return 0;
  } finally {
    cp.kill('SIGTERM');
    await new Promise((resolve) => (cp.exitCode === null ? cp.once('exit', resolve) : resolve(null)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
