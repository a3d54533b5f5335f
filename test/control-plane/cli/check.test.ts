// sluicectl check against a real sluice-cp and a real proxy joined with a token: every check
// passes (exit 0); a route to a missing backend shows its ResolvedRefs=False line; a
// stopped proxy shows OFFLINE since when (exit 1); a control plane that is down fails the
// first check with the reason and skips the rest. The transcript is a golden file.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { closedPort } from '../../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { assertGolden, sluicectl, transcript, type CliRun } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-check-'));
let cp: ControlPlaneProcess;
let proxy: ProxyProcess;
const runs: CliRun[] = [];

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });
const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: env(), stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** Runs check until `until` holds of it (the mesh settles a moment after a change), at most 20 s; kept for the golden transcript. */
async function checkUntil(argv: string[], until: (r: CliRun) => boolean, what: string): Promise<CliRun> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await sluicectl(argv, { env: env() });
    if (until(r)) {
      runs.push(r);
      return r;
    }
    if (Date.now() > deadline) assert.fail(`${what} not seen in 20 s; the last run printed:\n${r.stdout}${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const fails = (r: CliRun) => r.stdout.match(/^\[FAIL\] /gm)?.length ?? 0;

/** Ports, times, ages and the store's revision change from run to run; the rest is the golden file. */
const normalize = (text: string) =>
  text
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME')
    .replace(/\bin \d+[smhdy]\b/g, 'in AGE')
    .replace(/\b\d+[smhdy] ago\b/g, 'AGE ago')
    .replace(/store revision \d+/g, 'store revision N')
    .replace(/sluice-cp \d+\.\d+\.\d+/g, 'sluice-cp VERSION');

before(async () => {
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'check.sluice.dev'] });
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: check.sluice.dev }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: app }\nspec: { selector: { app: app }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: app-1, labels: { app: app } }\nspec: { address: 127.0.0.1, ports: { http: ${await closedPort()} }, serviceAccount: app }\n`,
  ].join('---\n'));
  const token = join(dir, 'app-1.token');
  await ctl(['token', 'create', '--workload', 'app-1', '--ttl', '10m', '--out', token]);
  proxy = await startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, 'app-1'), '--outbound-port', String(await closedPort()), '--drain-timeout', '1s', '--access-log', 'off'], { readyTimeoutMs: 30_000 });
});

after(async () => {
  await proxy?.stop();
  await cp?.stop();
  if (runs.length > 0) assertGolden('check.txt', transcript(runs, normalize));
});

test('with the proxy joined and in sync, every check passes and check exits 0', async () => {
  const r = await checkUntil(['check'], (r) => r.code === 0, 'every check passing');
  assert.match(r.stdout, /^\[ok\] {3}control-plane: http:\/\/127\.0\.0\.1:\d+ answers: sluice-cp /m);
  assert.match(r.stdout, /^\[ok\] {3}ca: trust domain check\.sluice\.dev: the intermediate valid until /m);
  assert.match(r.stdout, /^\[ok\] {3}proxies: 1 xDS client connected, each holding the current config$/m);
  assert.match(r.stdout, /^\[ok\] {3}certificates: none expires soon: the CA's 2 certificates not within 7d, 1 client SVID each renewed in time$/m);
  assert.match(r.stdout, /^\[ok\] {3}trust-domain: every Mesh and client SVID is of the CA's trust domain check\.sluice\.dev \(1 Mesh, 1 client SVID\)$/m);
  assert.match(r.stdout, /^\[ok\] {3}conditions: no condition is False \(3 resources checked\)$/m);
  assert.match(r.stdout, /\n6 checks: all passed\n$/);
});

test("a certificate of the CA within --warn-within fails the certificates check; -o json says the same for a script", async () => {
  // The intermediate lives 5 years and the root 10: 3000d reaches past the intermediate's end only.
  const text = await sluicectl(['check', '--warn-within', '3000d'], { env: env() });
  runs.push(text);
  assert.equal(text.code, 1, text.stdout);
  assert.match(text.stdout, /^\[FAIL\] certificates: the CA's intermediate expires at \S+, in 4y \(within --warn-within 3000d\)$/m);
  const json = await sluicectl(['check', '--warn-within', '3000d', '-o', 'json'], { env: env() });
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; checks: { name: string; status: string; problems: { role?: string }[] }[] };
  assert.equal(report.ok, false);
  const certs = report.checks.find((c) => c.name === 'certificates')!;
  assert.equal(certs.status, 'fail');
  assert.deepEqual(certs.problems.map((p) => p.role), ['intermediate']);
});

test('a route whose backend does not exist shows its ResolvedRefs=False line, and check exits 1', async () => {
  await ctl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'to-nowhere' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'app', port: 80 }], rules: [{ backendRefs: [{ name: 'missing', port: 80 }] }] },
  }));
  const r = await checkUntil(['check'], (r) => /ResolvedRefs=False/.test(r.stdout) && fails(r) === 1, "the route's ResolvedRefs=False line, alone (the proxy has ACKed the push)");
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^\[FAIL\] conditions: HTTPRoute default\/to-nowhere: ResolvedRefs=False \(BackendNotFound\): .*missing/m);
  assert.match(r.stdout, /\n6 checks: 1 failed \(1 problem\), 5 passed\n$/);
  await ctl(['delete', 'httproute', 'to-nowhere']);
});

test('a stopped proxy is OFFLINE since when it left, its Workload not in sync, and check exits 1', async () => {
  await proxy.stop();
  const r = await checkUntil(['check'], (r) => /OFFLINE/.test(r.stdout) && /InSync=False \(Offline\)/.test(r.stdout) && fails(r) === 3, 'the OFFLINE line and the Workload\'s two conditions');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^\[FAIL\] proxies: app-1\.default is OFFLINE since \d{4}-\S+Z \(\d+s ago\), last connected from (ipv4:)?127\.0\.0\.1:\d+$/m);
  assert.match(r.stdout, /^\[FAIL\] conditions: Workload default\/app-1: InSync=False \(Offline\): proxy app-1\.default left at /m);
});

test('a control plane that is down fails the first check with the reason, skips the rest, and check exits 1', async () => {
  await cp.stop();
  const r = await sluicectl(['check'], { env: env() });
  runs.push(r);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^\[FAIL\] control-plane: cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  assert.equal(r.stdout.match(/^\[skip\] /gm)?.length, 5);
  assert.match(r.stdout, /\n6 checks: 1 failed \(1 problem\), 0 passed, 5 skipped\n$/);
});

test('a duration or an output format check cannot read is a usage error: exit 2', async () => {
  const soon = await sluicectl(['check', '--warn-within', 'soon'], { env: { SLUICE_SERVER: 'http://127.0.0.1:1' } });
  assert.equal(soon.code, 2);
  assert.match(soon.stderr, /--warn-within 'soon' is not a duration: write it like 7d/);
  const yaml = await sluicectl(['check', '-o', 'yaml'], { env: { SLUICE_SERVER: 'http://127.0.0.1:1' } });
  assert.equal(yaml.code, 2);
  assert.match(yaml.stderr, /unknown output format 'yaml'/);
});
