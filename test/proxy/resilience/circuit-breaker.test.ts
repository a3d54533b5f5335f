// Circuit breaking: over a backend's limit the proxy answers 503 UO at once instead of
// queueing without bound, and the requests already admitted still complete.

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

const CB = (name: string, backend: string, spec: string) => `  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: ${name} }
    spec:
      targetRefs: [{ kind: Backend, name: ${backend} }]
      ${spec}
`;

describe('circuit breaking', () => {
  let proxy: ProxyProcess;
  let held: Upstream;
  let busy: Upstream;
  const waiting: ServerResponse[] = [];
  const release = () => waiting.splice(0).forEach((res) => res.end('done'));
  const url = (path: string) => `http://127.0.0.1:${proxy.ports.main}${path}`;
  const activeRequests = async (backend: string) => (await proxy.clusters()).find((c) => c.name === backend)!.activeRequests;

  before(async () => {
    // Holds every request until the test releases it.
    held = await startUpstream('held', (_req, res) => void waiting.push(res));
    busy = await startUpstream('busy', (_req, res) => res.writeHead(503).end('busy'));
    const ep = (u: Upstream) => `[{ address: 127.0.0.1, port: ${u.port} }]`;
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: r
    rules:
      - { matches: [{ path: { value: /active } }], backendRefs: [{ name: active }] }
      - { matches: [{ path: { value: /pending } }], backendRefs: [{ name: pending }] }
      - { matches: [{ path: { value: /retries } }], backendRefs: [{ name: retries }] }
backends:
  - { name: active, endpoints: ${ep(held)} }
  - { name: pending, endpoints: ${ep(held)} }
  - { name: retries, endpoints: ${ep(busy)} }
policies:
${CB('active', 'active', 'limits: { maxActiveRequests: 2 }')}${CB('pending', 'pending', 'limits: { maxConnections: 1, maxPendingRequests: 1 }')}${CB('retries', 'retries', 'limits: { maxActiveRetries: 0 }')}  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: retries }
    spec: { targetRefs: [{ kind: Backend, name: retries }], retryOn: [5xx] }
`);
  });

  after(async () => {
    release();
    await proxy?.stop();
    await Promise.all([held?.close(), busy?.close()]);
  });

  test('over maxActiveRequests: 503 UO at once, while the admitted requests finish', async () => {
    const first = [request(url('/active')), request(url('/active'))];
    await waitFor(() => waiting.length === 2, 3000, 'two requests held upstream');
    const over = await request(url('/active'), { headers: { 'x-request-id': 'cb-active' } });
    assert.equal(over.statusCode, 503);
    assert.equal(over.headers['x-sluice-details'], 'upstream_overflow');
    assert.match(await over.body.text(), /maxActiveRequests 2/);
    assert.equal(waiting.length, 2, 'the refused request never reached the upstream');
    release();
    for (const res of await Promise.all(first)) assert.equal(await res.body.text(), 'done');
    const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === 'cb-active'));
    assert.equal(line.flags, 'UO');
  });

  test('with one connection and one pending request allowed, the third concurrent request is refused', async () => {
    const first = request(url('/pending'));
    await waitFor(() => waiting.length === 1, 3000, 'one request on the one connection');
    const second = request(url('/pending'));
    // The second waits in the pool for the connection: pending, not refused.
    for (let i = 0; i < 500 && (await activeRequests('pending')) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await activeRequests('pending'), 2);
    const third = await request(url('/pending'));
    assert.equal(third.statusCode, 503);
    assert.equal(third.headers['x-sluice-details'], 'upstream_overflow');
    await third.body.dump();
    release();
    assert.equal(await (await first).body.text(), 'done');
    await waitFor(() => waiting.length === 1, 3000, 'the pending request to get the connection');
    release();
    assert.equal(await (await second).body.text(), 'done');
  });

  test('maxActiveRetries 0 turns retries off for the backend, whatever the retry policy says', async () => {
    busy.seen.length = 0;
    const res = await request(url('/retries'));
    assert.equal(res.statusCode, 503);
    await res.body.dump();
    assert.equal(busy.seen.length, 1);
    const all = await proxy.clusters();
    assert.equal(all.find((c) => c.name === 'retries')!.retriesRefused, 1);
    assert.ok(all.find((c) => c.name === 'active')!.overflows >= 1);
  });
});
