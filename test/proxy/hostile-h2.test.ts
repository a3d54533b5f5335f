// HTTP/2 abuse as raw frames: Rapid Reset (CVE-2023-44487) and CONTINUATION floods are
// bounded per connection and end in GOAWAY; malformed requests never reach the upstream;
// a stream reset in the same write that opened it is never dispatched, whether the pairs
// come in one burst or paced one write at a time.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { ErrorCode, Flags, FrameType, frame, getRequestBlock, literal, openH2, parseFrames, PREFACE, rstStream, type RawH2 } from '../helpers/h2-frames.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sendBytes } from '../helpers/raw.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

describe('hostile HTTP/2', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream('victim', (_req, res) => setTimeout(() => res.end('ok'), 20));
    proxy = await startProxy(singleBackendConfig(upstream.port, { limits: '{ h2MaxResetsPerWindow: 50 }' }));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('sends GOAWAY to a client that opens and resets streams in a loop (Rapid Reset)', async () => {
    await warm(proxy.ports.main);
    const before = upstream.seen.length;
    // After the handshake, as the probe did: the first chunk of a connection is fed to
    // nghttp2 from JS (Node's detection put it back), which hid the leak from this test.
    const conn = await openH2(proxy.ports.main);
    // Under Node's own limits (a read may open no more than 250 streams, plus 100 it refuses,
    // before Node closes the session), so what trips is our per-listener limit (50).
    conn.write(resetPairs(1, 300));
    const goaway = await conn.waitFor((f) => f.type === FrameType.GOAWAY);
    assert.ok(goaway, 'expected a GOAWAY');
    assert.equal(goaway.errorCode, ErrorCode.ENHANCE_YOUR_CALM, 'GOAWAY with ENHANCE_YOUR_CALM');
    assert.ok(await waitClosed(conn), 'expected the connection to be closed');
    await sleep(300); // stragglers still on their way to the upstream
    // Streams reset in the same write as they were opened are never dispatched at all.
    assert.deepEqual(upstream.seen.slice(before).map((r) => r.url), [], 'no reset stream may reach the upstream');
    const metrics = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    assert.match(metrics, /sluice_h2_goaway_total\{listener="main",reason="rapid_reset"\} 1/);
  });

  test('closes a connection that floods CONTINUATION frames, forwarding nothing', async () => {
    const before = upstream.seen.length;
    const frames = [PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flags.END_STREAM, 1, getRequestBlock())];
    const filler = literal('x-filler', 'y'.repeat(100));
    for (let i = 0; i < 5000; i++) frames.push(frame(FrameType.CONTINUATION, 0, 1, filler));
    const { data, closed } = await sendBytes(proxy.ports.main, Buffer.concat(frames), 3000);
    assert.ok(closed || parseFrames(data).some((f) => f.type === FrameType.GOAWAY), 'expected GOAWAY or close');
    assert.equal(upstream.seen.length, before, 'the upstream must see nothing');
  });

  test('refuses a request with a connection-specific header, forwarding nothing', async () => {
    const before = upstream.seen.length;
    const block = Buffer.concat([getRequestBlock(), literal('connection', 'keep-alive')]);
    const { data } = await sendBytes(proxy.ports.main, Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, 1, block)]), 1000);
    const frames = parseFrames(data);
    assert.ok(frames.some((f) => (f.type === FrameType.RST_STREAM && f.streamId === 1) || f.type === FrameType.GOAWAY), 'expected RST_STREAM or GOAWAY');
    assert.equal(upstream.seen.length, before);
  });

  test('keeps serving after the abuse', async () => {
    const res = await request(`http://127.0.0.1:${proxy.ports.main}/after`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });
});

// Below any reset limit (ours or nghttp2's), so the connection lives through every pair and
// each test ends with an ordinary request on it: the barrier that all pairs were processed.
describe('HTTP/2 streams reset in the write that opened them are never dispatched', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream('victim');
    proxy = await startProxy(singleBackendConfig(upstream.port, { limits: '{ h2MaxResetsPerWindow: 100000 }' }));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('dispatches none of 240 HEADERS + RST_STREAM pairs sent in one burst, and serves the next request', async () => {
    await warm(proxy.ports.main);
    const before = upstream.seen.length;
    const conn = await openH2(proxy.ports.main);
    try {
      // As many as one read may open (the listener's h2MaxConcurrentStreams, 250): a larger
      // burst ends in Node's own GOAWAY, after as many streams.
      conn.write(resetPairs(1, 240, '/burst'));
      await assertBarrier(conn, 481, upstream, before);
    } finally {
      conn.close();
    }
  });

  test('dispatches none of 200 pairs paced one write every 2 ms, and serves the next request', async () => {
    await warm(proxy.ports.main);
    const before = upstream.seen.length;
    const conn = await openH2(proxy.ports.main);
    try {
      const deadline = Date.now() + 5000;
      let id = 1;
      for (let i = 0; i < 200 && !conn.closed && Date.now() < deadline; i++, id += 2) {
        conn.write(resetPairs(id, 1, '/paced'));
        await sleep(2);
      }
      assert.equal(id, 401, 'all 200 pairs were written');
      await assertBarrier(conn, id, upstream, before);
    } finally {
      conn.close();
    }
  });
});

/** Warm upstream connections: undici then writes a dispatched request at once. */
async function warm(port: number): Promise<void> {
  await Promise.all(Array.from({ length: 8 }, () => request(`http://127.0.0.1:${port}/warm`).then((r) => r.body.dump())));
}

/** `count` pairs from stream `firstId` on, each HEADERS(END_STREAM) GET `path`-N and RST_STREAM(CANCEL). */
function resetPairs(firstId: number, count: number, path = '/reset'): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0, id = firstId; i < count; i++, id += 2) {
    frames.push(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, id, getRequestBlock(`${path}-${id}`)), rstStream(id));
  }
  return Buffer.concat(frames);
}

async function waitClosed(conn: RawH2): Promise<boolean> {
  for (let i = 0; i < 500 && !conn.closed; i++) await sleep(20);
  return conn.closed;
}

/** An ordinary request on stream `id` is answered; the upstream saw it and nothing reset before it. */
async function assertBarrier(conn: RawH2, id: number, upstream: Upstream, before: number): Promise<void> {
  conn.write(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, id, getRequestBlock('/barrier')));
  const answer = await conn.waitFor((f) => f.streamId === id && (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM));
  assert.equal(answer?.type, FrameType.HEADERS, 'the request after the pairs is answered on the same connection');
  assert.equal(conn.frames().filter((f) => f.type === FrameType.GOAWAY).length, 0, 'no GOAWAY');
  await sleep(200); // a leaked dispatch would be on its way by now: it starts before the barrier's
  assert.deepEqual(upstream.seen.slice(before).map((r) => r.url), ['/barrier'], 'only the request after the pairs reaches the upstream');
}
