// What a config does not use is not loaded (issue 20, memory): a proxy on a static file
// never loads the xDS client (grpc-js, protobufjs, the translators, the certificate code),
// nor the schema library (typebox) its config was checked with in a child process; a proxy
// that follows a control plane loads the xDS client but not typebox either.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const REPORTER = fileURLToPath(new URL('../fixtures/proxy/module-report.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-lazy-modules-'));
let app: Upstream;
let cp: ControlPlaneProcess | undefined;
const running: ProxyProcess[] = [];

before(async () => {
  app = await startUpstream('app');
});
after(async () => {
  for (const p of running) await p.stop();
  await app.close();
  await cp?.stop();
});

/** A proxy on `yaml` with the module report on; `modules()` lists what the proxy process itself resolved. */
async function reported(yaml: string, name: string, args: string[] = []): Promise<{ proxy: ProxyProcess; modules: () => string[] }> {
  const report = join(dir, name);
  const proxy = await startProxy(yaml, args, { env: { SLUICE_MODULE_REPORT: report, NODE_OPTIONS: `--import ${REPORTER}` }, readyTimeoutMs: 60_000 });
  running.push(proxy);
  const file = `${report}.${proxy.child.pid}`;
  return { proxy, modules: () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []) };
}

test('a static proxy that has served a request has not loaded the xDS client, the certificate code or typebox', async () => {
  const { proxy, modules } = await reported(singleBackendConfig(app.port), 'static');
  const res = await fetch(`http://127.0.0.1:${proxy.ports.main}/hello`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const loaded = modules();
  // The report works: the proxy's own modules and the forwarding library are in it.
  assert.ok(loaded.some((u) => u.endsWith('/proxy/run.ts')), loaded.join('\n'));
  assert.ok(loaded.some((u) => u.includes('/undici/')), loaded.join('\n'));
  for (const unused of ['/@grpc/', '/protobufjs/', '/typebox/', '/proxy/run-xds.ts', '/proxy/xds/', '/certs/ca.ts', '/xds/protos.ts']) {
    assert.deepEqual(loaded.filter((u) => u.includes(unused)), [], `${unused} was loaded`);
  }
});

test('a proxy that follows a control plane, once its config has come, has loaded the xDS client but not typebox', async () => {
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'lazy.sluice.dev'] });
  const env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const doc = (kind: string, name: string, labels: Record<string, string>, spec: object, apiVersion = 'mesh.sluice.dev/v1alpha1') => JSON.stringify({ apiVersion, kind, metadata: { name, labels }, spec });
  const applied = await sluicectl(['apply', '-f', '-'], {
    env,
    stdin: [
      doc('Mesh', 'default', {}, { trustDomain: 'lazy.sluice.dev', mtls: { mode: 'STRICT' } }),
      doc('Service', 'echo', {}, { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80 }] }, 'v1'),
      doc('Workload', 'echo-1', { app: 'echo' }, { address: '127.0.0.1', ports: { http: app.port }, serviceAccount: 'echo' }),
      doc('Workload', 'caller-1', {}, { address: '127.0.0.1', serviceAccount: 'caller' }),
    ].join('\n---\n'),
  });
  assert.equal(applied.code, 0, applied.stderr);
  const token = join(dir, 'caller.token');
  const created = await sluicectl(['token', 'create', '--workload', 'caller-1', '--ttl', '10m', '--out', token], { env });
  assert.equal(created.code, 0, created.stderr);
  const { proxy, modules } = await reported('', 'xds', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, 'caller'), '--access-log', 'off']);
  // The Service's cluster is there once the first config was applied.
  const deadline = Date.now() + 30_000;
  while (!(await proxy.clusters()).some((c) => c.name.includes('echo'))) {
    assert.ok(Date.now() < deadline, `no cluster for the echo Service in 30 s; stderr:\n${proxy.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const loaded = modules();
  assert.ok(loaded.some((u) => u.endsWith('/proxy/run-xds.ts')), loaded.join('\n'));
  assert.ok(loaded.some((u) => u.includes('/@grpc/grpc-js/')), loaded.join('\n'));
  assert.ok(loaded.some((u) => u.endsWith('/proxy/xds/translate-jwt.ts')), loaded.join('\n'));
  assert.deepEqual(loaded.filter((u) => u.includes('/typebox/')), [], 'typebox was loaded');
});
