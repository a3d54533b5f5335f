// Issue 7 end to end with real processes: sluice-cp, and sluice-proxy agents that joined
// with tokens minted by sluicectl, follow the control plane over xDS on :15012 (mTLS with
// the SVIDs the certificate service issued), carry calls between them over mTLS, follow a
// route split, NACK what they cannot apply (shown by proxy-status), show their config to
// proxy-config, and fail no request while the control plane restarts.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { certificateBlocks } from '../../certs/pem.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { allStarted } from '../helpers/wait.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const HOST = 'orders.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-e2e-'));
let cp: ControlPlaneProcess;
let cpArgs: string[];
const apps: Record<string, Upstream> = {};
const proxies: Record<string, ProxyProcess> = {};
const ports: Record<string, number> = {};
let blocker: net.Server;

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });
const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: env(), stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from frontend's app: to its proxy's outbound port, naming the Service in Host. */
function call(path = '/hello'): Promise<{ status: number; from: string; xfcc: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ports.outbound, path, headers: { host: HOST }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => {
        const parsed = res.statusCode === 200 ? (JSON.parse(body) as { name: string; headers: Record<string, string> }) : null;
        resolve({ status: res.statusCode ?? 0, from: parsed?.name ?? body, xfcc: parsed?.headers['x-forwarded-client-cert'] ?? '' });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const workload = (name: string, labels: string, ports: string, sa: string) =>
  `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, labels: ${labels} }\nspec: { address: 127.0.0.1, ports: ${ports}, serviceAccount: ${sa}, zone: dc-1 }\n`;
const service = (name: string, selector: string, port = 'http', number = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { selector: ${selector}, ports: [{ name: ${port}, port: ${number} }] }\n`;

before(async () => {
  for (const p of ['xds', 'orders1', 'orders2', 'outbound', 'held']) ports[p] = await closedPort();
  cpArgs = ['--xds-addr', `127.0.0.1:${ports.xds}`, '--trust-domain', 'e2e.sluice.dev'];
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: cpArgs });
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: e2e.sluice.dev, mtls: { mode: STRICT } }\n',
    service('orders', '{ app: orders }'),
    service('orders-v2', '{ app: orders, version: v2 }'),
    workload('orders-1', '{ app: orders, version: v1 }', `{ http: ${ports.orders1} }`, 'orders'),
    workload('orders-2', '{ app: orders, version: v2 }', `{ http: ${ports.orders2} }`, 'orders'),
    workload('frontend-1', '{ app: frontend }', '{}', 'frontend'),
  ].join('---\n'));
  // The three proxies join at once.
  await allStarted(['orders-1', 'orders-2', 'frontend-1'].map(async (name) => {
    const tokenFile = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', tokenFile]);
    const args = ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, name), '--drain-timeout', '1s', '--access-log', 'off'];
    if (name === 'frontend-1') args.push('--outbound-port', String(ports.outbound));
    else {
      apps[name] = await startUpstream(name);
      args.push('--app', `http=${apps[name].port}`, '--outbound-port', String(await closedPort()));
    }
    proxies[name] = await startProxy('', args, { readyTimeoutMs: 30_000 });
  }));
});

after(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  await Promise.all(Object.values(apps).map((a) => a.close()));
  blocker?.close();
  await cp?.stop();
});

test('proxies that joined with a token carry a call to the Service over mTLS, with the caller\'s identity', async () => {
  const r = await until('a call through the mesh', async () => {
    const x = await call();
    return x.status === 200 ? x : undefined;
  });
  assert.ok(['orders-1', 'orders-2'].includes(r.from), r.from);
  // The inbound proxy saw frontend's SVID in the mTLS handshake and says so to the app.
  assert.match(r.xfcc, /URI=spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/frontend/);
  // Every SVID on that path is ECDSA P-256: the proxies' keys and CSRs, and the CA sluice-cp made at its first start.
  for (const name of ['frontend-1', 'orders-1', 'orders-2']) {
    const [leaf, intermediate] = certificateBlocks(readFileSync(join(dir, name, 'cert.pem'), 'utf8')).map((b) => new X509Certificate(b));
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', name);
    assert.equal(intermediate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', name);
    assert.ok(leaf.verify(intermediate.publicKey), name);
  }
});

test('a route split applied with sluicectl moves the traffic within seconds, and a change moves it back', async () => {
  const route = (v1: number, v2: number) =>
    `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: orders-split }\nspec:\n  parentRefs: [{ group: "", kind: Service, name: orders, port: 80 }]\n  rules:\n    - backendRefs: [{ name: orders-v2, port: 80, weight: ${v2} }, { name: orders, port: 80, weight: ${v1} }]\n`;
  const all = async (who: string) => {
    for (let i = 0; i < 10; i++) if ((await call()).from !== who) return undefined;
    return true;
  };
  await ctl(['apply', '-f', '-'], route(0, 100));
  await until('every call on orders-2', () => all('orders-2'));
  await ctl(['delete', 'httproute', 'orders-split']);
  await until('calls on orders-1 again', async () => ((await call()).from === 'orders-1' ? true : undefined));
});

test('proxy-status shows every proxy SYNCED, and a listener the proxy cannot bind as NACKED with the reason while the last good config serves', async () => {
  const status = await until('three synced proxies', async () => {
    const out = await ctl(['proxy-status']);
    return (out.match(/SYNCED/g) ?? []).length >= 15 ? out : undefined;
  });
  // The Workloads are in zone dc-1: proxy-status shows it in its ZONE column.
  for (const id of ['frontend-1.default', 'orders-1.default', 'orders-2.default']) assert.match(status, new RegExp(`\\n${id.replace('.', '\\.')}\\s+proxy\\s+dc-1\\s+SYNCED`));
  blocker = net.createServer().listen(ports.held, '127.0.0.1');
  await ctl(['apply', '-f', '-'], [service('orders-admin', '{ app: orders, version: v1 }', 'admin', 9000), workload('orders-1', '{ app: orders, version: v1 }', `{ http: ${ports.orders1}, admin: ${ports.held} }`, 'orders')].join('---\n'));
  const nacked = await until('a NACK', async () => {
    const out = await ctl(['proxy-status', 'orders-1.default']);
    return /NACKED/.test(out) ? out : undefined;
  });
  // The listener waits for its routes (Envoy's warming), so the response that completes it, RDS, carries the NACK.
  assert.match(nacked, /orders-1\.default\s+proxy\s+dc-1\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+SYNCED \(\S+\)\s+NACKED\s/);
  assert.match(nacked, new RegExp(`orders-1\\.default refused RDS version \\S+ at \\S+:\\n  the proxy could not apply the config: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${ports.held}\\n`));
  assert.equal((await call()).status, 200, 'the last good config still serves');
});

test('proxy-config reads what a proxy runs from its admin: routes, clusters, endpoints, its certificate', async () => {
  const routes = await ctl(['proxy-config', 'routes', 'frontend-1.default']);
  assert.match(routes, /^ROUTE\s+LISTENERS\s+HOSTNAMES\s+MATCH\s+BACKENDS\n/);
  assert.match(routes, new RegExp(`outbound\\s+${HOST.replace(/\./g, '\\.')}.*prefix /\\s+outbound\\|80\\|\\|${HOST.replace(/\./g, '\\.')}`));
  const clusters = await ctl(['proxy-config', 'clusters', 'frontend-1.default']);
  assert.match(clusters, new RegExp(`outbound\\|80\\|\\|${HOST.replace(/\./g, '\\.')}\\s+http1\\s+least-request\\s+2\\s+spiffe://e2e\\.sluice\\.dev/ns/default/sa/orders`));
  const endpoints = await ctl(['proxy-config', 'endpoints', 'frontend-1.default']);
  assert.match(endpoints, new RegExp(`127\\.0\\.0\\.1:${ports.orders1}\\s+HEALTHY\\s+dc-1`));
  const secrets = await ctl(['proxy-config', 'secrets', 'frontend-1.default']);
  assert.match(secrets, /default\s+spiffe:\/\/e2e\.sluice\.dev\/ns\/default\/sa\/frontend\s/);
});

test('a control-plane restart fails no request: proxies keep serving, reconnect, and resync', async () => {
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running && ok + failures.length < 5000) {
      const r = await call().catch((e: Error) => ({ status: 0, from: e.message, xfcc: '' }));
      if (r.status === 200) ok++;
      else failures.push(`${r.status} ${r.from}`);
    }
  })();
  await cp.stop();
  await new Promise((r) => setTimeout(r, 1000));
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: cpArgs });
  await until('every proxy back on the control plane', async () => {
    const out = await ctl(['proxy-status']);
    return ['frontend-1', 'orders-1', 'orders-2'].every((n) => out.includes(`${n}.default`)) ? true : undefined;
  }, 30_000);
  running = false;
  await loop;
  assert.deepEqual(failures, []);
  assert.ok(ok > 20, `only ${ok} requests ran`);
});
