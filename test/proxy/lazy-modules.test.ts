// What a config does not use is not loaded (issue 20, memory): a proxy on a static file
// never loads the xDS client (grpc-js, protobufjs, the translators, the certificate code),
// nor the schema library (typebox) its config was checked with in a child process.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const REPORTER = fileURLToPath(new URL('../fixtures/proxy/module-report.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sluice-lazy-modules-'));
let app: Upstream;
const running: ProxyProcess[] = [];

before(async () => {
  app = await startUpstream('app');
});
after(async () => {
  for (const p of running) await p.stop();
  await app.close();
});

/** A proxy on `yaml` with the module report on; `modules()` lists what the proxy process itself resolved. */
async function reported(yaml: string, name: string): Promise<{ proxy: ProxyProcess; modules: () => string[] }> {
  const report = join(dir, name);
  const proxy = await startProxy(yaml, [], { env: { SLUICE_MODULE_REPORT: report, NODE_OPTIONS: `--import ${REPORTER}` }, readyTimeoutMs: 60_000 });
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
