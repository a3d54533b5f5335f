// The failure reports survive a control plane that is away: with sluice-cp stopped, a
// joined proxy still answers its traffic at once and keeps its failed requests in its bounded
// queue; once sluice-cp is back on the same address, the proxy's access log stream
// reconnects and delivers them, and `sluicectl explain` finds the request made while it was down.

import assert from 'node:assert/strict';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-explain-restart-'));
const dataDir = join(dir, 'cp');
let cpArgs: string[];
let cp: ControlPlaneProcess;
let caller: ProxyProcess;
let outbound: number;

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });

function call(id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/x', headers: { host: 'nowhere.default.svc.cluster.local', 'x-request-id': id }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function explained(id: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await sluicectl(['explain', id], { env: env() });
    if (r.code === 0) return r.stdout;
    if (Date.now() > deadline) assert.fail(`sluicectl explain ${id} found nothing in ${timeoutMs} ms: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

before(async () => {
  cpArgs = ['--xds-addr', `127.0.0.1:${await closedPort()}`, '--trust-domain', 'e2e.sluice.dev'];
  cp = await startControlPlane({ dataDir, args: cpArgs });
  const yaml = 'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1 }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n';
  assert.equal((await sluicectl(['apply', '-f', '-'], { stdin: yaml, env: env() })).code, 0);
  const token = join(dir, 'caller.token');
  assert.equal((await sluicectl(['token', 'create', '--workload', 'caller-1', '--ttl', '10m', '--out', token], { env: env() })).code, 0);
  outbound = await closedPort();
  caller = await startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, 'caller-1'), '--drain-timeout', '1s', '--access-log', 'off', '--outbound-port', String(outbound)], { readyTimeoutMs: 90_000 });
}, { timeout: 180_000 });

after(async () => {
  await caller?.stop();
  await cp?.stop();
});

test('a failure while the control plane is down is answered at once, kept, and delivered when it is back', { timeout: 180_000 }, async () => {
  const before = randomUUID();
  assert.equal(await call(before), 404);
  assert.match(await explained(before, 15_000), /No route/);

  assert.equal(await cp.stop(), 0, cp.stderr());
  const during = randomUUID();
  assert.equal(await call(during), 404, 'the proxy answers on its own while the control plane is away');

  cp = await startControlPlane({ dataDir, args: cpArgs });
  // The stream's reconnect backoff is capped at 30 s; the report arrives after it.
  const out = await explained(during, 90_000);
  assert.match(out, new RegExp(`Request ${during}: GET nowhere\\.default\\.svc\\.cluster\\.local/x -> 404`));
  assert.match(out, /No route: proxy caller-1\.default found no route/);
});
