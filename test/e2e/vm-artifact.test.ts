// The README's "On a VM" section, run: its three `# vm-install` blocks, in order. The first
// builds the release archive (npm run package) and prints the install script for Workload
// web-1 against a real control plane; the second runs that script on a "VM": an empty
// folder used as a fake root, with no node on PATH (only the few tools the script uses, and
// a systemctl that records what it is asked); the third restarts the agent. systemd is
// emulated from the installed unit's own lines (test/helpers/systemd-unit.ts): the proxy
// runs from /opt/sluice/bin/sluice-proxy, on the archive's Node, with the unit's flags, the
// token through LoadCredential and the state folder as working directory. It must join and
// carry traffic to its app; restarted, and killed and started again (Restart=on-failure),
// it must rejoin with the identity it kept.
//
// What is substituted, and only this: the control plane's address and the app's port (the
// test's own, not the README's examples), `scp` (a copy into the VM's folder), and the
// absolute paths the install writes (/opt/sluice, /etc/sluice, /etc/systemd/system,
// /var/lib/sluice-proxy), which land under the fake root.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { sluicectl } from '../control-plane/cli/harness.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startUnit, type UnitProcess } from '../helpers/systemd-unit.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'web.default.svc.cluster.local';
const work = mkdtempSync(join(tmpdir(), 'sluice-vm-artifact-'));
/** The VM: an empty folder as its root; root's home is where the files are copied to. */
const vm = join(work, 'vm');
const vmHome = join(vm, 'root');
/** The only programs on the VM's PATH: what the install script and the README's blocks use. */
const tools = join(work, 'tools');
const calls = join(work, 'systemctl-calls');
const TOOLS = ['sh', 'tar', 'gzip', 'mkdir', 'cat', 'install', 'ls', 'readlink'];
/** The paths the install writes, and the README lists, moved under the fake root. */
const ROOTED = ['/opt/sluice', '/etc/sluice', '/etc/systemd/system', '/var/lib/sluice-proxy'];

let cp: ControlPlaneProcess;
let app: Upstream;
let unit: UnitProcess | null = null;
let outbound: number;

/** The README's `# vm-install N/3` block. */
function readmeBlock(n: number): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const m = new RegExp('```sh\\n(# vm-install ' + n + '/3:[^]*?)```').exec(readme);
  assert.ok(m !== null, `README.md has no block starting '# vm-install ${n}/3:'`);
  return m[1];
}

const rooted = (text: string) => ROOTED.reduce((t, p) => t.replaceAll(` ${p}`, ` ${vm}${p}`), text);

function sh(script: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): string {
  const r = spawnSync('/bin/sh', ['-eu', '-c', script], { cwd: opts.cwd, env: opts.env, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `${script}\nexit ${r.status}; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

function call(): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/vm', headers: { host: HOST }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** Calls through the agent until the app answers (the config arrives just after "proxy ready"). */
async function servesTraffic(what: string): Promise<void> {
  const seen = app.seen.length;
  let last = { status: 0, body: '' };
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    last = await call();
    if (last.status === 200 && last.body === 'web-1') break;
  }
  assert.deepEqual(last, { status: 200, body: 'web-1' }, `${what}: a call through the agent's outbound port; its stderr:\n${unit?.stderr()}`);
  assert.ok(app.seen.length > seen);
}

/** Acts on what the README's blocks asked systemctl, as systemd would. */
async function systemctl(): Promise<string[]> {
  const asked = readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '');
  writeFileSync(calls, '');
  const start = async () => {
    unit = startUnit(vm, 'sluice-proxy', { path: tools });
    await unit.waitForLog(/"msg":"proxy ready"/, 60_000);
  };
  for (const c of asked) {
    if (c === 'enable --now sluice-proxy') await start();
    else if (c === 'restart sluice-proxy') {
      await unit?.stop();
      await start();
    } else if (c === 'status sluice-proxy') assert.ok(unit !== null && unit.child.exitCode === null, 'systemctl status: the unit runs');
    else assert.equal(c, 'daemon-reload', `systemctl ${c}: not a call the README makes`);
  }
  return asked;
}

before(async () => {
  mkdirSync(vmHome, { recursive: true });
  // What any systemd machine has.
  mkdirSync(join(vm, 'etc/systemd/system'), { recursive: true });
  mkdirSync(tools);
  for (const t of TOOLS) {
    const found = ['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));
    assert.ok(found !== undefined, `${t} is not installed`);
    symlinkSync(found, join(tools, t));
  }
  writeFileSync(join(tools, 'systemctl'), `#!/bin/sh\necho "$*" >> ${calls}\n`);
  chmodSync(join(tools, 'systemctl'), 0o755);
  writeFileSync(calls, '');
  app = await startUpstream('web-1', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('web-1'));
  cp = await startControlPlane({ dataDir: join(work, 'cp'), args: ['--trust-domain', 'vm.sluice.dev'] });
  const inbound = await closedPort();
  const applied = await sluicectl(['apply', '-f', '-'], {
    env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile },
    stdin: [
      'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n',
      `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-1, labels: { app: web } }\nspec: { address: 127.0.0.1, ports: { http: ${inbound} }, serviceAccount: web }\n`,
    ].join('---\n'),
  });
  assert.equal(applied.code, 0, applied.stderr);
  outbound = await closedPort();
});

after(async () => {
  await unit?.stop('SIGKILL');
  await app?.close();
  await cp?.stop();
});

test('README "On a VM" 1/3: npm run package builds the archive, and --print-install the script for web-1', { timeout: 240_000 }, () => {
  const block = readmeBlock(1)
    .replace('--control-plane cp.mesh.internal:15012', `--control-plane ${cp.xds}`)
    .replace('--app http=8080', `--app http=${app.port}`)
    .replace(/^scp (.*) root@web-1\.vm\.internal:$/m, `cp $1 ${vmHome}/`);
  sh(block, { cwd: REPO, env: { ...process.env, SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
  assert.deepEqual(readdirSync(vmHome).sort(), ['install-web-1.sh', 'sluice-0.1.0-linux-x64.tar.gz']);
  // Only what runs: no tests, no dev tools but the pinned node.
  const listing = spawnSync('tar', ['-tzf', join(vmHome, 'sluice-0.1.0-linux-x64.tar.gz')], { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout.split('\n');
  for (const absent of ['test/', 'lib/test/', 'lib/examples/', 'lib/node_modules/typescript/', 'lib/node_modules/fast-check/', 'lib/node_modules/autocannon/', 'lib/node_modules/node/', 'lib/node_modules/.bin/']) {
    assert.ok(!listing.some((f) => f.startsWith(`sluice-0.1.0-linux-x64/${absent}`)), `the archive holds nothing under ${absent}`);
  }
  for (const present of ['bin/sluice-proxy', 'bin/sluice-cp', 'bin/sluicectl', 'node/bin/node', 'lib/proxy/main.ts', 'lib/node_modules/@grpc/grpc-js-xds/package.json', 'deploy/vm/sluice-proxy.service']) {
    assert.ok(listing.includes(`sluice-0.1.0-linux-x64/${present}`), `the archive holds ${present}`);
  }
});

test('README "On a VM" 2/3: the install script, run with no node on PATH, installs an agent that joins the control plane and serves traffic', { timeout: 180_000 }, async () => {
  assert.ok(!existsSync(join(tools, 'node')) && !existsSync(join(tools, 'nodejs')), 'no node on the VM PATH');
  const script = join(vmHome, 'install-web-1.sh');
  writeFileSync(script, rooted(readFileSync(script, 'utf8')));
  sh(rooted(readmeBlock(2)), { cwd: vmHome, env: { PATH: tools, HOME: vmHome } });
  assert.equal(statSync(join(vm, 'etc/sluice/join-token')).mode & 0o777, 0o600);
  // Ports of this test run (the defaults 15000/15001 may be taken): an operator's line in the env file.
  const envFile = join(vm, 'etc/sluice/sluice-proxy.env');
  writeFileSync(envFile, readFileSync(envFile, 'utf8').replace(/^SLUICE_PROXY_ARGS=(.*)$/m, `SLUICE_PROXY_ARGS=$1 --admin-port 0 --stats-port 0 --outbound-port ${outbound} --access-log off`));
  assert.deepEqual(await systemctl(), ['daemon-reload', 'enable --now sluice-proxy', 'status sluice-proxy']);
  // The program is the archive's Node, not any node of the machine.
  assert.equal(readlinkSync(`/proc/${unit!.child.pid}/exe`), join(vm, 'opt/sluice/node/bin/node'));
  assert.match(unit!.stderr(), /"msg":"svid received"[^\n]*"source":"join-token"/);
  await servesTraffic('after the install');
  // The archive's other two programs run the same way.
  const opt = join(vm, 'opt/sluice/bin');
  assert.match(sh(`${opt}/sluicectl version`, { cwd: vmHome, env: { PATH: tools, SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } }), /^Client Version: 0\.1\.0\nServer Version: /);
  assert.match(sh(`${opt}/sluice-cp --help`, { cwd: vmHome, env: { PATH: tools } }), /^usage: sluice-cp/);
});

test('README "On a VM" 3/3: restarted, and killed then started again, the agent rejoins with its kept identity and serves again', { timeout: 180_000 }, async () => {
  const listed = sh(rooted(readmeBlock(3)), { cwd: vmHome, env: { PATH: tools, HOME: vmHome } });
  assert.deepEqual(listed.trim().split(/\s+/).sort(), ['bundle.pem', 'cert.pem', 'key.pem', 'workload']);
  assert.deepEqual(await systemctl(), ['restart sluice-proxy']);
  assert.match(unit!.stderr(), /"msg":"using the SVID found in the identity folder"/);
  await servesTraffic('after systemctl restart');
  // A crash: Restart=on-failure starts the same command again.
  await unit!.stop('SIGKILL');
  writeFileSync(calls, 'restart sluice-proxy\n');
  await systemctl();
  assert.match(unit!.stderr(), /"msg":"using the SVID found in the identity folder"/);
  await servesTraffic('after a crash and a restart');
});

