// Transparent capture end to end: two network namespaces as two pods, joined by a veth
// pair and nothing else (no route out of them). Pod A (10.44.0.1) runs the control plane
// and a client; pod B (10.44.0.2) an HTTP app on :8080 and redis-server on :6379. Each has
// its proxy (group 1337, joined to the one sluice-cp with a token) and the rules of
// `sluice-proxy capture install`. The proxies keep uid 0 and are spared by their group
// (--proxy-gid): as uid 1337 they could not read a checkout under a folder only root may
// enter (a CI clone in a mktemp folder); the uid rule is checked in rules.test.ts. A's client calls the Services' virtual IPs (10.96.0.10:80,
// 10.96.0.11:6379), which exist nowhere but in the proxies' config: each call is redirected
// to A's proxy, goes over mTLS to B's pod address, is redirected to B's proxy, and reaches
// the app on loopback. Also: B's proxy stays unready while B has no rules (the CNI race)
// and becomes ready once they are installed; redis bytes to the HTTP Service are sniffed
// and closed; plaintext straight to B's app is refused by B's proxy (STRICT); an address no
// Service has passes through to where it was going, or is refused once A's proxy runs
// with --strict-egress.
// Root only (CI runs as root); skipped with the reason otherwise.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deleteNetns, joinByVeth, makeNetns, netnsMissing, nsEnv, NsProcesses, type Netns, type NsProc } from '../helpers/netns.ts';
import { PROXY_MAIN } from '../helpers/proxy-process.ts';
import { CP_MAIN } from '../helpers/control-plane.ts';
import { redisMissing } from '../helpers/redis.ts';

const CLI_MAIN = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));
const PROXY_UID = 1337;
const skip = netnsMissing() ?? redisMissing();
if (skip !== null) console.log(`# skipped: ${skip}`);

const APP = `
import http from 'node:http';
const answer = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url, remote: req.socket.remoteAddress, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
};
const server = http.createServer(answer);
const server2 = http.createServer(answer);
server.listen(8080, '0.0.0.0', () => server2.listen(8081, '0.0.0.0', () => console.log('app listening')));
`;

/** The client app's HTTP GET: prints the status, a newline and the body; exits 1 when no answer came. */
const GET = `
import http from 'node:http';
const req = http.get(process.argv[2], { agent: false, timeout: 10_000 }, (res) => {
  let body = '';
  res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => process.stdout.write(res.statusCode + '\\n' + body));
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

const RESOURCES = `
apiVersion: mesh.sluice.dev/v1alpha1
kind: Mesh
metadata: { name: default }
spec: { trustDomain: capture.sluice.dev, mtls: { mode: STRICT } }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec: { clusterIP: 10.96.0.10, selector: { app: server }, ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: redis }
spec: { clusterIP: 10.96.0.11, selector: { app: server }, ports: [{ name: redis, port: 6379, appProtocol: tcp }] }
---
# Ports that declare no protocol (no name, no appProtocol): each connection is sniffed.
apiVersion: v1
kind: Service
metadata: { name: cache }
spec: { clusterIP: 10.96.0.13, selector: { app: server }, ports: [{ port: 6380 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-plain }
spec: { clusterIP: 10.96.0.14, selector: { app: server }, ports: [{ port: 80, targetPort: 8081 }] }
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata: { name: client-1, labels: { app: client } }
spec: { address: 10.44.0.1, serviceAccount: client }
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata: { name: server-1, labels: { app: server } }
spec: { address: 10.44.0.2, ports: { http: 8080, redis: 6379 }, serviceAccount: server }
`;

type Proc = NsProc;

describe('transparent capture between two pods', { skip: skip ?? false }, () => {
  let a: Netns | undefined;
  let b: Netns | undefined;
  let dir = '';
  let proxyA: Proc;
  let proxyB: Proc;

  const processes = new NsProcesses();
  const start = (ns: Netns, argv: string[]): Proc => processes.start(ns, argv);
  const waitOut = (p: Proc, re: RegExp, what: string, ms?: number) => processes.waitOut(p, re, what, ms);
  const run = (ns: Netns, argv: string[], env: Record<string, string> = {}) =>
    spawnSync(ns.prefix[0], [...ns.prefix.slice(1), ...argv], { encoding: 'utf8', timeout: 60_000, env: nsEnv(env) });
  const ctl = (args: string[], stdinFile?: string) => {
    const r = run(a!, [process.execPath, CLI_MAIN, ...args, ...(stdinFile === undefined ? [] : ['-f', stdinFile])], { SLUICE_SERVER: 'http://127.0.0.1:15014', SLUICE_TOKEN_FILE: join(dir, 'cp', 'admin-token') });
    assert.equal(r.status, 0, `sluicectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const capture = (ns: Netns, verb: string, ...flags: string[]) => {
    const r = run(ns, [process.execPath, PROXY_MAIN, 'capture', verb, '--proxy-uid', String(PROXY_UID), '--proxy-gid', String(PROXY_UID), ...flags]);
    assert.equal(r.status, 0, `capture ${verb} in ${ns.name}: ${r.stderr}`);
  };
  /** An HTTP GET inside a namespace, as root (the app's user: captured); null when no answer came. */
  const get = (ns: Netns, url: string): { status: number; body: string } | null => {
    const r = run(ns, [process.execPath, join(dir, 'get.mjs'), url]);
    if (r.status !== 0) return null;
    const nl = r.stdout.indexOf('\n');
    return { status: Number(r.stdout.slice(0, nl)), body: r.stdout.slice(nl + 1) };
  };
  const getBody = (ns: Netns, url: string): string | null => get(ns, url)?.body ?? null;
  const stat = (ns: Netns, name: string, labels: string): number => {
    const text = getBody(ns, 'http://127.0.0.1:15020/stats/prometheus') ?? '';
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return Number(line?.split(' ')[1] ?? 0);
  };
  const proxyArgv = (identity: string, more: string[]) => ['setpriv', `--regid=${PROXY_UID}`, '--clear-groups', process.execPath, PROXY_MAIN, '--control-plane', '10.44.0.1:15012', '--identity-dir', identity, '--capture', '--access-log', 'off', '--drain-timeout', '1s', ...more];
  const joinProxy = (ns: Netns, workload: string): Proc => {
    const token = join(dir, `${workload}.token`);
    ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    chownSync(token, PROXY_UID, PROXY_UID);
    const identity = join(dir, `${workload}-identity`);
    mkdirSync(identity, { mode: 0o700 });
    chownSync(identity, PROXY_UID, PROXY_UID);
    return start(ns, proxyArgv(identity, ['--token', token]));
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-capture-'));
    chmodSync(dir, 0o755);
    a = makeNetns('capa');
    b = makeNetns('capb');
    const veth = joinByVeth(a, '10.44.0.1', b, '10.44.0.2');
    // The Services' virtual IPs route onto the veth: the only link there is, leading to the other pod.
    a.exec('ip', ['route', 'add', '10.96.0.0/16', 'dev', veth.a]);
    b.exec('ip', ['route', 'add', '10.96.0.0/16', 'dev', veth.b]);

    const cp = start(a, [process.execPath, CP_MAIN, '--store', `file:${join(dir, 'cp')}`, '--api-addr', '127.0.0.1:15014', '--xds-addr', '10.44.0.1:15012', '--xds-plaintext-addr', 'off', '--trust-domain', 'capture.sluice.dev']);
    await waitOut(cp, /"msg":"api listening"/, 'sluice-cp listening');
    writeFileSync(join(dir, 'resources.yaml'), RESOURCES);
    ctl(['apply'], join(dir, 'resources.yaml'));

    writeFileSync(join(dir, 'app.mjs'), APP);
    writeFileSync(join(dir, 'get.mjs'), GET);
    await waitOut(start(b, [process.execPath, join(dir, 'app.mjs')]), /app listening/, 'the app in pod B');
    for (const port of ['6379', '6380']) start(b, ['redis-server', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']);

    // Pod A's control plane serves pod B's proxy on 15012: not captured, as a node's port would be.
    capture(a, 'install', '--exclude-inbound-ports', '15012');
    proxyA = joinProxy(a, 'client-1');
    // Pod B's proxy starts before its rules (the race a CNI plugin or a slow init step makes).
    proxyB = joinProxy(b, 'server-1');
    await waitOut(proxyA, /"msg":"proxy ready"/, "pod A's proxy ready");
    await waitOut(proxyB, /"msg":"proxy ready"/, "pod B's proxy has its config");
    await waitOut(proxyB, /capture does not work; the proxy stays unready/, "pod B's proxy finding its capture missing");
  });

  after(async () => {
    await processes.stopAll();
    deleteNetns(a, b);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test("a proxy whose pod has no capture rules stays unready, saying why; once they are installed it becomes ready", async () => {
    const r = get(b!, 'http://127.0.0.1:15020/healthz/ready');
    assert.equal(r?.status, 503);
    assert.equal(r?.body, 'not ready: connecting to the probe address 127.0.0.254:15002 failed (ECONNREFUSED): the capture rules are not installed in this network namespace (sluice-proxy capture install)\n');
    capture(b!, 'install');
    await waitOut(proxyB, /capture works: a connection to the probe address reached this proxy/, "pod B's proxy seeing its capture work", 30_000);
    assert.equal(getBody(b!, 'http://127.0.0.1:15020/healthz/ready'), 'ready\n');
    assert.equal(getBody(a!, 'http://127.0.0.1:15020/healthz/ready'), 'ready\n');
  });

  test("HTTP to a Service's virtual IP crosses both proxies over mTLS and reaches the app on loopback", async () => {
    const outA = stat(a!, 'sluice_downstream_connections_total', 'listener="10.96.0.10_80"');
    const inB = stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|8080"');
    const body = getBody(a!, 'http://10.96.0.10/hello?x=1');
    assert.ok(body !== null, "the GET to the web Service's virtual IP got no answer");
    const seen = JSON.parse(body) as { path: string; remote: string; xfcc: string | null };
    assert.equal(seen.path, '/hello?x=1');
    assert.equal(seen.remote, '127.0.0.1', "the app is called by its own proxy, on loopback");
    assert.equal(seen.xfcc, 'By=spiffe://capture.sluice.dev/ns/default/sa/server;URI=spiffe://capture.sluice.dev/ns/default/sa/client', "B's proxy took mTLS from A's proxy, with the client's identity");
    assert.equal(stat(a!, 'sluice_downstream_connections_total', 'listener="10.96.0.10_80"'), outA + 1, "A's proxy took the call on the Service's capture listener");
    assert.equal(stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|8080"'), inB + 1, "B's proxy took it on its inbound listener");
  });

  test("TCP (redis) to a Service's virtual IP crosses both proxies and reaches redis-server", () => {
    const inB = stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|6379"');
    const set = run(a!, ['redis-cli', '-h', '10.96.0.11', '-p', '6379', 'SET', 'captured', 'yes']);
    assert.equal(set.stdout.trim(), 'OK', set.stderr);
    assert.equal(run(a!, ['redis-cli', '-h', '10.96.0.11', '-p', '6379', 'GET', 'captured']).stdout.trim(), 'yes');
    assert.equal(run(b!, ['redis-cli', '-p', '6379', 'GET', 'captured']).stdout.trim(), 'yes', 'the value is in the redis-server of pod B');
    assert.equal(stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|6379"'), inB + 2);
  });

  test('on a Service port that declares no protocol, redis is sniffed as not HTTP and crosses both proxies as TCP over mTLS; HTTP stays HTTP', () => {
    const inB = stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|6380"');
    const set = run(a!, ['redis-cli', '-h', '10.96.0.13', '-p', '6380', 'SET', 'sniffed', 'tcp']);
    assert.equal(set.stdout.trim(), 'OK', set.stderr);
    assert.equal(run(b!, ['redis-cli', '-p', '6380', 'GET', 'sniffed']).stdout.trim(), 'tcp', 'the value is in the redis-server on 6380 of pod B');
    assert.equal(stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|6380"'), inB + 1, "B's proxy took it on its inbound listener");
    // HTTP on such a port: routed and authenticated as HTTP on both sides (B's proxy sets the client's identity header).
    const seen = JSON.parse(getBody(a!, 'http://10.96.0.14/plain') ?? '{}') as { path?: string; xfcc?: string | null };
    assert.equal(seen.path, '/plain');
    assert.equal(seen.xfcc, 'By=spiffe://capture.sluice.dev/ns/default/sa/server;URI=spiffe://capture.sluice.dev/ns/default/sa/client');
  });

  test('a Service applied later is captured once its config is pushed; the running listeners carry on', async () => {
    writeFileSync(join(dir, 'later.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: { name: web-later }\nspec: { clusterIP: 10.96.0.12, selector: { app: server }, ports: [{ name: http, port: 8000, targetPort: 8080 }] }\n');
    ctl(['apply'], join(dir, 'later.yaml'));
    const deadline = Date.now() + 30_000;
    let body: string | null = null;
    while ((body = getBody(a!, 'http://10.96.0.12:8000/later')) === null || !body.startsWith('{')) {
      if (Date.now() > deadline) assert.fail(`10.96.0.12:8000 not served 30 s after the Service was applied; last answer: ${body}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal((JSON.parse(body) as { path: string }).path, '/later');
    assert.equal(JSON.parse(getBody(a!, 'http://10.96.0.10/again') ?? '{}').path, '/again');
  });

  test("bytes that are not HTTP, sent to an HTTP Service's virtual IP, are told apart by sniffing and closed there", () => {
    const dpe = stat(a!, 'sluice_local_replies_total', 'listener="10.96.0.10_80",flag="DPE"');
    const inB = stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|8080"');
    const r = run(a!, ['redis-cli', '-h', '10.96.0.10', '-p', '80', 'PING']);
    // Closed without an answer: not an HTTP 400, which redis-cli would report as a protocol error.
    assert.match(r.stdout + r.stderr, /Server closed the connection/);
    assert.equal(stat(a!, 'sluice_local_replies_total', 'listener="10.96.0.10_80",flag="DPE"'), dpe + 1, "A's proxy refused the connection on the Service's listener");
    assert.equal(stat(b!, 'sluice_downstream_connections_total', 'listener="inbound|8080"'), inB, 'nothing reached pod B');
  });

  test("plaintext straight to pod B's app port is refused by B's proxy (STRICT); an address no Service has passes through", () => {
    const refused = stat(b!, 'sluice_downstream_mtls_refused_total', 'listener="inbound|8080"');
    assert.equal(getBody(a!, 'http://10.44.0.2:8080/'), null, "a plaintext call to pod B's address reached the app");
    assert.equal(stat(b!, 'sluice_downstream_mtls_refused_total', 'listener="inbound|8080"'), refused + 1);
    // B's stats port is no Service's: A's proxy passes the call on as it came, and B leaves that port uncaptured.
    assert.equal(getBody(a!, 'http://10.44.0.2:15020/healthz/ready'), 'ready\n');
  });

  test('with --strict-egress, an address no Service has is refused; Services are still reached', async () => {
    proxyA.child.kill('SIGTERM');
    await new Promise((r) => (proxyA.child.exitCode !== null ? r(undefined) : proxyA.child.once('exit', r)));
    // The same pod's proxy again, from the identity it kept: no token.
    proxyA = start(a!, proxyArgv(join(dir, 'client-1-identity'), ['--strict-egress']));
    await waitOut(proxyA, /capture works/, "pod A's proxy restarted with --strict-egress");
    assert.equal(getBody(a!, 'http://10.44.0.2:15020/healthz/ready'), null, 'the call to an address no Service has went through');
    assert.equal((JSON.parse(getBody(a!, 'http://10.96.0.10/strict') ?? '{}') as { path?: string }).path, '/strict');
  });
});
