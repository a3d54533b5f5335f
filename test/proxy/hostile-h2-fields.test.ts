// HTTP/2 requests with a malformed field (RFC 9113 §8.2.1: a name that is not a lower-case
// token, a value with NUL, CR, LF or another control character, or with leading or trailing
// whitespace) are refused with RST_STREAM PROTOCOL_ERROR, in the header block or in the
// trailers, however HPACK encodes them, and nothing of them reaches the upstream. nghttp2
// drops such fields and Node used to forward the request without them.

import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import {
  dataFrame,
  ErrorCode,
  Flags,
  frame,
  FrameType,
  getRequestBlock,
  hpackString,
  huffmanLiteral,
  huffmanString,
  indexedLiteral,
  literal,
  openH2,
  type RawH2,
  requestBlock,
} from '../helpers/h2-frames.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { waitFor } from '../helpers/wait.ts';

type Seen = { url: string; headers: http.IncomingHttpHeaders; ended: boolean; closed: boolean };

/** Every field nghttp2 drops, by the rule it breaks. (Upper-case names and pseudo-headers nghttp2 refuses itself.) */
const MALFORMED: [what: string, name: string, value: string][] = [
  ['CR in a value', 'x-a', 'b\rc'],
  ['LF in a value', 'x-a', 'b\nc'],
  ['NUL in a value', 'x-a', 'b\0c'],
  ['another control character in a value', 'x-a', 'b\x01c'],
  ['DEL in a value', 'x-a', 'bc\x7f'],
  ['a leading space in a value', 'x-a', ' v'],
  ['a trailing space in a value', 'x-a', 'v '],
  ['a leading tab in a value', 'x-a', '\tv'],
  ['a trailing tab in a value', 'x-a', 'v\t'],
  ['an empty name', '', 'v'],
  ['a space in a name', 'x a', 'v'],
  ['a control character in a name', 'x\x01a', 'v'],
  ['a colon inside a name', 'x:a', 'v'],
  ['DEL in a name', 'x\x7fa', 'v'],
  ['a byte over 0x7f in a name', 'x\xe9a', 'v'],
  ['a non-token character in a name', 'x(a', 'v'],
  ['a space in host', 'host', 'a b'],
];

const RST = (f: { type: number; streamId: number }, id: number) => f.type === FrameType.RST_STREAM && f.streamId === id;
const ANSWER = (f: { type: number; streamId: number }, id: number) => (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM) && f.streamId === id;

describe('HTTP/2 requests with malformed fields are refused, never forwarded without the field', () => {
  let proxy: ProxyProcess;
  let upstream: http.Server;
  const seen: Seen[] = [];

  before(async () => {
    upstream = http.createServer((req: IncomingMessage, res) => {
      const s: Seen = { url: req.url ?? '', headers: req.headers, ended: false, closed: false };
      seen.push(s);
      req.on('data', () => {});
      req.on('end', () => {
        s.ended = true;
        res.end('ok');
      });
      req.on('close', () => (s.closed = true));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    proxy = await startProxy(singleBackendConfig((upstream.address() as AddressInfo).port));
  });
  after(async () => {
    await proxy?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  const refusals = async () => {
    const text = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    return Number(/sluice_local_replies_total\{listener="main",flag="DPE"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  test('refuses each malformed field in the header block, raw or Huffman-coded, and keeps the connection', async () => {
    const counted = await refusals();
    const cases = MALFORMED.flatMap(([what, name, value], i) => [
      { what: `${what} (raw)`, path: `/bad-h-${i}`, field: literal(name, value) },
      { what: `${what} (Huffman)`, path: `/bad-hh-${i}`, field: huffmanLiteral(name, value) },
    ]);
    await Promise.all(
      cases.map(async ({ what, path, field }) => {
        const conn = await openH2(proxy.ports.main);
        try {
          conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, requestBlock('GET', path, [field])));
          const answer = await conn.waitFor((f) => ANSWER(f, 1));
          assert.equal(answer?.type, FrameType.RST_STREAM, `${what}: refused`);
          assert.equal(answer?.errorCode, ErrorCode.PROTOCOL_ERROR, `${what}: PROTOCOL_ERROR`);
          await assertServes(conn, 3, what);
        } finally {
          conn.close();
        }
      }),
    );
    assert.deepEqual(seen.filter((s) => s.url.startsWith('/bad-')).map((s) => s.url), [], 'the upstream sees none of them');
    assert.equal((await refusals()) - counted, cases.length, 'each refusal is counted (flag DPE)');
  });

  test('refuses each malformed field in the trailers of a request sent whole, forwarding nothing', async () => {
    await Promise.all(
      MALFORMED.map(async ([what, name, value], i) => {
        const conn = await openH2(proxy.ports.main);
        try {
          conn.write(
            Buffer.concat([
              frame(FrameType.HEADERS, Flags.END_HEADERS, 1, requestBlock('POST', `/bad-t-${i}`)),
              dataFrame(1, 'body'),
              frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, literal(name, value)),
            ]),
          );
          const answer = await conn.waitFor((f) => ANSWER(f, 1));
          assert.equal(answer?.type, FrameType.RST_STREAM, `${what}: refused`);
          assert.equal(answer?.errorCode, ErrorCode.PROTOCOL_ERROR, `${what}: PROTOCOL_ERROR`);
        } finally {
          conn.close();
        }
      }),
    );
    assert.deepEqual(seen.filter((s) => s.url.startsWith('/bad-t-')).map((s) => s.url), [], 'the upstream sees none of them');
  });

  test('refuses malformed trailers that come after the request was forwarded: the upstream sees it aborted, never complete', async () => {
    const conn = await openH2(proxy.ports.main);
    try {
      conn.write(Buffer.concat([frame(FrameType.HEADERS, Flags.END_HEADERS, 1, requestBlock('POST', '/late')), dataFrame(1, 'partial-')]));
      const forwarded = await waitFor(() => seen.find((s) => s.url === '/late'), 3000, 'the request forwarded');
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, literal('x-t', 'a\r\nx-injected: 1')));
      const answer = await conn.waitFor((f) => ANSWER(f, 1));
      assert.equal(answer?.type, FrameType.RST_STREAM);
      assert.equal(answer?.errorCode, ErrorCode.PROTOCOL_ERROR);
      await waitFor(() => forwarded.closed, 3000, 'the upstream request closed');
      assert.equal(forwarded.ended, false, 'the upstream never saw the body end');
    } finally {
      conn.close();
    }
  });

  test('finds the field however the block is framed: padded with a priority, or split over CONTINUATION', async () => {
    const conn = await openH2(proxy.ports.main);
    try {
      const bad = literal('x-a', 'b\nc');
      const block = requestBlock('GET', '/bad-framed-1', [bad]);
      const padded = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), block, Buffer.alloc(3)]);
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS | Flags.PADDED | Flags.PRIORITY, 1, padded));
      const split = requestBlock('GET', '/bad-framed-3', [bad]);
      const cut = split.length - 3; // inside the malformed value
      conn.write(Buffer.concat([frame(FrameType.HEADERS, Flags.END_STREAM, 3, split.subarray(0, cut)), frame(FrameType.CONTINUATION, Flags.END_HEADERS, 3, split.subarray(cut))]));
      for (const id of [1, 3]) assert.equal((await conn.waitFor((f) => ANSWER(f, id)))?.errorCode, ErrorCode.PROTOCOL_ERROR, `stream ${id}`);
      await assertServes(conn, 5, 'after both');
    } finally {
      conn.close();
    }
    assert.deepEqual(seen.filter((s) => s.url.startsWith('/bad-framed')).map((s) => s.url), []);
  });

  test('refuses a malformed field that a later request takes from the dynamic table, and serves its valid neighbours', async () => {
    const conn = await openH2(proxy.ports.main);
    try {
      // Stream 1 enters "x-a: b\nc" into the table (index 62); stream 3 names it by index alone.
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, requestBlock('GET', '/bad-dyn-1', [indexedLiteral('x-a', 'b\nc')])));
      assert.ok(await conn.waitFor((f) => RST(f, 1)), 'stream 1 refused');
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 3, requestBlock('GET', '/bad-dyn-3', [Buffer.from([0x80 | 62])])));
      assert.equal((await conn.waitFor((f) => ANSWER(f, 3)))?.type, FrameType.RST_STREAM, 'stream 3 refused');
      // Stream 5 takes only the name from the table, with a valid value; stream 7 sends obs-text
      // (a byte over 0x7f), which RFC 9110 allows in values, Huffman-coded.
      const ok = Buffer.concat([Buffer.from([0x40 | 62]), hpackString('fine')]);
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 5, requestBlock('GET', '/ok-dyn-5', [ok])));
      const obsText = Buffer.concat([Buffer.from([0x00]), huffmanString('x-b'), huffmanString('caf\xe9')]);
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 7, requestBlock('GET', '/ok-dyn-7', [obsText])));
      for (const id of [5, 7]) assert.equal((await conn.waitFor((f) => ANSWER(f, id)))?.type, FrameType.HEADERS, `stream ${id} answered`);
    } finally {
      conn.close();
    }
    assert.deepEqual(seen.filter((s) => s.url.includes('-dyn-')).map((s) => [s.url, s.headers['x-a'] ?? s.headers['x-b']]), [
      ['/ok-dyn-5', 'fine'],
      ['/ok-dyn-7', Buffer.from('caf\xe9', 'latin1').toString('latin1')],
    ]);
  });

  test('closes a connection whose header block cannot be decoded, forwarding nothing', async () => {
    const conn = await openH2(proxy.ports.main);
    try {
      // A Huffman string padded with zeros: not a valid encoding (RFC 7541 §5.2).
      const block = Buffer.concat([getRequestBlock('/bad-hpack'), Buffer.from([0x00, 0x01, 0x61, 0x81, 0x00])]);
      conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, block));
      assert.ok(await conn.waitFor((f) => f.type === FrameType.GOAWAY), 'GOAWAY');
      for (let i = 0; i < 500 && !conn.closed; i++) await sleep(20);
      assert.ok(conn.closed, 'connection closed');
    } finally {
      conn.close();
    }
    assert.deepEqual(seen.filter((s) => s.url === '/bad-hpack'), []);
  });

  test('still serves ordinary h2 clients, with the peer address and every field intact', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.ports.main}`);
    try {
      for (let i = 0; i < 3; i++) {
        const req = client.request({ ':path': `/client-${i}`, 'x-long': 'v'.repeat(300), 'x-tab-inside': 'a\tb', accept: '*/*' }, { endStream: true });
        const status = await new Promise<number>((resolve, reject) => {
          req.on('response', (h) => resolve(Number(h[':status'])));
          req.on('error', reject);
        });
        req.resume();
        assert.equal(status, 200);
      }
    } finally {
      client.close();
    }
    const s = seen.find((x) => x.url === '/client-2')!;
    assert.equal(s.headers['x-long'], 'v'.repeat(300));
    assert.equal(s.headers['x-tab-inside'], 'a\tb');
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
  });
});

/** An ordinary GET on stream `id` of the same connection is answered: the refusal was the stream's alone. */
async function assertServes(conn: RawH2, id: number, what: string): Promise<void> {
  conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, id, getRequestBlock(`/ok-after-${id}`)));
  const answer = await conn.waitFor((f) => ANSWER(f, id));
  assert.equal(answer?.type, FrameType.HEADERS, `${what}: the next request on the connection is answered`);
}
