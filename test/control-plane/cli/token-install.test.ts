// `sluicectl token create --print-install`: the script that installs a Workload's proxy on
// its VM, against a real sluice-cp. The script is compared with a golden file (the token,
// its expiry and the trust bundle normalized); it must name the Workload's real ports, and
// a refused request must mint no token. test/e2e/vm-artifact.test.ts runs such a script.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseTokenFile } from '../../../xds/index.ts';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { assertGolden, sluicectl, transcript } from './harness.ts';

let cp: ControlPlaneProcess;
const run = (argv: string[], stdin?: string) => sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
const INSTALL = ['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop', '--print-install'];

before(async () => {
  cp = await startControlPlane({ dataDir: join(mkdtempSync(join(tmpdir(), 'sluice-token-install-')), 'cp'), args: ['--trust-domain', 'mesh.example'] });
  const applied = await run(['apply', '-f', '-'], [
    'apiVersion: v1\nkind: Service\nmetadata: { name: orders, namespace: shop }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }, { name: grpc, port: 9000 }] }\n',
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: orders-vm-1, namespace: shop, labels: { app: orders } }\nspec: { address: 10.0.3.7, ports: { http: 9080, grpc: 9090 }, serviceAccount: orders }\n',
  ].join('---\n'));
  assert.equal(applied.code, 0, applied.stderr);
});
after(async () => {
  await cp?.stop();
});

/** How many join tokens the Workload has: a refused --print-install must leave none behind. */
async function tokensOf(workload: string): Promise<number> {
  const r = await run(['token', 'list', '-n', 'shop']);
  return r.stdout.split('\n').filter((l) => l.split(/\s+/)[1] === workload).length;
}

test('--print-install prints the install script: the archive, the token where the unit reads it, the unit, its flags with the Workload\'s ports, systemctl enable --now', async () => {
  const r = await run([...INSTALL, '--app', 'http=8080', '--app', 'grpc=8090', '--control-plane', 'cp.mesh.internal:15012']);
  assert.equal(r.code, 0, r.stderr);
  // The token in the script is a token file the proxy reads, for this Workload's identity.
  const token = /cat > \/etc\/sluice\/join-token <<'SLUICE_TOKEN'\n([^]*?)\nSLUICE_TOKEN\n/.exec(r.stdout);
  assert.ok(token !== null, r.stdout);
  const parsed = parseTokenFile(token[1]);
  assert.ok(parsed.ok && parsed.value.identity === 'spiffe://mesh.example/ns/shop/sa/orders', parsed.ok ? parsed.value.identity : parsed.error);
  // The Workload's real ports, each with its app's port.
  assert.match(r.stdout, /^#    port grpc: the proxy listens on 9090 \(the Workload's port\), the app on local port 8090$/m);
  assert.match(r.stdout, /^#    port http: the proxy listens on 9080 \(the Workload's port\), the app on local port 8080$/m);
  assert.match(r.stdout, /^SLUICE_PROXY_ARGS=--app grpc=8090 --app http=8080$/m);
  const normalize = (text: string) =>
    text
      .replace(/sluice-jt\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}/g, 'sluice-jt.<id>.<secret>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<expiry>')
      .replace(/-----BEGIN CERTIFICATE-----\n[^]*?-----END CERTIFICATE-----\n/g, '<trust bundle PEM>\n')
      .replace(/(<trust bundle PEM>\n)+/g, '<trust bundle PEM>\n');
  assertGolden('token-print-install.txt', transcript([r], normalize));
});

test('--print-install with an http(s) --artifact downloads it first; the control plane defaults to the API host on port 15012', async () => {
  const r = await run([...INSTALL, '--app', 'http=8080', '--app', 'grpc=8090', '--artifact', 'https://releases.example/sluice-0.1.0-linux-arm64.tar.gz']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^curl -fsSLo sluice-0\.1\.0-linux-arm64\.tar\.gz https:\/\/releases\.example\/sluice-0\.1\.0-linux-arm64\.tar\.gz\nmkdir -p \/opt\/sluice\ntar -xzf sluice-0\.1\.0-linux-arm64\.tar\.gz /m);
  assert.match(r.stdout, /^SLUICE_CONTROL_PLANE=127\.0\.0\.1:15012$/m);
});

test('--print-install refuses, before minting a token, a Workload port with no --app, an --app for a port the Workload lacks, and --out', async () => {
  const before = await tokensOf('orders-vm-1');
  const missing = await run([...INSTALL, '--app', 'http=8080']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--app grpc=PORT \(the proxy takes 9090\)/);
  const unknown = await run([...INSTALL, '--app', 'http=8080', '--app', 'grpc=8090', '--app', 'admin=8091']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--app admin=8091: the Workload has no port named admin \(its ports: grpc, http\)/);
  const out = await run([...INSTALL, '--app', 'http=8080', '--app', 'grpc=8090', '--out', 'x.token']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /--out and --print-install exclude each other/);
  const noWorkload = await run(['token', 'create', '--workload', 'nobody', '-n', 'shop', '--print-install']);
  assert.notEqual(noWorkload.code, 0);
  assert.match(noWorkload.stderr, /nobody/);
  assert.equal(await tokensOf('orders-vm-1'), before);
});

test('--app and --control-plane without --print-install are refused', async () => {
  const r = await run(['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop', '--app', 'http=8080']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--app applies with --print-install only/);
});
