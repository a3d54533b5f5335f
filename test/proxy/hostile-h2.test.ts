// HTTP/2 abuse as raw frames: Rapid Reset (CVE-2023-44487) and CONTINUATION floods are
// bounded per connection and end in GOAWAY; malformed requests never reach the upstream.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { Flags, FrameType, frame, getRequestBlock, literal, parseFrames, PREFACE, rstStream } from '../helpers/h2-frames.ts';
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
    // A warm upstream connection: undici then writes a dispatched request at once, so only
    // deferring dispatch past the current read keeps reset streams from reaching it.
    await Promise.all(Array.from({ length: 8 }, () => request(`http://127.0.0.1:${proxy.ports.main}/warm`).then((r) => r.body.dump())));
    const before = upstream.seen.length;
    const frames = [PREFACE, frame(FrameType.SETTINGS, 0, 0)];
    // Under nghttp2's own burst limit (1000 resets), so what trips is our per-listener limit (50).
    const streams = 500;
    for (let i = 0; i < streams; i++) {
      const id = 1 + 2 * i;
      frames.push(frame(FrameType.HEADERS, Flags.END_STREAM | Flags.END_HEADERS, id, getRequestBlock()), rstStream(id));
    }
    const { data, closed } = await sendBytes(proxy.ports.main, Buffer.concat(frames), 3000);
    const goaway = parseFrames(data).find((f) => f.type === FrameType.GOAWAY);
    await new Promise((r) => setTimeout(r, 500)); // stragglers still on their way to the upstream
    assert.ok(goaway, 'expected a GOAWAY');
    assert.ok(closed, 'expected the connection to be closed');
    // Streams reset in the same burst as they were opened are never dispatched at all.
    assert.equal(upstream.seen.length - before, 0, 'no reset stream may reach the upstream');
    const metrics = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    assert.match(metrics, /sluice_h2_goaway_total\{listener="main",reason="rapid_reset"\} 1/);
    assert.equal(goaway.errorCode, 0xb, 'GOAWAY with ENHANCE_YOUR_CALM');
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
