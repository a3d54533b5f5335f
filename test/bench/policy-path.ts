// `npm run bench -- policy-path` (issue 15): the per-request cost of the full policy path,
// in mesh mode against static mode, and each against the same proxies with no policy.
//
// Four pairs, each wrk -> caller proxy (plain HTTP/1.1 outbound port) -> server proxy
// (STRICT mTLS inbound, h2 between the two) -> the bench's upstream on 127.0.0.1:
//   mesh, policies     joined to one sluice-cp over mTLS (tokens, SVIDs from its CA); the
//                      Service `policed` carries a policy of every kind (policy-set.ts) and an
//                      HTTPRoute with header filters
//   mesh, no policy    the same sluice-cp, Service `plain`: no policy, no route
//   static, policies   the same two proxies run from static files (certificates from a CA made
//                      here), with the same specs targeting the Backend, route and Listener
//   static, no policy  the same files without policies and filters
// Every request carries a valid bearer token (so RequestAuthentication verifies a signature
// on each), the hash header and a header the filters remove, in all four pairs alike.
// Before any load, each pair is checked: 200 with the filters' response header where they
// are set, 401 for a token of another key where a RequestAuthentication is, and, in mesh
// mode, 403 for a caller the ALLOW does not name. Rounds alternate (A B C D, D C B A).
// CPU per request of each proxy is read from /proc around the measured run: on a shared
// machine it moves less than req/s does.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { proxyEnv } from '../../proxy/node-flags.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { issue, newCa, writeIdentity } from '../helpers/mesh-pki.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { HASH_HEADER, newSigner, policySet, ROUTE_FILTERS, SERVED_BY, type Signer } from './policy-set.ts';
import { requireWrk, wrk, type WrkResult } from './wrk.ts';

const CLI_MAIN = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));
const TD = 'bench.sluice.dev';
const NS = 'bench';
const id = (sa: string) => `spiffe://${TD}/ns/${NS}/sa/${sa}`;
const READY_MS = 60_000;

const PAIRS = [
  { key: 'mesh-policies', label: 'mesh, policies', mesh: true, policies: true },
  { key: 'mesh-none', label: 'mesh, no policy', mesh: true, policies: false },
  { key: 'static-policies', label: 'static, policies', mesh: false, policies: true },
  { key: 'static-none', label: 'static, no policy', mesh: false, policies: false },
] as const;
type PairKey = (typeof PAIRS)[number]['key'];
type Pair = { readonly spec: (typeof PAIRS)[number]; readonly caller: ProxyProcess; readonly server: ProxyProcess; readonly port: number; readonly host: string };

export type PolicyPathRun = { readonly pair: PairKey; readonly load: WrkResult; readonly callerUsPerReq: number; readonly serverUsPerReq: number };
export type PolicyPathResult = {
  readonly rounds: readonly (readonly PolicyPathRun[])[];
  readonly connections: number;
  readonly seconds: number;
  readonly rssMiB: Record<PairKey, { caller: number; server: number }>;
  /** Connections the server proxy accepted over the whole section (checks and loads): 1 when the caller kept one h2 connection. */
  readonly hopConnections: Record<PairKey, number>;
};

export type PolicyPathDeps = { readonly dir: string; readonly upstreamPort: number; readonly rounds: number; readonly seconds: number; readonly connections: number; freePort(): Promise<number> };

export async function policyPathBench(deps: PolicyPathDeps): Promise<PolicyPathResult> {
  requireWrk('the policy-path bench');
  const root = join(deps.dir, 'policy-path');
  mkdirSync(root, { recursive: true });
  const signer = await newSigner();
  const stranger = await newSigner();
  const token = await signer.token(3600);
  const headers = (host: string) => ({ host, authorization: `Bearer ${token}`, [HASH_HEADER]: 'bench', 'x-debug': '1' });
  const pairs = new Map<PairKey, Pair>();
  let cp: ControlPlaneProcess | undefined;
  try {
    cp = await startMesh(deps, root, signer, pairs);
    await startStatic(deps, root, signer, pairs);
    // Every pair does what it is meant to before it is measured.
    const strangerToken = await stranger.token(3600);
    for (const p of pairs.values()) await check(p, headers(p.host), strangerToken);
    const denied = pairs.get('mesh-none')!;
    await until('the ALLOW on policed refusing the plain caller', READY_MS, async () => (await get(denied.port, { ...headers(`policed.${NS}`) })).status === 403);

    const rounds: PolicyPathRun[][] = [];
    for (let i = 0; i < deps.rounds; i++) {
      const order = i % 2 === 0 ? PAIRS : [...PAIRS].reverse();
      const round: PolicyPathRun[] = [];
      for (const spec of order) round.push(await measure(deps, pairs.get(spec.key)!, headers(pairs.get(spec.key)!.host)));
      rounds.push(round);
    }
    const rssMiB = {} as PolicyPathResult['rssMiB'];
    const hopConnections = {} as PolicyPathResult['hopConnections'];
    for (const [k, p] of pairs) {
      rssMiB[k] = { caller: rss(p.caller.child.pid!), server: rss(p.server.child.pid!) };
      hopConnections[k] = await counter(p.server.statsPort, 'sluice_downstream_connections_total');
    }
    return { rounds, connections: deps.connections, seconds: deps.seconds, rssMiB, hopConnections };
  } finally {
    await Promise.all([...pairs.values()].flatMap((p) => [stop(p.caller), stop(p.server)]));
    if (cp !== undefined) await stop(cp);
  }
}

// --- mesh mode ---

async function startMesh(deps: PolicyPathDeps, root: string, signer: Signer, pairs: Map<PairKey, Pair>): Promise<ControlPlaneProcess> {
  const cp = await startControlPlane({ dataDir: join(root, 'cp', 'data'), args: ['--trust-domain', TD], timeoutMs: 60_000 });
  const serverPorts = { plain: await deps.freePort(), policed: await deps.freePort() };
  const docs: object[] = [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: TD, mtls: { mode: 'STRICT' } } }];
  for (const svc of ['plain', 'policed'] as const) {
    docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: NS }, spec: { selector: { app: `${svc}-server` }, ports: [{ name: 'http', port: 80, appProtocol: 'http' }] } });
    docs.push(workload(`${svc}-server`, { http: serverPorts[svc] }));
    docs.push(workload(`${svc}-caller`, {}));
  }
  docs.push({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'policed', namespace: NS },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'policed', port: 80 }], rules: [{ name: 'main', filters: ROUTE_FILTERS, backendRefs: [{ name: 'policed', port: 80 }] }] },
  });
  const route = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'policed' };
  docs.push(...policySet('policed', { destination: { kind: 'Service', name: 'policed' }, route, arrival: { kind: 'Service', name: 'policed' }, namespace: NS }, { identities: [id('policed-caller')] }, signer.jwks));
  const file = join(root, 'mesh.yaml');
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  await cli(cp, ['apply', '-f', file]);

  const join_ = async (name: string, app: number | null): Promise<{ proxy: ProxyProcess; port: number }> => {
    const tokenFile = join(root, `${name}.token`);
    await cli(cp, ['token', 'create', '--workload', name, '-n', NS, '--ttl', '1h', '--out', tokenFile]);
    const port = await deps.freePort();
    const args = ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(root, 'identity', name), '--drain-timeout', '1s', '--outbound-port', String(port), '--access-log', 'off'];
    if (app !== null) args.push('--app', `http=${app}`);
    return { proxy: await startProxy('', args, { readyTimeoutMs: READY_MS }), port };
  };
  for (const spec of PAIRS.filter((p) => p.mesh)) {
    const svc = spec.policies ? 'policed' : 'plain';
    const server = await join_(`${svc}-server`, deps.upstreamPort);
    const caller = await join_(`${svc}-caller`, null);
    pairs.set(spec.key, { spec, caller: caller.proxy, server: server.proxy, port: caller.port, host: `${svc}.${NS}` });
  }
  return cp;
}

function workload(name: string, ports: Record<string, number>): object {
  return { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: NS, labels: { app: name } }, spec: { address: '127.0.0.1', ports, serviceAccount: name } };
}

/** `sluicectl ARGS` against `cp`, bounded; fails on a non-zero exit. */
function cli(cp: ControlPlaneProcess, argv: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI_MAIN, ...argv, '--server', cp.url, '--token-file', cp.tokenFile], { stdio: ['ignore', 'pipe', 'pipe'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`sluicectl ${argv.join(' ')} exited with ${code}: ${out}`));
    });
  });
}

// --- static mode ---

async function startStatic(deps: PolicyPathDeps, root: string, signer: Signer, pairs: Map<PairKey, Pair>): Promise<void> {
  const ca = newCa(TD);
  for (const spec of PAIRS.filter((p) => !p.mesh)) {
    const dir = join(root, spec.key);
    const svc = spec.policies ? 'policed' : 'plain';
    const serverId = writeIdentity(join(dir, 'server'), issue(ca, id(`${svc}-server`)), ca.bundle);
    const callerId = writeIdentity(join(dir, 'caller'), issue(ca, id(`${svc}-caller`)), ca.bundle);
    const serverPort = await deps.freePort();
    const callerPort = await deps.freePort();
    const policies = spec.policies
      ? policySet('policed', { destination: { kind: 'Backend', name: 'policed' }, route: { kind: 'HTTPRoute', name: 'policed' }, arrival: { kind: 'Listener', name: 'inbound' } }, { identities: [id('policed-caller')] }, signer.jwks)
      : [];
    const serverPolicies = policies.filter((p) => ['AuthorizationPolicy', 'RequestAuthentication'].includes(p.kind));
    const callerPolicies = policies.filter((p) => !serverPolicies.includes(p));
    const server = {
      identity: { dir: serverId },
      listeners: [{ name: 'inbound', address: '127.0.0.1', port: serverPort, protocol: 'http', tls: { mode: 'STRICT' } }],
      routes: [{ name: 'app', rules: [{ backendRefs: [{ name: 'app' }] }] }],
      backends: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: deps.upstreamPort }] }],
      policies: serverPolicies,
    };
    const caller = {
      identity: { dir: callerId },
      listeners: [{ name: 'outbound', address: '127.0.0.1', port: callerPort, protocol: 'http' }],
      routes: [{ name: 'policed', rules: [{ name: 'main', ...(spec.policies ? { filters: ROUTE_FILTERS } : {}), backendRefs: [{ name: 'policed' }] }] }],
      backends: [{ name: 'policed', tls: { identities: [id(`${svc}-server`)] }, endpoints: [{ address: '127.0.0.1', port: serverPort }] }],
      policies: callerPolicies,
    };
    writeFileSync(join(dir, 'server.yaml'), stringify(server));
    writeFileSync(join(dir, 'caller.yaml'), stringify(caller));
    const flags = ['--drain-timeout', '1s', '--access-log', 'off'];
    const s = await startProxy(join(dir, 'server.yaml'), flags, { readyTimeoutMs: READY_MS });
    const c = await startProxy(join(dir, 'caller.yaml'), flags, { readyTimeoutMs: READY_MS }).catch(async (err: unknown) => (await stop(s), Promise.reject(err)));
    pairs.set(spec.key, { spec, caller: c, server: s, port: callerPort, host: `${svc}.${NS}` });
  }
}

// --- checks and load ---

type Answer = { status: number; headers: http.IncomingHttpHeaders };

function get(port: number, headers: Record<string, string>, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5_000 }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    try {
      if (await ok()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`policy-path bench: ${what} did not hold within ${ms} ms${last === '' ? '' : ` (${last})`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function check(p: Pair, headers: Record<string, string>, strangerToken: string): Promise<void> {
  const served = (a: Answer) => a.headers[SERVED_BY.name] === SERVED_BY.value;
  await until(`${p.spec.label}: 200${p.spec.policies ? ' with the route filters' : ''}`, READY_MS, async () => {
    const a = await get(p.port, headers);
    return a.status === 200 && served(a) === p.spec.policies;
  });
  const bad = await get(p.port, { ...headers, authorization: `Bearer ${strangerToken}` });
  if (bad.status !== (p.spec.policies ? 401 : 200)) throw new Error(`policy-path bench: ${p.spec.label}: a token of another key got ${bad.status}, expected ${p.spec.policies ? 401 : 200}`);
}

async function measure(deps: PolicyPathDeps, p: Pair, headers: Record<string, string>): Promise<PolicyPathRun> {
  const url = `http://127.0.0.1:${p.port}/`;
  await wrk(url, { connections: deps.connections, seconds: 2, headers });
  const before = { caller: cpuMs(p.caller.child.pid!), server: cpuMs(p.server.child.pid!) };
  const load = await wrk(url, { connections: deps.connections, seconds: deps.seconds, headers });
  const caller = cpuMs(p.caller.child.pid!) - before.caller;
  const server = cpuMs(p.server.child.pid!) - before.server;
  if (load.errors > load.requests / 1000) {
    const a = await get(p.port, headers, '/').catch((err: Error) => ({ status: err.message, headers: {} as http.IncomingHttpHeaders }));
    throw new Error(`policy-path bench: ${p.spec.label}: ${load.errors} errors in ${load.requests} requests; one GET / now answers ${a.status} ${a.headers['x-sluice-details'] ?? ''}`);
  }
  return { pair: p.spec.key, load, callerUsPerReq: (caller * 1000) / load.requests, serverUsPerReq: (server * 1000) / load.requests };
}

// --- readings and cleanup ---

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** A counter from the proxy's /stats/prometheus, summed over its label sets. */
async function counter(statsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus`, { signal: AbortSignal.timeout(5_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** SIGTERM by the process's own handle; SIGKILL past 10 s. */
async function stop(p: { child: { kill(s: NodeJS.Signals): boolean }; exited: Promise<unknown>; stop(): Promise<unknown> }): Promise<void> {
  const stopped = await Promise.race([p.stop().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
  if (!stopped) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

// --- report ---

export function policyPathSummary(r: PolicyPathResult): string[] {
  const f = (n: number, d = 3) => n.toFixed(d);
  const by = (round: readonly PolicyPathRun[], k: PairKey) => round.find((x) => x.pair === k)!;
  const label = (k: PairKey) => PAIRS.find((p) => p.key === k)!.label;
  const out = [`Policy path (issue 15): wrk -t1 -c${r.connections}, ${r.seconds} s per run (after 2 s of warm-up) -> caller proxy -> mTLS h2 -> server proxy -> upstream; ${r.rounds.length} rounds, alternated`];
  r.rounds.forEach((round, i) => {
    out.push(`  round ${i + 1}: ${PAIRS.map((p) => `${p.label} ${Math.round(by(round, p.key).load.rps)} req/s (p50 ${f(by(round, p.key).load.p50, 2)}, p99 ${f(by(round, p.key).load.p99, 2)} ms)`).join('; ')}`);
  });
  const mean = (f2: (round: readonly PolicyPathRun[]) => number) => r.rounds.reduce((s, round) => s + f2(round), 0) / r.rounds.length;
  const rows = PAIRS.map((p) => {
    const rps = mean((round) => by(round, p.key).load.rps);
    const p50 = mean((round) => by(round, p.key).load.p50);
    const p99 = mean((round) => by(round, p.key).load.p99);
    const cu = mean((round) => by(round, p.key).callerUsPerReq);
    const su = mean((round) => by(round, p.key).serverUsPerReq);
    const errors = r.rounds.reduce((s, round) => s + by(round, p.key).load.errors, 0);
    return `  | ${p.label} | ${Math.round(rps)} | ${f(p50, 2)} | ${f(p99, 2)} | ${Math.round(cu)} / ${Math.round(su)} | ${f(r.rssMiB[p.key].caller, 0)} / ${f(r.rssMiB[p.key].server, 0)} | ${errors} |`;
  });
  out.push('  | pair | req/s (mean) | p50 ms | p99 ms | CPU µs/req caller / server | RSS MiB caller / server | errors |', '  | --- | ---: | ---: | ---: | ---: | ---: | ---: |', ...rows);
  const ratio = (a: PairKey, b: PairKey) => {
    const per = r.rounds.map((round) => by(round, a).load.rps / by(round, b).load.rps);
    const cpu = mean((round) => (by(round, a).callerUsPerReq + by(round, a).serverUsPerReq) / (by(round, b).callerUsPerReq + by(round, b).serverUsPerReq));
    return `  ${label(a)} / ${label(b)}: throughput ${f(per.reduce((s, x) => s + x, 0) / per.length)} (per round ${per.map((x) => f(x, 2)).join(', ')}), CPU per request of both proxies ${f(cpu)}`;
  };
  out.push(`  connections the server proxy accepted (checks and loads): ${PAIRS.map((p) => `${p.label} ${r.hopConnections[p.key]}`).join(', ')}`);
  out.push(ratio('mesh-policies', 'static-policies'), ratio('mesh-policies', 'mesh-none'), ratio('static-policies', 'static-none'), ratio('mesh-none', 'static-none'));
  return out;
}
