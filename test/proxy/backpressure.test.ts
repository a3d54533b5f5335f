// Response bodies stream with backpressure: a client that stops reading makes the proxy stop
// reading from the upstream, instead of buffering the whole body in memory.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { rssMiB } from '../helpers/rss.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const SIZE = 512 * 1024 * 1024;


describe('a slow reader of a large response', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;
  let sentByUpstream = 0;
  before(async () => {
    upstream = await startUpstream('firehose', (_req, res) => {
      res.writeHead(200, { 'content-length': String(SIZE) });
      const chunk = Buffer.alloc(1024 * 1024, 1);
      const pump = () => {
        while (sentByUpstream < SIZE) {
          sentByUpstream += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    proxy = await startProxy(singleBackendConfig(upstream.port));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('holds the upstream back while the client does not read, then delivers every byte', async () => {
    const socket = net.connect(proxy.ports.main, '127.0.0.1');
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => socket.once('readable', r));
    socket.pause();
    // The client reads nothing for a while; the upstream must stall far short of the body.
    await new Promise((r) => setTimeout(r, 1000));
    const stalledAt = sentByUpstream;
    const rss = rssMiB(proxy.child.pid!);
    assert.ok(stalledAt < SIZE / 4, `the upstream sent ${stalledAt >> 20} MiB to a client that read nothing`);
    assert.ok(rss < 150, `proxy RSS ${rss.toFixed(1)} MiB while the client was not reading`);
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    await new Promise((r) => socket.once('close', r));
    assert.ok(received > SIZE, `received ${received} bytes (body ${SIZE} plus head)`);
  });
});
