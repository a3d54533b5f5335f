// An Upgrade is a switch of protocol only on a 101 that names the protocol asked for
// (RFC 9110 §7.8). Any other answer leaves the exchange HTTP: a request written behind
// the upgrade must never reach the upstream through an unrouted, unauthorized tunnel.
// Here /public is routed and /secret is not (404 at the proxy): every case sends
// `DELETE /secret` behind an upgrade and checks the upstream never sees it.

import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sendRaw, statusOf } from '../helpers/raw.ts';

const WS = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const SMUGGLED = 'DELETE /secret HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n';

/** How the upstream answers an upgrade to /public/<answer>. */
const ANSWERS: Record<string, string> = {
  '200': 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nnot a ws',
  '426': 'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nnope',
  'chunked-404': 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnot h\r\n0\r\n\r\n',
  'keepalive-200': 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok',
  'wrong-protocol': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
  'no-upgrade-field': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n',
  garbage: 'HTTP/1.1 2OO OK\r\n\r\n',
};

describe('Upgrade without a 101 (authorization bypass)', () => {
  let proxy: ProxyProcess;
  let upstream: http.Server;
  let upstreamPort: number;
  /** Every request line and every tunnelled byte the upstream received, in order. */
  const seen: string[] = [];

  before(async () => {
    upstream = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} upgrade=${req.headers.upgrade ?? '-'}`);
      res.end('plain');
    });
    upstream.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      seen.push(`${req.method} ${req.url} upgrade=${req.headers.upgrade}`);
      socket.on('data', (d: Buffer) => seen.push(`bytes: ${d.toString('latin1')}`));
      socket.on('error', () => {});
      const answer = ANSWERS[(req.url ?? '').replace('/public/', '')];
      if (answer !== undefined) socket.write(answer);
      else socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: public, rules: [{ matches: [{ path: { type: PathPrefix, value: /public } }], backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${upstreamPort} }] }]
`);
  });
  after(async () => {
    await proxy?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  const noSecret = () => assert.deepEqual(seen.filter((l) => l.includes('secret')), [], `the upstream saw: ${JSON.stringify(seen)}`);

  for (const [answer, status] of [['200', 200], ['426', 426], ['chunked-404', 404], ['keepalive-200', 200]] as const) {
    test(`an upgrade answered ${answer} is relayed as HTTP and the connection closed; the request behind it never reaches the upstream`, async () => {
      const { response, closed } = await sendRaw(proxy.ports.main, `GET /public/${answer} HTTP/1.1\r\nHost: a\r\n${WS}\r\n${SMUGGLED}`, 2000);
      assert.equal(statusOf(response), status, response);
      assert.match(response, /\r\nconnection: close\r\n/i);
      assert.ok(closed, 'the connection ends with the declined upgrade');
      noSecret();
    });
  }

  test('the body of a declined upgrade arrives whole, de-chunked', async () => {
    const { response } = await sendRaw(proxy.ports.main, `GET /public/chunked-404 HTTP/1.1\r\nHost: a\r\n${WS}\r\n`, 2000);
    assert.equal(response.split('\r\n\r\n')[1], 'not h');
  });

  test('a request written after the declined answer arrived is not tunnelled either', async () => {
    const { default: net } = await import('node:net');
    const s = net.connect(proxy.ports.main, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.write(`GET /public/200 HTTP/1.1\r\nHost: a\r\n${WS}\r\n`);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (got.includes('not a ws')) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    s.write(SMUGGLED);
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    noSecret();
  });

  for (const answer of ['wrong-protocol', 'no-upgrade-field', 'garbage']) {
    test(`a 101 the client did not ask for (${answer}) is a 502, not a tunnel`, async () => {
      const { response, closed } = await sendRaw(proxy.ports.main, `GET /public/${answer} HTTP/1.1\r\nHost: a\r\n${WS}\r\n${SMUGGLED}`, 2000);
      assert.equal(statusOf(response), 502, response);
      assert.match(response, /x-sluice-details: upstream_protocol_error/);
      assert.ok(closed);
      noSecret();
    });
  }

  // Node's parser stops at an Upgrade it was told not to take and drops what was pipelined
  // behind it: the answer closes the connection, so the client knows to send the rest again.
  test('an h2c upgrade (with HTTP2-Settings) is served as plain HTTP/1.1, the last answer on its connection', async () => {
    const before = seen.length;
    const raw = `GET /public/h2c HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n${SMUGGLED}`;
    const { response, closed } = await sendRaw(proxy.ports.main, raw, 2000);
    assert.equal(statusOf(response), 200, response);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.ok(closed);
    assert.deepEqual(seen.slice(before), ['GET /public/h2c upgrade=-']);
    noSecret();
  });

  for (const [what, raw, url] of [
    ['an unknown protocol', `GET /public/other HTTP/1.1\r\nHost: a\r\nUpgrade: foo/1\r\nConnection: Upgrade\r\n\r\n`, 'GET /public/other'],
    ['a websocket upgrade with a body', `POST /public/body HTTP/1.1\r\nHost: a\r\n${WS}Content-Length: 3\r\n\r\nabc`, 'POST /public/body'],
  ]) {
    test(`an upgrade to ${what} is a plain request, the last on its connection`, async () => {
      const before = seen.length;
      const { response, closed } = await sendRaw(proxy.ports.main, raw + SMUGGLED, 2000);
      assert.equal(statusOf(response), 200, response);
      assert.match(response, /\r\nconnection: close\r\n/i);
      assert.ok(closed);
      assert.deepEqual(seen.slice(before), [`${url} upgrade=-`]);
      noSecret();
    });
  }

  test('a WebSocket upgrade answered 101 still tunnels, and only websocket is offered upstream', async () => {
    const before = seen.length;
    const { response } = await sendRaw(proxy.ports.main, `GET /public/ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: Upgrade\r\n\r\nframe-bytes`, 1000);
    assert.equal(statusOf(response), 101, response);
    assert.equal(seen[before], 'GET /public/ws upgrade=websocket');
    assert.equal(seen[before + 1], 'bytes: frame-bytes');
  });
});
