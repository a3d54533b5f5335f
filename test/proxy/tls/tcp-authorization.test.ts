// AuthorizationPolicy on a static file's tcp listener: each mTLS connection is decided by
// its peer before a byte is forwarded (Envoy's network RBAC; kinds/authz-spec.ts
// forConnections reads the policy as Istio does for TCP: an ALLOW rule that names a request
// field matches no connection, a DENY rule loses those fields and denies more).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { Ca } from '../../../certs/index.ts';
import { clientContext, issue, newCa, tempDir, writeIdentity } from '../../helpers/mesh-pki.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';

const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const BATCH = 'spiffe://mesh.example/ns/jobs/sa/batch';
const DB = 'spiffe://mesh.example/ns/shop/sa/db';

const policy = (name: string, listener: string, spec: string) => `
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: AuthorizationPolicy
    metadata: { name: ${name} }
    spec: { targetRefs: [{ kind: Listener, name: ${listener} }], ${spec} }`;

/** Three STRICT tcp listeners in front of one echo server, each with its policies. */
function config(echoPort: number): string {
  return `
identity: { dir: db }
listeners:
  - { name: only-web, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo, tls: { mode: STRICT } }
  - { name: no-jobs, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo, tls: { mode: STRICT } }
  - { name: paths, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo, tls: { mode: STRICT } }
backends:
  - { name: echo, endpoints: [{ address: 127.0.0.1, port: ${echoPort} }] }
policies:${policy('web-only', 'only-web', `rules: [{ from: [{ identities: ["${WEB}"] }] }]`)}${policy('no-jobs', 'no-jobs', 'action: DENY, rules: [{ from: [{ namespaces: [jobs] }] }]')}${policy('admin-paths', 'paths', `rules: [{ from: [{ identities: ["*"] }], to: [{ paths: [{ value: /admin }] }] }]`)}
`;
}

/** Sends `payload` over a fresh mTLS connection as `svid`; what came back before the close (or the error). */
function roundTrip(port: number, context: tls.SecureContext, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, secureContext: context, servername: 'db', checkServerIdentity: () => undefined });
    let data = '';
    socket.once('secureConnect', () => socket.end(payload));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.once('error', () => {});
    socket.once('close', () => resolve(data));
  });
}

describe('AuthorizationPolicy on a tcp listener', () => {
  const dir = tempDir('sluice-tcp-authz-');
  let ca: Ca;
  let echo: ReturnType<typeof createTcpServer>;
  let echoed = 0;
  let proxy: ProxyProcess;
  const as = (id: string) => clientContext(issue(ca, id), ca.bundle);

  before(async () => {
    ca = newCa();
    writeIdentity(join(dir, 'db'), issue(ca, DB), ca.bundle);
    echo = createTcpServer((s) => {
      echoed++;
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const file = join(dir, 'db.yaml');
    writeFileSync(file, config((echo.address() as AddressInfo).port));
    proxy = await startProxy(file, [], { cwd: dir });
  });

  after(async () => {
    await proxy?.stop();
    echo?.close();
  });

  test('an ALLOW policy lets its identity through and closes every other peer before a byte reaches the backend', async () => {
    assert.equal(await roundTrip(proxy.ports['only-web'], as(WEB), 'ping'), 'ping');
    const before = echoed;
    assert.equal(await roundTrip(proxy.ports['only-web'], as(BATCH), 'ping'), '');
    assert.equal(echoed, before, 'the denied connection never reached the backend');
    assert.match(proxy.stderr(), /"msg":"tcp connection denied by authorization","listener":"only-web".*no ALLOW policy matched \('web-only'\).*spiffe:\/\/mesh\.example\/ns\/jobs\/sa\/batch/);
  });

  test('a DENY policy on a namespace closes its peers and lets the others through', async () => {
    assert.equal(await roundTrip(proxy.ports['no-jobs'], as(BATCH), 'x'), '');
    assert.equal(await roundTrip(proxy.ports['no-jobs'], as(WEB), 'x'), 'x');
  });

  test('an ALLOW rule on paths matches no connection: a tcp port it targets lets nobody in (Istio reads it so)', async () => {
    assert.equal(await roundTrip(proxy.ports.paths, as(WEB), 'x'), '');
  });

  test('a denial is counted with the RBAC flag', async () => {
    const text = await (await fetch(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).text();
    assert.match(text, /^sluice_local_replies_total\{listener="only-web",flag="RBAC"\} [1-9]\d*$/m);
  });
});
