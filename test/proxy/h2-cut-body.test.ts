// An HTTP/2 request body that does not end cleanly (RST_STREAM mid-body, malformed
// trailers, a connection that drops) must end upstream as an aborted request, never as a
// complete one (RFC 9113 §8.1.1, RFC 9112 §7.1): the HTTP/1.1 upstream must never see
// the last-chunk (or the Content-Length's last byte) of a body the client did not finish.

import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Flags, FrameType, frame, literal, PREFACE, rstStream } from '../helpers/h2-frames.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { waitFor } from '../helpers/wait.ts';

type Seen = { url: string; body: string; ended: boolean; aborted: boolean };

/** POST /path on http, authority "a", with optional extra fields (content-length). */
function postBlock(path: string, extra: Buffer[] = []): Buffer {
  return Buffer.concat([Buffer.from([0x83, 0x86, 0x44, path.length]), Buffer.from(path), Buffer.from([0x41, 1]), Buffer.from('a'), ...extra]);
}

const DATA = (flags: number, payload: string) => frame(FrameType.DATA, flags, 1, Buffer.from(payload));
const TRAILERS = (block: Buffer) => frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, block);
const GOAWAY = frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8));

/** How each case ends the body it began with DATA "partial-". */
const ENDINGS: [string, Buffer | 'close'][] = [
  ['RST_STREAM CANCEL', rstStream(1, 8)],
  ['RST_STREAM INTERNAL_ERROR', rstStream(1, 2)],
  ['RST_STREAM NO_ERROR', rstStream(1, 0)],
  ['trailers holding a pseudo-header', TRAILERS(Buffer.from([0x84]))],
  ['trailers with an upper-case name', TRAILERS(literal('X-Up', 'v'))],
  ['the connection closing', 'close'],
  ['GOAWAY, then the connection closing', GOAWAY],
];

describe('HTTP/2 request bodies cut short reach the upstream as aborted, never complete', () => {
  let proxy: ProxyProcess;
  let upstream: http.Server;
  const seen = new Map<string, Seen>();

  before(async () => {
    upstream = http.createServer((req: IncomingMessage, res) => {
      const s: Seen = { url: req.url ?? '', body: '', ended: false, aborted: false };
      seen.set(s.url, s);
      req.on('data', (c: Buffer) => (s.body += c.toString()));
      req.on('end', () => {
        s.ended = true;
        res.end('ok');
      });
      req.on('aborted', () => (s.aborted = true));
      req.on('error', () => (s.aborted = true));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    proxy = await startProxy(singleBackendConfig((upstream.address() as AddressInfo).port));
  });
  after(async () => {
    await proxy?.stop();
    upstream?.closeAllConnections();
    upstream?.close();
  });

  /** Opens an h2 connection, sends HEADERS + DATA "partial-", waits for the upstream to see the body start, then ends it as told. */
  async function cut(path: string, ending: Buffer | 'close', contentLength: boolean): Promise<Seen> {
    const socket = net.connect(proxy.ports.main, '127.0.0.1');
    socket.on('error', () => {});
    socket.resume();
    const cl = contentLength ? [literal('content-length', '100')] : [];
    socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flags.END_HEADERS, 1, postBlock(path, cl)), DATA(0, 'partial-')]));
    await waitFor(() => (seen.get(path)?.body ?? '') === 'partial-', 5000);
    if (ending === 'close') socket.destroy();
    else {
      socket.write(ending);
      if (ending === GOAWAY) socket.end();
    }
    await waitFor(() => seen.get(path)!.ended || seen.get(path)!.aborted, 5000);
    socket.destroy();
    return seen.get(path)!;
  }

  for (const [what, ending] of ENDINGS) {
    for (const contentLength of [false, true]) {
      const path = `/${what.replace(/\W+/g, '-')}${contentLength ? '-cl' : ''}`;
      test(`${what}${contentLength ? ' (with content-length)' : ''}: the upstream sees an aborted request`, async () => {
        const s = await cut(path, ending, contentLength);
        assert.equal(s.ended, false, `the upstream took "${s.body}" for a complete body`);
        assert.equal(s.aborted, true);
      });
    }
  }

  test('HEADERS, partial DATA and RST_STREAM in one write never become a complete request', async () => {
    const socket = net.connect(proxy.ports.main, '127.0.0.1');
    socket.on('error', () => {});
    socket.resume();
    socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flags.END_HEADERS, 1, postBlock('/one-write')), DATA(0, 'partial-'), rstStream(1)]));
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    assert.notEqual(seen.get('/one-write')?.ended, true);
  });

  test('a body that ends with END_STREAM, or with valid trailers, arrives whole', async () => {
    for (const [path, end] of [
      ['/whole', DATA(Flags.END_STREAM, 'rest')],
      ['/whole-trailers', Buffer.concat([DATA(0, 'rest'), TRAILERS(literal('x-checksum', '1'))])],
    ] as const) {
      const socket = net.connect(proxy.ports.main, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flags.END_HEADERS, 1, postBlock(path)), DATA(0, 'partial-'), end]));
      await waitFor(() => seen.get(path)?.ended === true, 5000);
      socket.destroy();
      assert.equal(seen.get(path)!.body, 'partial-rest');
    }
  });
});
