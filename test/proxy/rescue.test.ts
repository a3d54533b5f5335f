// Local replies: each failure class gets its status, its x-sluice-details reason and its
// Envoy response flag in the access log, from the one rescue.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startH2Upstream, startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

describe('local replies', () => {
  let proxy: ProxyProcess;
  let resetter: net.Server;
  let slow: Upstream;
  let h2reset: Upstream;
  let h2refuse: Upstream;
  let closedPort: number;

  before(async () => {
    // Accepts, reads the request, then drops the connection without a byte of answer.
    resetter = net.createServer((s) => s.once('data', () => s.destroy()));
    await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
    slow = await startUpstream('slow', (_req, res) => setTimeout(() => res.end('late'), 3000));
    h2reset = await startH2Upstream('h2reset', (stream) => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    h2refuse = await startH2Upstream('h2refuse', (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    // A port with nobody listening: bind, note it, close.
    const tmp = net.createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    closedPort = (tmp.address() as net.AddressInfo).port;
    await new Promise((r) => tmp.close(r));

    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: r
    rules:
      - matches: [{ path: { type: PathPrefix, value: /empty } }]
        backendRefs: [{ name: empty }]
      - matches: [{ path: { type: PathPrefix, value: /refused } }]
        backendRefs: [{ name: refused }]
      - matches: [{ path: { type: PathPrefix, value: /reset } }]
        backendRefs: [{ name: resetter }]
      - matches: [{ path: { type: PathPrefix, value: /h2reset } }]
        backendRefs: [{ name: h2reset }]
      - matches: [{ path: { type: PathPrefix, value: /h2refuse } }]
        backendRefs: [{ name: h2refuse }]
      - matches: [{ path: { type: PathPrefix, value: /slow } }]
        timeouts: { request: 300ms }
        backendRefs: [{ name: slow }]
backends:
  - { name: empty, endpoints: [] }
  - { name: refused, endpoints: [{ address: 127.0.0.1, port: ${closedPort} }] }
  - { name: resetter, endpoints: [{ address: 127.0.0.1, port: ${(resetter.address() as net.AddressInfo).port} }] }
  - { name: h2reset, protocol: http2, endpoints: [{ address: 127.0.0.1, port: ${h2reset.port} }] }
  - { name: h2refuse, protocol: http2, endpoints: [{ address: 127.0.0.1, port: ${h2refuse.port} }] }
  - { name: slow, endpoints: [{ address: 127.0.0.1, port: ${slow.port} }] }
`);
  });
  after(async () => {
    await proxy?.stop();
    resetter.close();
    await Promise.all([slow.close(), h2reset.close(), h2refuse.close()]);
  });

  const cases: [string, string, number, string, string][] = [
    ['no route', '/nowhere', 404, 'route_not_found', 'NR'],
    ['a backend with no endpoint', '/empty', 503, 'no_healthy_upstream', 'UH'],
    // The default retry policy retries these (a GET is idempotent), so retries run out: URX.
    ['a refused connection', '/refused', 503, 'upstream_connect_failure', 'UF,URX'],
    ['an upstream that closes before answering', '/reset', 503, 'upstream_connection_termination', 'UC,URX'],
    ['an h2 upstream that resets the stream', '/h2reset', 503, 'upstream_reset', 'UR,URX'],
    ['an h2 upstream that refuses the stream', '/h2refuse', 503, 'upstream_reset_refused_stream', 'UR,URX'],
    ['an upstream slower than the route timeout', '/slow', 504, 'upstream_response_timeout', 'UT'],
  ];
  for (const [what, path, status, details, flag] of cases) {
    test(`answers ${status} ${flag} for ${what}`, async () => {
      const id = `rescue-${path}`;
      const res = await request(`http://127.0.0.1:${proxy.ports.main}${path}`, { headers: { 'x-request-id': id } });
      await res.body.dump();
      assert.equal(res.statusCode, status);
      assert.equal(res.headers['x-sluice-details'], details);
      const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === id));
      assert.equal(line.status, status);
      assert.equal(line.flags, flag);
      assert.equal(line.details, details);
    });
  }
});
