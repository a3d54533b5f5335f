// LoadBalancingPolicy through real joined proxies over mTLS: sluice-cp, three Workloads each
// behind its own joined proxy, three Services over them (one policy each), and a caller's
// proxy that joined with a token. The caller's proxy balances as the static file's tests show
// a proxy does with the same settings (test/proxy/resilience/balancing.test.ts): a hashed key
// keeps its endpoint and the keys spread, round robin takes turns, least request steers away
// from a slow endpoint.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const WORKLOADS = ['echo-1', 'echo-2', 'echo-3'];
/** echo-1 answers calls to the `lr` Service this late: the slow endpoint least request avoids. */
const SLOW_MS = 150;
const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-lb-'));
let cp: ControlPlaneProcess;
let apps: Upstream[] = [];
let servers: ProxyProcess[] = [];
let caller: ProxyProcess;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** A call from the caller's app to its proxy's outbound port: the Workload that answered (x-upstream); fails on anything but a 200. */
function who(service: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: outbound, path, headers: { host: `${service}.default.svc.cluster.local`, ...headers }, agent: false, signal: AbortSignal.timeout(15_000) },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers['x-upstream'])) : reject(new Error(`${service}${path}: status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const doc = (kind: string, name: string, spec: object, apiVersion = 'mesh.sluice.dev/v1alpha1') => JSON.stringify({ apiVersion, kind, metadata: { name }, spec });
const service = (name: string) => doc('Service', name, { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80 }] }, 'v1');
const lbPolicy = (svc: string, spec: object) => doc('LoadBalancingPolicy', svc, { targetRefs: [{ kind: 'Service', name: svc }], ...spec });

before(async () => {
  apps = await Promise.all(
    WORKLOADS.map((name) =>
      startUpstream(name, (req, res) => {
        const answer = () => res.writeHead(200, { 'x-upstream': name }).end(name);
        if (name === 'echo-1' && String(req.headers.host).startsWith('lr.')) setTimeout(answer, SLOW_MS);
        else answer();
      }),
    ),
  );
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', 'e2e.sluice.dev'] });
  outbound = await closedPort();
  const ports = await Promise.all(WORKLOADS.map(() => closedPort()));
  // Everything in one apply, before any proxy joins: the first config each gets has the policies.
  await ctl(['apply', '-f', '-'], [
    doc('Mesh', 'default', { trustDomain: 'e2e.sluice.dev', mtls: { mode: 'STRICT' } }),
    service('sticky'),
    service('rr'),
    service('lr'),
    ...WORKLOADS.map((w, i) => JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: w, labels: { app: 'echo' } }, spec: { address: '127.0.0.1', ports: { http: ports[i] }, serviceAccount: 'echo' } })),
    doc('Workload', 'caller-1', { address: '127.0.0.1', serviceAccount: 'caller' }),
    lbPolicy('sticky', { type: 'RingHash', hashOn: { type: 'Header', name: 'x-user' } }),
    lbPolicy('rr', { type: 'RoundRobin' }),
    lbPolicy('lr', { type: 'LeastRequest' }),
  ].join('\n---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  };
  servers = await Promise.all(WORKLOADS.map(async (w, i) => join_(w, ['--app', `http=${apps[i].port}`, '--outbound-port', String(await closedPort()), '--access-log', 'off'])));
  caller = await join_('caller-1', ['--outbound-port', String(outbound), '--access-log', 'off']);
  // Bounded wait until every Workload answers through the caller's proxy.
  const seen = new Set<string>();
  const deadline = Date.now() + 20_000;
  while (seen.size < WORKLOADS.length) {
    if (Date.now() > deadline) assert.fail(`only ${[...seen].join(', ') || 'nothing'} answered through the caller's proxy in 20 s`);
    const w = await who('rr', '/warm').catch(() => undefined);
    if (w === undefined) await new Promise((r) => setTimeout(r, 100));
    else seen.add(w);
  }
});

after(async () => {
  await Promise.all([caller?.stop(), ...servers.map((s) => s.stop())]);
  await Promise.all(apps.map((a) => a.close()));
  await cp?.stop();
});

/** For each key: the Workloads its `rounds` calls went to. */
async function stickiness(keys: string[], rounds: number): Promise<Map<string, Set<string>>> {
  const landed = new Map<string, Set<string>>(keys.map((k) => [k, new Set()]));
  for (let i = 0; i < rounds; i++) {
    // Interleaved, so a key cannot stick merely because nothing else happened in between.
    await Promise.all(keys.map(async (k) => landed.get(k)!.add(await who('sticky', '/', { 'x-user': k }))));
  }
  return landed;
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
// Five keys land on one endpoint once in about 81 runs; the spread is judged on many more keys.
const MANY = Array.from({ length: 40 }, (_, i) => `key-${i}`);

test('RingHash on an x-user header keeps every key on one Workload, and spreads the keys', async () => {
  const sticky = await stickiness(USERS, 20);
  for (const [user, where] of sticky) assert.equal(where.size, 1, `${user} went to ${[...where].join(', ')}`);
  const spread = await stickiness(MANY, 1);
  const used = new Set([...spread.values(), ...sticky.values()].flatMap((s) => [...s]));
  assert.ok(used.size >= 2, `all ${MANY.length + USERS.length} keys on ${[...used].join(', ')}`);
});

test('RoundRobin takes turns: one call after another, each Workload in the same order', async () => {
  const order: string[] = [];
  for (let i = 0; i < 30; i++) order.push(await who('rr', '/turns'));
  assert.equal(new Set(order.slice(0, 3)).size, 3, `the first three calls: ${order.slice(0, 3).join(', ')}`);
  order.forEach((w, i) => assert.equal(w, order[i % 3], `call ${i}: ${order.join(', ')}`));
});

test('LeastRequest sends the slow Workload clearly fewer calls than each fast one', async () => {
  const CLIENTS = 10;
  const PER_CLIENT = 30;
  const counts: Record<string, number> = Object.fromEntries(WORKLOADS.map((w) => [w, 0]));
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = 0; i < PER_CLIENT; i++) counts[await who('lr', '/')]++;
    }),
  );
  assert.equal(counts['echo-1'] + counts['echo-2'] + counts['echo-3'], CLIENTS * PER_CLIENT);
  // A count, not a time: it holds on a slow machine.
  assert.ok(counts['echo-1'] < counts['echo-2'] / 2, `slow ${counts['echo-1']} vs echo-2 ${counts['echo-2']}`);
  assert.ok(counts['echo-1'] < counts['echo-3'] / 2, `slow ${counts['echo-1']} vs echo-3 ${counts['echo-3']}`);
  assert.ok(counts['echo-1'] > 0, 'the slow Workload is still in rotation');
});
