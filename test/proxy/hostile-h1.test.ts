// Malformed and hostile HTTP/1.1, sent as raw bytes. Every class is answered 400 (431 for
// oversized headers, 414 for an oversized target, 501 for a transfer coding we lack), the
// connection is closed, and the upstream sees nothing at all.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sendRaw, statusOf } from '../helpers/raw.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const H = 'Host: a\r\n';

/** [what, raw request, expected status] */
export const hostileCases: [string, string, number][] = [
  ['Content-Length and Transfer-Encoding together', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['two differing Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400],
  ['a Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 3, 4\r\n\r\nabcd`, 400],
  ['an invalid character in a header name', `GET / HTTP/1.1\r\n${H}X(y: 1\r\n\r\n`, 400],
  ['a control character in a header value', `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`, 400],
  ['a DEL in a header value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400],
  ['obs-fold (a folded header line)', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 400],
  ['a bare LF after the request line', `GET / HTTP/1.1\n${H}\r\n`, 400],
  ['a bare LF after a header', `GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n`, 400],
  ['a bare CR', `GET / HTTP/1.1\rHost: a\r\n\r\n`, 400],
  ['a NUL in a header value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 400],
  ['whitespace before the colon (CVE-2024-27982)', `GET / HTTP/1.1\r\n${H}Content-Length : 0\r\n\r\n`, 400],
  ['an empty header name', `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`, 400],
  ['a header block over 60 KiB', `GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(62 * 1024)}\r\n\r\n`, 431],
  ['more than 100 headers', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 101 }, (_, i) => `X-${i}: 1\r\n`).join('')}\r\n`, 431],
  ['an invalid method', `G@T / HTTP/1.1\r\n${H}\r\n`, 400],
  ['an unknown method', `BREW / HTTP/1.1\r\n${H}\r\n`, 400],
  ['an invalid version', `GET / HTTP/1.7\r\n${H}\r\n`, 400],
  ['HTTP/2.0 in an HTTP/1 request line', `GET / HTTP/2.0\r\n${H}\r\n`, 400],
  ['a request line over the URL limit', `GET /${'a'.repeat(17 * 1024)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['a space inside the request target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['Transfer-Encoding gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501],
  ['Transfer-Encoding with chunked not last', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 501],
  ['Transfer-Encoding gzip, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
  ['a # in the request target', `GET /admin#frag HTTP/1.1\r\n${H}\r\n`, 400],
  ['a malformed percent-escape', `GET /a%zz HTTP/1.1\r\n${H}\r\n`, 400],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
  ['no Host header in HTTP/1.1', `GET / HTTP/1.1\r\n\r\n`, 400],
  ['a CONNECT request', `CONNECT a:443 HTTP/1.1\r\n${H}\r\n`, 400],
  ['a target that is not a path', `GET a/b HTTP/1.1\r\n${H}\r\n`, 400],
];

describe('hostile HTTP/1.1', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream('victim');
    proxy = await startProxy(singleBackendConfig(upstream.port));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  for (const [what, raw, status] of hostileCases) {
    test(`answers ${status} to ${what}, closes, and forwards nothing`, async () => {
      const before = upstream.seen.length;
      const { response, closed } = await sendRaw(proxy.ports.main, raw, 2000);
      assert.equal(statusOf(response), status, `response was: ${JSON.stringify(response.slice(0, 200))}`);
      assert.ok(closed, 'the connection must be closed');
      assert.equal(upstream.seen.length, before, 'the upstream must see nothing');
    });
  }

  test('does not forward a request pipelined behind a refused one', async () => {
    const before = upstream.seen.length;
    const raw = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`;
    const { response } = await sendRaw(proxy.ports.main, raw, 1500);
    assert.equal(statusOf(response), 501);
    assert.doesNotMatch(response, /smuggled/);
    assert.equal(upstream.seen.length, before);
  });

  test('says why in x-sluice-details and keeps serving good requests', async () => {
    const { response } = await sendRaw(proxy.ports.main, `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`);
    assert.match(response, /\r\nx-sluice-details: bad_request\r\n/);
    const ok = await request(`http://127.0.0.1:${proxy.ports.main}/fine`);
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  });

  // RFC 9112 §9.6: a request that closes the connection is answered; what follows it is
  // never read. Answering 400 instead would tell the client a processed request failed.
  const closing: [string, string][] = [
    ['Connection: close', `POST /once HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: 3\r\n\r\nabc`],
    ['HTTP/1.0 without keep-alive', `POST /once HTTP/1.0\r\n${H}Content-Length: 3\r\n\r\nabc`],
    ['Connection: close and a chunked body', `POST /once HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
    ['Connection: close on a GET', `GET /once HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
  ];
  for (const [what, first] of closing) {
    for (const [after, extra] of [['a pipelined request', `DELETE /after HTTP/1.1\r\n${H}\r\n`], ['garbage', 'x\x00\x01 not http at all']]) {
      test(`answers a request with ${what} followed by ${after}, then closes without reading on`, async () => {
        const before = upstream.seen.length;
        const { response, closed } = await sendRaw(proxy.ports.main, first + extra, 2000);
        assert.equal(statusOf(response), 200, response);
        assert.equal([...response.matchAll(/HTTP\/1\.1 \d{3}/g)].length, 1, response);
        assert.ok(closed);
        assert.deepEqual(upstream.seen.slice(before).map((r) => `${r.method} ${r.url}`), [`${first.split(' ')[0]} /once`]);
      });
    }
  }
});
