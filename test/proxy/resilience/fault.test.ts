// Fault injection through the real proxy: a FaultInjectionPolicy on one rule of a route
// (sectionName) aborts or delays that rule's requests before anything goes upstream, and
// marks them FI / DI in the access log; the route's other rules are untouched.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

const fault = (name: string, rule: string, spec: string) => `
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: FaultInjectionPolicy
    metadata: { name: ${name} }
    spec:
      targetRefs: [{ kind: HTTPRoute, name: shop, sectionName: ${rule} }]
      ${spec}`;

describe('fault injection', () => {
  let up: Upstream;
  let proxy: ProxyProcess;
  let base: string;

  /** What reached the upstream under a path prefix. */
  const reached = (prefix: string) => up.seen.filter((s) => s.url.startsWith(prefix)).length;

  before(async () => {
    up = await startUpstream('up');
    const rule = (name: string, prefix: string) => `
      - name: ${name}
        matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
        backendRefs: [{ name: up }]`;
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: shop
    rules:${rule('teapot', '/teapot')}${rule('flaky', '/flaky')}${rule('slow', '/slow')}${rule('grpc', '/grpc')}${rule('plain', '/')}
backends:
  - { name: up, endpoints: [{ address: 127.0.0.1, port: ${up.port} }] }
policies:${fault('teapot', 'teapot', 'abort: { httpStatus: 418, percent: 100 }')}${fault('flaky', 'flaky', 'abort: { httpStatus: 503, percent: 50 }')}${fault('slow', 'slow', 'delay: { fixedDelay: 300ms, percent: 100 }')}${fault('grpc', 'grpc', 'abort: { grpcStatus: 14 }')}
`);
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await up?.close();
  });

  const logLine = (id: string) => waitFor(() => proxy.accessLog().find((l) => l.request_id === id), 3000, `access-log line ${id}`);

  test('aborts every request of the targeted rule with its status, and sends nothing upstream', async () => {
    for (let i = 0; i < 10; i++) {
      const id = `teapot-${i}`;
      const res = await request(`${base}/teapot/${i}`, { headers: { 'x-request-id': id } });
      await res.body.dump();
      assert.equal(res.statusCode, 418);
      assert.equal(res.headers['x-sluice-details'], 'fault_filter_abort');
      const line = await logLine(id);
      assert.equal(line.status, 418);
      assert.equal(line.flags, 'FI');
      assert.equal(line.details, 'fault_filter_abort');
    }
    assert.equal(reached('/teapot'), 0);
  });

  test('leaves a rule of the same route without a policy untouched', async () => {
    const res = await request(`${base}/other`, { headers: { 'x-request-id': 'plain-1' } });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-upstream'], 'up');
    assert.equal(res.headers['x-sluice-details'], undefined);
    assert.equal((await logLine('plain-1')).flags, '-');
    assert.equal(reached('/other'), 1);
  });

  test('aborts about the configured share of requests', async () => {
    const TOTAL = 400;
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < TOTAL) {
          const res = await request(`${base}/flaky/${next++}`);
          await res.body.dump();
          if (res.statusCode === 503) assert.equal(res.headers['x-sluice-details'], 'fault_filter_abort');
          statuses.push(res.statusCode);
        }
      }),
    );
    const aborted = statuses.filter((s) => s === 503).length;
    assert.equal(statuses.length, TOTAL);
    assert.equal(aborted + statuses.filter((s) => s === 200).length, TOTAL, 'only 503 (injected) and 200 (upstream)');
    // Binomial(400, 0.5): the standard deviation is 10, so 35-65% is 15 of them either side.
    assert.ok(aborted >= TOTAL * 0.35 && aborted <= TOTAL * 0.65, `${aborted} of ${TOTAL} aborted`);
    assert.equal(reached('/flaky'), TOTAL - aborted, 'what was not aborted went upstream, once each');
  });

  test('delays the request by at least the fixed delay, then forwards it', async () => {
    const started = performance.now();
    const res = await request(`${base}/slow`, { headers: { 'x-request-id': 'slow-1' } });
    const body = (await res.body.json()) as { name: string };
    const took = performance.now() - started;
    assert.equal(res.statusCode, 200);
    assert.equal(body.name, 'up');
    // A lower bound only. libuv keeps time in whole milliseconds, so a timer may fire up to
    // a millisecond before 300 ms by a finer clock; never more.
    assert.ok(took >= 299, `took ${took.toFixed(1)} ms`);
    const line = await logLine('slow-1');
    assert.equal(line.status, 200);
    assert.ok(String(line.flags).split(',').includes('DI'), `flags ${line.flags}`);
    assert.equal(reached('/slow'), 1);
  });

  test('answers a gRPC request with its grpc-status in a 200, and a plain request with 503', async () => {
    const client = http2.connect(base);
    try {
      const stream = client.request({ ':method': 'POST', ':path': '/grpc/helloworld.Greeter/SayHello', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      stream.resume();
      await new Promise((resolve) => stream.once('close', resolve));
      assert.equal(headers[':status'], 200);
      assert.equal(headers['grpc-status'], '14');
      assert.equal(headers['content-type'], 'application/grpc');
    } finally {
      client.close();
    }

    const res = await request(`${base}/grpc/plain`);
    await res.body.dump();
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['x-sluice-details'], 'fault_filter_abort');
    assert.equal(reached('/grpc'), 0);
  });
});
