// Timeouts: a whole-request limit from a RetryPolicy, the upstream connect timeout, and the
// idle timeouts on both sides. A timed-out request is 504 UT and the upstream sees the reset.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * A port whose owner never accepts: a listener with a one-slot backlog in a stopped
 * process, its queue filled, so a new connection's SYN goes unanswered (a connect timeout).
 */
async function blackHole(): Promise<{ port: number; child: ChildProcess; fillers: net.Socket[] }> {
  const child = spawn(process.execPath, ['-e', "const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim()))));
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return { port, child, fillers };
}

describe('timeouts', () => {
  let proxy: ProxyProcess;
  let hung: Upstream;
  let live: Upstream;
  let tap: net.Server;
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let aborted = 0;
  const liveSockets: net.Socket[] = [];
  const url = (path: string) => `http://127.0.0.1:${proxy.ports.main}${path}`;

  before(async () => {
    hung = await startUpstream('hung', (_req, res) => res.once('close', () => !res.writableFinished && aborted++));
    live = await startUpstream('live');
    // Every connection the proxy opens to `live`, via a raw tap on the port in front of it.
    tap = net.createServer((down) => {
      liveSockets.push(down);
      const up = net.connect(live.port, '127.0.0.1');
      down.pipe(up).pipe(down);
      down.on('error', () => up.destroy());
      up.on('error', () => down.destroy());
      down.once('close', () => up.destroy());
    });
    await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
    hole = await blackHole();
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http, limits: { idleTimeoutMs: 300 } }]
routes:
  - name: r
    rules:
      - { matches: [{ path: { value: /hung } }], backendRefs: [{ name: hung }] }
      - { matches: [{ path: { value: /hole } }], backendRefs: [{ name: hole }] }
      # Both limits on one request: the route's (10 s) and the backend's (300 ms); and the other way round.
      - { matches: [{ path: { value: /both-backend-sooner } }], backendRefs: [{ name: hung }], timeouts: { request: 10s } }
      - { matches: [{ path: { value: /both-route-sooner } }], backendRefs: [{ name: hung-slow-limit }], timeouts: { request: 300ms } }
      - { matches: [{ path: { value: /both-in-time } }], backendRefs: [{ name: live }], timeouts: { request: 10s } }
      - { backendRefs: [{ name: live }] }
backends:
  - { name: hung, endpoints: [{ address: 127.0.0.1, port: ${hung.port} }] }
  - { name: hole, endpoints: [{ address: 127.0.0.1, port: ${hole.port} }] }
  - { name: hung-slow-limit, endpoints: [{ address: 127.0.0.1, port: ${hung.port} }] }
  - { name: live, endpoints: [{ address: 127.0.0.1, port: ${(tap.address() as net.AddressInfo).port} }] }
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: hung }
    spec: { targetRefs: [{ kind: Backend, name: hung }], timeouts: { request: 300ms } }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: hung-slow-limit }
    spec: { targetRefs: [{ kind: Backend, name: hung-slow-limit }], timeouts: { request: 10s } }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: hole }
    spec: { targetRefs: [{ kind: Backend, name: hole }], attempts: 0, timeouts: { connect: 200ms } }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: live }
    spec: { targetRefs: [{ kind: Backend, name: live }], timeouts: { idle: 300ms } }
`);
  });

  after(async () => {
    await proxy?.stop();
    tap?.close();
    for (const s of liveSockets) s.destroy();
    await Promise.all([hung?.close(), live?.close()]);
    for (const s of hole?.fillers ?? []) s.destroy();
    hole?.child.kill('SIGKILL');
  });

  test("a RetryPolicy's request timeout answers 504 UT and resets the upstream request", async () => {
    const res = await request(url('/hung'), { headers: { 'x-request-id': 'timeout-request' } });
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['x-sluice-details'], 'upstream_response_timeout');
    await res.body.dump();
    await waitFor(() => aborted === 1, 3000, 'the upstream to see its request reset');
    const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === 'timeout-request'));
    assert.equal(line.flags, 'UT');
  });

  test('a route timeout and a RetryPolicy request timeout on one request: the sooner answers 504 UT, whichever it is', async () => {
    for (const [path, id] of [['/both-backend-sooner', 'both-1'], ['/both-route-sooner', 'both-2']]) {
      const before = aborted;
      const started = performance.now();
      const res = await request(url(path), { headers: { 'x-request-id': id } });
      assert.equal(res.statusCode, 504, path);
      assert.equal(res.headers['x-sluice-details'], 'upstream_response_timeout');
      assert.match(await res.body.text(), /no response within 300 ms/);
      // Not a timing assertion: the 10 s limit would have kept the client that long.
      assert.ok(performance.now() - started < 9000, `${path}: the 300 ms limit answered, not the 10 s one`);
      await waitFor(() => aborted === before + 1, 3000, 'the upstream to see its request reset');
      assert.equal((await waitFor(() => proxy.accessLog().find((l) => l.request_id === id))).flags, 'UT');
    }
    // Answered in time: the deadline goes with the answer, and the body streams whole.
    const ok = await request(url('/both-in-time'));
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  });

  test('an upstream that never accepts the connection is 503 UF after the connect timeout', async () => {
    const res = await request(url('/hole'));
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['x-sluice-details'], 'upstream_connect_failure');
    assert.match(await res.body.text(), /UND_ERR_CONNECT_TIMEOUT/);
  });

  test('an idle downstream HTTP/1.1 keep-alive connection is closed after the listener idle timeout', async () => {
    const socket = net.connect(proxy.ports.main, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor(() => answer.includes('\r\n\r\n'), 3000, 'the response');
    assert.match(answer, /^HTTP\/1\.1 200/);
    await waitFor(() => socket.destroyed, 5000, 'the proxy to close the idle connection');
  });

  test('an idle downstream HTTP/2 session is closed (GOAWAY) after the listener idle timeout', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.ports.main}`);
    let goaway = false;
    session.once('goaway', () => (goaway = true));
    const stream = session.request({ ':path': '/' });
    stream.resume();
    await new Promise((r) => stream.once('close', r));
    await waitFor(() => goaway, 5000, 'GOAWAY on the idle session');
    session.destroy();
  });

  test('an idle upstream keep-alive connection is closed by the proxy after the backend idle timeout', async () => {
    const res = await request(url('/'));
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(liveSockets.length >= 1);
    // The upstream keeps connections 60 s (the helper's keepAliveTimeout): a close now is the proxy's.
    await waitFor(() => liveSockets.every((s) => s.destroyed), 3000, 'the proxy to close its idle upstream connection');
  });
});
