// What crosses the proxy besides plain HTTP/1.1 GETs: pipelining, chunked bodies, h2c,
// gRPC trailers, WebSocket upgrades and opaque TCP.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sendRaw } from '../helpers/raw.ts';
import { waitFor } from '../helpers/wait.ts';
import { startH2Upstream, startUpstream, type Upstream } from '../helpers/upstream.ts';

describe('protocols through the proxy', () => {
  let proxy: ProxyProcess;
  let web: Upstream;
  let grpc: Upstream;
  let ws: net.Server;
  let wsPort: number;
  let echoTcp: net.Server;
  let tcpPort: number;

  before(async () => {
    web = await startUpstream('web', (req, res, body) => {
      res.writeHead(200, { 'x-upstream': 'web', 'x-url': req.url ?? '' });
      res.end(body.length > 0 ? body : `hello ${req.url}`);
    });
    grpc = await startH2Upstream('grpc', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `ok ${headers[':path']}` }));
        stream.end(Buffer.concat(chunks));
      });
    });
    // A WebSocket-ish upstream: accepts the upgrade, then echoes bytes upper-cased.
    ws = net.createServer((s) => {
      s.once('data', (head) => {
        assert.match(head.toString(), /^GET \/chat HTTP\/1\.1\r\n/);
        assert.match(head.toString(), /\r\nupgrade: websocket\r\n/i);
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        s.on('data', (d) => s.write(d.toString().toUpperCase()));
      });
    });
    await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
    wsPort = (ws.address() as net.AddressInfo).port;
    echoTcp = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echoTcp.listen(0, '127.0.0.1', r));
    tcpPort = (echoTcp.address() as net.AddressInfo).port;

    proxy = await startProxy(`
listeners:
  - { name: http, address: 127.0.0.1, port: 0, protocol: http }
  - { name: opaque, address: 127.0.0.1, port: 0, protocol: tcp, backend: echo }
routes:
  - name: r
    rules:
      - matches: [{ path: { type: PathPrefix, value: /helloworld.Greeter } }]
        backendRefs: [{ name: grpc }]
      - matches: [{ path: { type: Exact, value: /chat } }]
        backendRefs: [{ name: ws }]
      - backendRefs: [{ name: web }]
backends:
  - { name: web, endpoints: [{ address: 127.0.0.1, port: ${web.port} }] }
  - { name: grpc, protocol: http2, endpoints: [{ address: 127.0.0.1, port: ${grpc.port} }] }
  - { name: ws, endpoints: [{ address: 127.0.0.1, port: ${wsPort} }] }
  - { name: echo, endpoints: [{ address: 127.0.0.1, port: ${tcpPort} }] }
`);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([web.close(), grpc.close()]);
    ws.close();
    echoTcp.close();
  });

  test('answers pipelined HTTP/1.1 requests in order on one connection', async () => {
    const reqs = ['/one', '/two', '/three'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const { response } = await sendRaw(proxy.ports.http, reqs + 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    const order = [...response.matchAll(/hello (\/\w+)/g)].map((m) => m[1]);
    assert.deepEqual(order, ['/one', '/two', '/three', '/last']);
  });

  test('streams a chunked request body to the upstream and back', async () => {
    const res = await request(`http://127.0.0.1:${proxy.ports.http}/upload`, {
      method: 'POST',
      body: Readable.from(
        (async function* () {
        for (let i = 0; i < 50; i++) yield Buffer.alloc(1000, 97 + (i % 26));
      })(),
      ),
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.equal(res.statusCode, 200);
    assert.equal(body.length, 50_000);
    assert.equal(body[49_999], 97 + (49 % 26));
  });

  test('serves HTTP/2 cleartext with prior knowledge on the same port', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.ports.http}`);
    try {
      const { status, body } = await h2get(client, '/via-h2');
      assert.equal(status, 200);
      assert.equal(body, 'hello /via-h2');
    } finally {
      client.close();
    }
  });

  test('passes gRPC through over h2 with its trailers', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.ports.http}`);
    try {
      const stream = client.request({ ':method': 'POST', ':path': '/helloworld.Greeter/SayHello', 'content-type': 'application/grpc', te: 'trailers' });
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from('abc')]);
      stream.end(frame);
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      assert.equal(trailers['grpc-status'], '0');
      assert.equal(trailers['grpc-message'], 'ok /helloworld.Greeter/SayHello');
      assert.deepEqual(Buffer.concat(chunks), frame);
    } finally {
      client.close();
    }
  });

  test('tunnels a WebSocket upgrade both ways', async () => {
    const s = net.connect(proxy.ports.http, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d));
    s.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await waitFor(() => got.includes('\r\n\r\n'));
    assert.match(got, /^HTTP\/1\.1 101/);
    s.write('ping over the tunnel');
    await waitFor(() => got.includes('PING OVER THE TUNNEL'));
    s.destroy();
    // Once both sides are closed, the endpoint's active count is back to zero, not below.
    const active = async () => {
      const { clusters } = (await (await request(`http://127.0.0.1:${proxy.adminPort}/clusters?format=json`)).body.json()) as { clusters: { name: string; endpoints: { activeRequests: number }[] }[] };
      return clusters.find((c) => c.name === 'ws')!.endpoints[0].activeRequests;
    };
    let n = -1;
    for (let i = 0; i < 50 && n !== 0; i++) {
      n = await active();
      if (n !== 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(n, 0);
  });

  test('forwards opaque TCP byte for byte', async () => {
    const s = net.connect(proxy.ports.opaque, '127.0.0.1');
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.write(payload);
    await waitFor(() => Buffer.concat(chunks).length >= payload.length);
    assert.deepEqual(Buffer.concat(chunks), payload);
    s.destroy();
  });
});

function h2get(client: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
  });
}
