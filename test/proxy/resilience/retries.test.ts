// Retries through the real proxy against upstreams that really fail: refused connections,
// resets before and after the response head, 503s, gRPC `unavailable`, hung tries. Each
// test shows what the policy says and what it refuses to do (non-idempotent methods,
// bodies past the buffer limit, retries past the budget).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startH2Upstream, startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';
import { closedPort } from '../../helpers/ports.ts';

const POLICY = (name: string, target: string, spec: string) => `  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: ${name} }
    spec:
      targetRefs: [${target}]
${spec
  .trim()
  .split('\n')
  .map((l) => `      ${l.trim()}`)
  .join('\n')}
`;

const attemptOf = (u: Upstream) => u.seen.map((s) => s.headers['x-sluice-attempt-count']);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('retries', () => {
  let proxy: ProxyProcess;
  const ups: Record<string, Upstream> = {};
  /** Per-upstream countdown: while above 0, the upstream fails the request its own way. */
  const failNext: Record<string, number> = {};
  const failing = (name: string) => (failNext[name] ?? 0) > 0 && failNext[name]-- > 0;
  const hungSockets: { aborted: number } = { aborted: 0 };
  let grpc: Upstream;
  let grpcUnavailable = 0;
  const url = (path: string) => `http://127.0.0.1:${proxy.ports.main}${path}`;

  before(async () => {
    ups.live = await startUpstream('live');
    // 503 while failNext.flaky > 0, then 200.
    ups.flaky = await startUpstream('flaky', (_req, res) => {
      if (failing('flaky')) res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      else res.writeHead(200, { 'x-upstream': 'flaky' }).end('ok');
    });
    // Reads the whole body, then drops the connection while failNext.dropper > 0; else echoes a digest.
    ups.dropper = await startUpstream('dropper', (req, res, body) => {
      if (failing('dropper')) req.socket.destroy();
      else res.writeHead(200, { 'x-sha': sha(body), 'x-bytes': String(body.length) }).end('ok');
    });
    // Sends the head and half a body, then resets.
    ups.midway = await startUpstream('midway', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('x'.repeat(50), () => res.socket?.destroy());
    });
    // Never answers; counts the requests the proxy gave up on.
    ups.hung = await startUpstream('hung', (req, res) => {
      res.once('close', () => !res.writableFinished && hungSockets.aborted++);
    });
    grpc = await startH2Upstream('grpc', (stream) => {
      if (grpcUnavailable-- > 0) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'try later' }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
    });
    const dead = await closedPort();
    const ep = (u: Upstream) => `{ address: 127.0.0.1, port: ${u.port} }`;
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: r
    rules:
      - { name: half-dead, matches: [{ path: { value: /half-dead } }], backendRefs: [{ name: half-dead }] }
      - { name: flaky, matches: [{ path: { value: /flaky } }], backendRefs: [{ name: flaky }] }
      - { name: budgeted, matches: [{ path: { value: /budgeted } }], backendRefs: [{ name: budgeted }] }
      - { name: dropper, matches: [{ path: { value: /dropper } }], backendRefs: [{ name: dropper }] }
      - { name: posts, matches: [{ path: { value: /posts } }], backendRefs: [{ name: dropper }] }
      - { name: midway, matches: [{ path: { value: /midway } }], backendRefs: [{ name: midway }] }
      - { name: hung, matches: [{ path: { value: /hung } }], backendRefs: [{ name: hung-then-live }] }
      - { name: grpc, matches: [{ path: { value: /grpc.Svc } }], backendRefs: [{ name: grpc }] }
backends:
  - { name: half-dead, loadBalancer: round-robin, endpoints: [{ address: 127.0.0.1, port: ${dead} }, ${ep(ups.live)}] }
  - { name: flaky, endpoints: [${ep(ups.flaky)}] }
  - { name: budgeted, endpoints: [${ep(ups.flaky)}] }
  - { name: dropper, endpoints: [${ep(ups.dropper)}] }
  - { name: midway, endpoints: [${ep(ups.midway)}] }
  - { name: hung-then-live, loadBalancer: round-robin, endpoints: [${ep(ups.hung)}, ${ep(ups.live)}] }
  - { name: grpc, protocol: http2, endpoints: [{ address: 127.0.0.1, port: ${grpc.port} }] }
policies:
${POLICY('flaky', '{ kind: Backend, name: flaky }', `
attempts: 2
retryOn: [retriable-status-codes]
retriableStatusCodes: [503]
backoff: { baseInterval: 1ms, maxInterval: 5ms }
`)}${POLICY('budgeted', '{ kind: Backend, name: budgeted }', `
attempts: 3
retryOn: [5xx]
backoff: { baseInterval: 1ms }
budget: { percent: 20, minRetriesPerSecond: 0, ttl: 60s }
`)}${POLICY('posts', '{ kind: HTTPRoute, name: r, sectionName: posts }', `
retryNonIdempotent: true
`)}${POLICY('hung', '{ kind: Backend, name: hung-then-live }', `
retryOn: [reset]
timeouts: { perTry: 200ms }
`)}`);
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all([...Object.values(ups), grpc].map((u) => u?.close()));
  });

  test('a refused connection is retried on another endpoint, which sees x-sluice-attempt-count: 2', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await request(url('/half-dead'));
      await res.body.dump();
      assert.equal(res.statusCode, 200);
    }
    assert.ok(attemptOf(ups.live).includes('2'), `attempt counts seen: ${attemptOf(ups.live).join(',')}`);
  });

  test('503 is retried under retriable-status-codes; when the tries run out the last 503 is passed on, flagged URX', async () => {
    ups.flaky.seen.length = 0;
    failNext.flaky = 2;
    const ok = await request(url('/flaky'));
    assert.equal(await ok.body.text(), 'ok');
    assert.deepEqual(attemptOf(ups.flaky), ['1', '2', '3']);

    ups.flaky.seen.length = 0;
    failNext.flaky = 10;
    const res = await request(url('/flaky'), { headers: { 'x-request-id': 'flaky-urx' } });
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), 'busy', "the upstream's own answer, not a local reply");
    assert.equal(ups.flaky.seen.length, 3, 'one try and two retries');
    const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === 'flaky-urx'));
    assert.equal(line.flags, 'URX');
    failNext.flaky = 0;
  });

  test('the retry budget caps what retries add: 20 % of requests, with no floor', async () => {
    ups.flaky.seen.length = 0;
    failNext.flaky = 1_000_000;
    for (let i = 0; i < 50; i++) await (await request(url('/budgeted'))).body.dump();
    failNext.flaky = 0;
    // Without a budget, 3 retries each would be 200 requests.
    assert.ok(ups.flaky.seen.length >= 50 && ups.flaky.seen.length <= 60, `upstream saw ${ups.flaky.seen.length} requests for 50`);
    assert.ok((await proxy.clusters()).find((c) => c.name === 'budgeted')!.retriesRefused > 0);
  });

  test('a POST is never retried by default: one try, and the client sees the failure', async () => {
    ups.dropper.seen.length = 0;
    failNext.dropper = 1;
    const res = await request(url('/dropper'), { method: 'POST', body: 'order=1' });
    await res.body.dump();
    assert.equal(res.statusCode, 503);
    assert.equal(ups.dropper.seen.length, 1);
  });

  test('a POST is retried where a policy says retryNonIdempotent, with its body replayed byte for byte', async () => {
    ups.dropper.seen.length = 0;
    failNext.dropper = 1;
    const body = Buffer.alloc(40 * 1024, 'payload-');
    const res = await request(url('/posts'), { method: 'POST', body });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-sha'], sha(body));
    assert.deepEqual(
      ups.dropper.seen.map((s) => [s.headers['x-sluice-attempt-count'], s.bodyBytes]),
      [
        ['1', body.length],
        ['2', body.length],
      ],
    );
  });

  test('an idempotent PUT whose body passed the 64 KiB buffer limit is not retried; one under it is', async () => {
    ups.dropper.seen.length = 0;
    failNext.dropper = 1;
    const big = await request(url('/dropper'), { method: 'PUT', body: Buffer.alloc(100 * 1024, 'b') });
    await big.body.dump();
    assert.equal(big.statusCode, 503);
    assert.equal(ups.dropper.seen.length, 1);

    ups.dropper.seen.length = 0;
    failNext.dropper = 1;
    const small = Buffer.alloc(60 * 1024, 's');
    const res = await request(url('/dropper'), { method: 'PUT', body: small });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-sha'], sha(small));
    assert.equal(ups.dropper.seen.length, 2);
  });

  test('a reset after the response head is never retried: the client sees the cut, the upstream one request', async () => {
    ups.midway.seen.length = 0;
    const res = await request(url('/midway'));
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
    assert.equal(ups.midway.seen.length, 1);
  });

  test('a try past the per-try timeout is cancelled (the upstream sees it go) and retried elsewhere', async () => {
    ups.hung.seen.length = 0;
    for (let i = 0; i < 2; i++) {
      const res = await request(url('/hung'));
      await res.body.dump();
      assert.equal(res.statusCode, 200);
    }
    assert.ok(ups.hung.seen.length >= 1, 'round robin sent one of the two to the hung endpoint first');
    await waitFor(() => hungSockets.aborted === ups.hung.seen.length, 3000, 'the hung upstream to see every try cancelled');
  });

  test('gRPC unavailable in a trailers-only answer is retried by default', async () => {
    grpc.seen.length = 0;
    grpcUnavailable = 1;
    const session = http2.connect(`http://127.0.0.1:${proxy.ports.main}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/grpc.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      // Resolves on the trailers, or with nothing when the stream ends without them.
      const trailers = new Promise<http2.IncomingHttpHeaders>((r) => {
        stream.once('trailers', r);
        stream.once('close', () => r({}));
      });
      stream.resume();
      assert.equal((await trailers)['grpc-status'], '0');
      assert.equal(grpc.seen.length, 2);
    } finally {
      session.close();
    }
  });
});
