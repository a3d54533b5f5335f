// A zone ingress, for real (issue 18 point 2): sluice-proxy --mode zone-ingress joined to a
// control plane, a VM-style proxy serving a Service behind it, and a caller holding another
// joined proxy's SVID that connects to the ingress port with mTLS and the Service port's
// SNI. The ingress never terminates the TLS: the caller meets the instance's certificate,
// and the instance's proxy sees the caller's SPIFFE ID (x-forwarded-client-cert). A wrong
// SNI, or none, is closed and counted.

import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const TD = 'e2e.sluice.dev';
const SNI = 'outbound_.80_._.orders.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-zone-ingress-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let orders: ProxyProcess;
let ingress: ProxyProcess;
let caller: ProxyProcess;
let ingressPort = 0;

const ctl = (argv: string[], stdin?: string) => sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });

type Answer = { status: number; body: string; serverId: string | undefined } | { error: string };

/** One HTTP/1.1 request over mTLS to the ingress port with `servername` as SNI, holding the caller proxy's SVID. */
function callThroughIngress(servername: string | undefined): Promise<Answer> {
  const id = join(dir, 'caller-1');
  return new Promise((resolve) => {
    let serverId: string | undefined;
    const req = https.request({
      host: '127.0.0.1',
      port: ingressPort,
      path: '/through-the-ingress',
      ...(servername === undefined ? {} : { servername }),
      cert: readFileSync(join(id, 'cert.pem')),
      key: readFileSync(join(id, 'key.pem')),
      ca: readFileSync(join(id, 'bundle.pem')),
      // Who answered the TLS handshake: the instance's proxy, if the ingress passed TLS through.
      checkServerIdentity: (_host, cert) => {
        serverId = /URI:(spiffe:\/\/[^,\s]+)/.exec(cert.subjectaltname ?? '')?.[1];
        return undefined;
      },
      agent: false,
      headers: { connection: 'close' },
      timeout: 10_000,
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.once('error', (err) => resolve({ error: err.message }));
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body, serverId }));
    });
    req.end();
  });
}

async function stat(proxy: ProxyProcess, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).text();
  return Number(line.exec(text)?.[1] ?? 0);
}

before(async () => {
  app = await startUpstream('orders-app');
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', TD] });
  const [inbound] = [await closedPort()];
  ingressPort = await closedPort();
  const applied = await ctl(['apply', '-f', '-'], [
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
    'apiVersion: v1\nkind: Service\nmetadata: { name: orders }\nspec: { selector: { app: orders }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: orders-1, labels: { app: orders } }\nspec: { address: 127.0.0.1, ports: { http: ${inbound} }, serviceAccount: orders }\n`,
    // The ingress's own Workload: no Service selects it; its address is where other zones reach this one.
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: zone-ingress }\nspec: { address: 127.0.0.1, serviceAccount: zone-ingress }\n',
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1 }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n',
  ].join('---\n'));
  assert.equal(applied.code, 0, applied.stderr);
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    const r = await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    assert.equal(r.code, 0, r.stderr);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', '--access-log', 'off', ...args], { readyTimeoutMs: 30_000 });
  };
  [orders, ingress, caller] = await Promise.all([
    join_('orders-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort())]),
    join_('zone-ingress', ['--mode', 'zone-ingress', '--ingress-port', String(ingressPort)]),
    join_('caller-1', ['--outbound-port', String(await closedPort())]),
  ]);
  // Bounded wait for the orders proxy's inbound listener and the ingress's chain: an answer comes back only through both.
  const deadline = Date.now() + 20_000;
  for (let r = await callThroughIngress(SNI); !('status' in r); r = await callThroughIngress(SNI)) {
    if (Date.now() > deadline) assert.fail(`no answer through the ingress in 20 s: ${r.error}`);
    await new Promise((res) => setTimeout(res, 200));
  }
});

after(async () => {
  await Promise.all([caller?.stop(), ingress?.stop(), orders?.stop()]);
  await app?.close();
  await cp?.stop();
});

test("a caller's mTLS through the ingress reaches the instance, TLS untouched: the caller meets the instance's SPIFFE ID, the instance's proxy the caller's", async () => {
  const r = await callThroughIngress(SNI);
  assert.ok('status' in r, JSON.stringify(r));
  assert.equal(r.status, 200);
  assert.equal(r.serverId, `spiffe://${TD}/ns/default/sa/orders`, 'the certificate of the orders proxy, not one of the ingress');
  const seen = JSON.parse(r.body) as { name: string; url: string; headers: Record<string, string> };
  assert.equal(seen.name, 'orders-app');
  assert.equal(seen.url, '/through-the-ingress');
  assert.match(seen.headers['x-forwarded-client-cert'] ?? '', new RegExp(`URI=spiffe://${TD}/ns/default/sa/caller(;|$)`), 'the caller\'s identity, end to end');
});

test('a wrong SNI, or none, is closed at the ingress and counted (NR); the right one still works', async () => {
  const nr = /^sluice_local_replies_total\{listener="zone-ingress",flag="NR"\} (\d+)$/m;
  const before_ = await stat(ingress, nr);
  const wrong = await callThroughIngress('outbound_.81_._.orders.default.svc.cluster.local');
  assert.ok('error' in wrong, `closed, not answered: ${JSON.stringify(wrong)}`);
  // Node sends no SNI to an IP address host unless told to.
  const none = await callThroughIngress(undefined);
  assert.ok('error' in none, `closed, not answered: ${JSON.stringify(none)}`);
  // Plain bytes that are no ClientHello at all.
  await new Promise<void>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: ingressPort, servername: 'nothing.example', rejectUnauthorized: false });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  let counted = 0;
  for (const deadline = Date.now() + 5000; Date.now() < deadline && counted < before_ + 3; ) counted = await stat(ingress, nr);
  assert.equal(counted, before_ + 3);
  const ok = await callThroughIngress(SNI);
  assert.ok('status' in ok && ok.status === 200, JSON.stringify(ok));
});

test('the ingress proxy got only its SNI listener, and the caller\'s clusters carry the Service port\'s SNI', async () => {
  const dump = async (p: ProxyProcess) => (await (await fetch(`http://127.0.0.1:${p.adminPort}/config_dump`)).json()) as { config: { listeners: { name: string; port: number; serverNames?: unknown }[]; backends: { name: string; tls: unknown }[] } };
  const ing = await dump(ingress);
  assert.deepEqual(ing.config.listeners.map((l) => [l.name, l.port, l.serverNames]), [['zone-ingress', ingressPort, [{ names: [SNI], backend: SNI }]]]);
  const mine = await dump(caller);
  const backend = mine.config.backends.find((b) => b.name === 'outbound|80||orders.default.svc.cluster.local');
  assert.deepEqual(backend?.tls, { identities: [`spiffe://${TD}/ns/default/sa/orders`], serverName: SNI });
});
