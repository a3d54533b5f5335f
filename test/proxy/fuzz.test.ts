// 10 000 seeded random mutations of valid requests: whatever the bytes, the proxy answers
// or closes, never dies, and keeps serving. The seed is printed so a failure can be replayed.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const SEEDS = [
  'GET /api/items?x=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n',
  'POST /api/items HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'POST /upload HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /chat HTTP/1.1\r\nHost: shop\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00',
];
const INTERESTING = ['\r\n', '\n', '\r', '\x00', ':', ' ', '\t', '%', '%2e', '..', '//', '#', '?', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 99\r\n', '\xff', '0\r\n\r\n', 'HTTP/1.1', 'Host: x\r\n'];

/** xorshift32: deterministic, seedable, good enough to spread mutations. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function mutate(input: string, r: () => number): string {
  let s = input;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 5)) {
      case 0: // flip a byte
        s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(at + 1);
        break;
      case 1: // delete a run
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
        break;
      case 2: // insert something that parsers care about
        s = s.slice(0, at) + INTERESTING[Math.floor(r() * INTERESTING.length)] + s.slice(at);
        break;
      case 3: // duplicate a run
        s = s.slice(0, at) + s.slice(at, at + Math.floor(r() * 32)).repeat(2) + s.slice(at);
        break;
      default: // truncate
        s = s.slice(0, at);
    }
  }
  return s;
}

function fire(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const t = setTimeout(() => s.destroy(), 150);
    s.on('close', () => (clearTimeout(t), resolve()));
    s.on('error', () => {});
    s.on('data', () => {});
    s.end(Buffer.from(bytes, 'latin1'));
  });
}

describe('random mutations of valid requests', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;
  before(async () => {
    upstream = await startUpstream('fuzzed', (_req, res) => res.end('ok'));
    proxy = await startProxy(singleBackendConfig(upstream.port), ['--access-log', 'off']);
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('10 000 mutated requests leave the proxy alive and serving', async () => {
    const seed = Number(process.env.SLUICE_FUZZ_SEED ?? 0x5eed1234);
    const r = rng(seed);
    const total = 10_000;
    const concurrency = 50;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          await fire(proxy.ports.main, mutate(SEEDS[Math.floor(r() * SEEDS.length)], r));
        }
      }),
    );
    assert.equal(proxy.child.exitCode, null, `the proxy died (seed ${seed})`);
    const res = await request(`http://127.0.0.1:${proxy.ports.main}/still-here`);
    assert.equal(res.statusCode, 200, `seed ${seed}`);
    await res.body.dump();
    assert.doesNotMatch(proxy.stderr(), /uncaught exception|unhandled rejection/, 'no error escaped the request path');
  });
});
