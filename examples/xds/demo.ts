// `npm run demo` (fourth part): the control plane configuring live proxies. sluice-cp
// starts on an empty data folder; sluicectl applies a mesh (mTLS STRICT), three services
// and their workloads; each workload's sluice-proxy joins with a token minted for it and
// follows the control plane over xDS. Then a route split is applied, then changed, and
// the calls frontend makes to orders follow each within a second, with no restart.
//
//   frontend app -> frontend's proxy (outbound, Host: orders...) --mTLS--> orders' proxy        -> orders app (v1)
//                                                                 \-mTLS--> orders-canary's proxy -> orders-canary app (v2)
//
// Every command is run as a real process, as an operator types it, and printed with its
// output. Everything listens on 127.0.0.1; every process started here is stopped here.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';
import { closedPort } from '../../test/helpers/ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CP = join(ROOT, 'control-plane/main.ts');
const PROXY = join(ROOT, 'proxy/main.ts');
const SLUICECTL = join(ROOT, 'control-plane/cli/main.ts');
const ORDERS = 'orders.default.svc.cluster.local';
/** The instances of workloads.yaml: where each proxy takes mesh traffic (mTLS), and what its app says it is. */
const WORKLOADS = [
  { name: 'frontend-1', service: 'frontend', version: 'v1', meshPort: 18501 },
  { name: 'orders-1', service: 'orders', version: 'v1', meshPort: 18502 },
  { name: 'orders-canary-1', service: 'orders-canary', version: 'v2', meshPort: 18503 },
] as const;

const dir = mkdtempSync(join(tmpdir(), 'sluice-xds-demo-'));
const data = join(dir, 'data');
const env = proxyEnv(join(tmpdir(), 'sluice-compile-cache'), { ...process.env, SLUICE_TOKEN_FILE: join(data, 'admin-token') });
const children: { what: string; child: ChildProcess }[] = [];
const apps: http.Server[] = [];

const show = (s: string) => s.replaceAll(dir, '$DEMO');
const indent = (s: string) => s.replace(/^(?=.)/gm, '  ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sluicectl(args: string[], expectStatus = 0): void {
  console.log(`$ sluicectl ${show(args.join(' '))}`);
  const r = spawnSync(process.execPath, [SLUICECTL, ...args], { encoding: 'utf8', env, cwd: ROOT, timeout: 30_000 });
  process.stdout.write(indent(show(r.stdout + r.stderr)));
  if (r.status !== expectStatus) throw new Error(`sluicectl ${args.join(' ')} exited ${r.status ?? r.signal}, expected ${expectStatus}`);
}

/** Starts a child and resolves with the JSON log lines (stderr) matching `ready`, in order, or fails on exit or after `timeoutMs`. */
function start(what: string, argv: string[], ready: RegExp[], timeoutMs: number): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], env, cwd: ROOT });
  children.push({ what, child });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} was not ready within ${timeoutMs} ms; its log:\n${log}`)), timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const lines = log.split('\n');
      const found = ready.map((re) => lines.find((l) => re.test(l)));
      if (found.every((l) => l !== undefined)) {
        clearTimeout(timer);
        resolve(found.map((l) => JSON.parse(l!) as Record<string, unknown>));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}); its log:\n${log}`));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function ensureFree(port: number, why: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', (err) => reject(new Error(`127.0.0.1:${port} (${why}) is taken: ${err.message}`)));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

/** A tiny app: it answers who it is, and the caller identity its proxy checked. */
async function startApp(service: string, version: string, workload: string): Promise<number> {
  const server = http.createServer((req, res) => {
    const caller = /URI=([^;,]+)/.exec(String(req.headers['x-forwarded-client-cert']))?.[1] ?? 'nobody';
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${service} ${version} (${workload}), called by ${caller}\n`);
  });
  apps.push(server);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One call as frontend's app makes it: to its proxy's outbound port, naming the Service in Host. */
function call(outbound: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path: '/orders/42', headers: { host: ORDERS }, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** `n` calls; who answered, as "orders v1", or the status when it was not a 200. */
async function tally(outbound: number, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await call(outbound).catch((e: Error) => ({ status: 0, body: e.message }));
    const who = r.status === 200 ? r.body.split(' (')[0] : `HTTP ${r.status} ${r.body}`;
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  console.log(`  ${n} calls answered by:`);
  for (const [who, count] of [...counts].sort()) console.log(`    ${who.padEnd(18)} ${String(count).padStart(3)}  ${'#'.repeat(Math.round((count * 40) / n))}`);
  return counts;
}

/** Waits until frontend's proxy runs a route to orders with these weights (read from its admin, as proxy-config does). */
async function routeRunning(admin: number, weights: { orders: number; 'orders-canary': number }): Promise<number> {
  const t0 = Date.now();
  type Dump = { config: { routes: { hostnames: string[]; rules: { backendRefs: { name: string; weight: number }[] }[] }[] } };
  await until(`frontend's proxy to run the split ${JSON.stringify(weights)}`, async () => {
    const dump = (await (await fetch(`http://127.0.0.1:${admin}/config_dump`, { signal: AbortSignal.timeout(2000) })).json()) as Dump;
    const route = dump.config.routes.find((r) => r.hostnames.includes(ORDERS));
    const refs = route?.rules.at(-1)?.backendRefs ?? [];
    // Compared as shares: a backend weighted 0 is left out, and a lone backend is sent as weight 1.
    const total = refs.reduce((sum, b) => sum + b.weight, 0);
    const share = (svc: string) => (refs.find((b) => b.name.endsWith(`||${svc}.default.svc.cluster.local`))?.weight ?? 0) / total;
    const want = weights.orders + weights['orders-canary'];
    return total > 0 && share('orders') === weights.orders / want && share('orders-canary') === weights['orders-canary'] / want ? true : undefined;
  });
  return Date.now() - t0;
}

async function main(): Promise<string[]> {
  const wrong: string[] = [];
  for (const w of WORKLOADS) await ensureFree(w.meshPort, `${w.name}'s mesh port in workloads.yaml`);

  console.log(`$ sluice-cp --store file:$DEMO/data --trust-domain demo.sluice.dev --api-addr 127.0.0.1:0 --xds-addr 127.0.0.1:0 --xds-plaintext-addr 127.0.0.1:0 &      # $DEMO is ${dir}`);
  const [xdsLine, apiLine] = await start(
    'sluice-cp',
    [CP, '--store', `file:${data}`, '--trust-domain', 'demo.sluice.dev', '--api-addr', '127.0.0.1:0', '--xds-addr', '127.0.0.1:0', '--xds-plaintext-addr', '127.0.0.1:0'],
    [/"msg":"xds listening"/, /"msg":"api listening"/],
    20_000,
  );
  const xds = String(xdsLine.tls);
  const api = String(apiLine.url);
  env.SLUICE_SERVER = api;
  console.log(`  xds listening (TLS, with the certificate service) on ${xds}; api listening on ${api}`);
  console.log(`$ export SLUICE_SERVER=${api} SLUICE_TOKEN_FILE=$DEMO/data/admin-token\n`);

  console.log('the mesh (mTLS STRICT), three services, one workload each:');
  sluicectl(['apply', '-f', 'examples/xds/mesh.yaml', '-f', 'examples/xds/services.yaml', '-f', 'examples/xds/workloads.yaml']);

  console.log('\neach workload: a join token, its app, and its proxy joining with the token');
  const proxies: Record<string, { admin: number; outbound: number }> = {};
  const joining: Promise<void>[] = [];
  for (const w of WORKLOADS) {
    const token = join(dir, `${w.name}.token`);
    sluicectl(['token', 'create', '--workload', w.name, '--ttl', '10m', '--out', token]);
    const appPort = await startApp(w.service, w.version, w.name);
    // Not a listen(0) port: the proxy binds it only when its config arrives, and by then an ephemeral port may be a connection's.
    const outbound = await closedPort();
    console.log(`  (${w.name}'s app, a tiny HTTP server in this demo, listens on 127.0.0.1:${appPort} and answers "${w.service} ${w.version} (${w.name}), called by <caller's SPIFFE ID>")`);
    const args = ['--control-plane', xds, '--token', token, '--identity-dir', join(dir, w.name), '--app', `http=${appPort}`, '--outbound-port', String(outbound)];
    const quiet = ['--admin-port', '0', '--stats-port', '0', '--stats-address', '127.0.0.1', '--drain-timeout', '1s', '--access-log', 'off'];
    console.log(`$ sluice-proxy ${show(args.join(' '))} \\\n    ${quiet.join(' ')} &`);
    joining.push(
      start(`${w.name}'s proxy`, [...PROXY_NODE_FLAGS, PROXY, ...args, ...quiet], [/"msg":"identity ready"/, /"msg":"proxy ready"/], 30_000).then(([id, ready]) => {
        proxies[w.name] = { admin: Number(ready.admin), outbound };
        console.log(`  ${w.name}: identity ${id.identity}; proxy ready, mesh port ${w.meshPort} -> app ${appPort}, outbound ${outbound}`);
      }),
    );
  }
  await Promise.all(joining);

  // The proxies are ready when their first config is applied; proxy-status shows them once each type is acknowledged.
  await until('three proxies SYNCED on every type', async () => {
    const res = await fetch(`${api}/debug/xds/proxies`, { headers: { authorization: `Bearer ${readFileSync(env.SLUICE_TOKEN_FILE!, 'utf8').trim()}` }, signal: AbortSignal.timeout(2000) });
    const items = ((await res.json()) as { items: { id: string; types: Record<string, { state: string } | undefined> }[] }).items;
    const synced = items.filter((p) => ['Cluster', 'Listener', 'ClusterLoadAssignment', 'RouteConfiguration', 'Secret'].every((t) => p.types[t]?.state === 'SYNCED'));
    return synced.length >= WORKLOADS.length ? true : undefined;
  });
  console.log('\nevery proxy holds the config the control plane sent (CDS LDS EDS RDS SDS):');
  sluicectl(['proxy-status']);

  const frontend = proxies['frontend-1'];
  const first = await call(frontend.outbound);
  console.log(`\nfrontend's app calls orders through its proxy: GET http://127.0.0.1:${frontend.outbound}/orders/42, Host: ${ORDERS}`);
  console.log(`  -> ${first.status} ${first.body}`);
  if (first.status !== 200) wrong.push(`the first call answered ${first.status}`);
  console.log('no route yet: orders is the Service called, so orders answers');
  const before = await tally(frontend.outbound, 20);
  if (before.get('orders v1') !== 20) wrong.push('before the split, not every call reached orders v1');

  console.log('\na canary release: 80 % of the calls to orders stay on orders, 20 % go to orders-canary');
  sluicectl(['apply', '-f', 'examples/xds/route-split.yaml']);
  console.log(`  (frontend's proxy ran the split ${await routeRunning(frontend.admin, { orders: 80, 'orders-canary': 20 })} ms after the apply; nothing restarted)`);
  const split = await tally(frontend.outbound, 100);
  const canary = split.get('orders-canary v2') ?? 0;
  if ((split.get('orders v1') ?? 0) + canary !== 100 || canary < 5 || canary > 45) wrong.push(`after the split: ${canary} of 100 calls on the canary, expected about 20`);

  console.log('\nthe canary did well: everything to orders-canary');
  sluicectl(['diff', '-f', 'examples/xds/changes/route-change.yaml'], 1);
  sluicectl(['apply', '-f', 'examples/xds/changes/route-change.yaml']);
  console.log(`  (frontend's proxy ran the change ${await routeRunning(frontend.admin, { orders: 0, 'orders-canary': 100 })} ms after the apply)`);
  const after = await tally(frontend.outbound, 100);
  if (after.get('orders-canary v2') !== 100) wrong.push('after the change, not every call reached orders-canary v2');

  console.log("\nwhat frontend's proxy runs, read from its admin:");
  sluicectl(['proxy-config', 'routes', 'frontend-1.default']);
  return wrong;
}

let stopping: Promise<void> | null = null;
/** SIGTERM every child (SIGKILL after 10 s), wait for each exit, close the apps; once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    if (children.length > 0) console.log('\nstopping: SIGTERM to every proxy, then to sluice-cp');
    const stopOne = async ({ what, child }: { what: string; child: ChildProcess }) => {
      const exited = new Promise<string>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve(String(child.exitCode ?? child.signalCode));
        else child.once('exit', (code, signal) => resolve(String(code ?? signal)));
      });
      child.kill('SIGTERM');
      let how = await Promise.race([exited, sleep(10_000).then(() => null)]);
      if (how === null) {
        child.kill('SIGKILL');
        how = `${await exited} (SIGKILL after 10 s)`;
      }
      console.log(`  ${what} (pid ${child.pid}) exited ${how}`);
    };
    // The proxies first, so they do not spend their drain reconnecting to a control plane that is gone.
    await Promise.all(children.filter((c) => c.what !== 'sluice-cp').map(stopOne));
    await Promise.all(children.filter((c) => c.what === 'sluice-cp').map(stopOne));
    agent.destroy();
    for (const a of apps) {
      a.closeAllConnections();
      a.close();
    }
    rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`demo interrupted (${signal})`);
    void stopAll().then(() => process.exit(1));
  });
}

const t0 = Date.now();
let wrong: string[] | null = null;
try {
  wrong = await main();
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
} finally {
  await stopAll();
}
for (const w of wrong ?? []) console.log(`not as expected: ${w}`);
if (wrong?.length === 0) console.log(`\ndemo done in ${((Date.now() - t0) / 1000).toFixed(1)} s: the traffic followed the split and the change; every process stopped`);
process.exit(wrong?.length === 0 ? 0 : 1);
