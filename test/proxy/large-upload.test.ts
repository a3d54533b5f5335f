// Bodies stream with backpressure and are never buffered whole: 1 GiB goes up through the
// proxy while its resident memory stays under 150 MiB.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { rssMiB } from '../helpers/rss.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';


describe('a 1 GiB upload', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;
  before(async () => {
    upstream = await startUpstream('sink', undefined, { streamBody: true });
    proxy = await startProxy(singleBackendConfig(upstream.port));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('passes through whole while the proxy stays under 150 MiB RSS', async () => {
    const size = 1024 ** 3;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(proxy.child.pid!))), 50);
    try {
      const res = await request(`http://127.0.0.1:${proxy.ports.main}/upload`, {
        method: 'PUT',
        headers: { 'content-length': String(size) },
        body: Readable.from(
        (async function* () {
          for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
        })(),
      ),
      });
      const body = (await res.body.json()) as { bodyBytes: number };
      assert.equal(res.statusCode, 200);
      assert.equal(body.bodyBytes, size);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak > 0 && peak < 150, `peak RSS ${peak.toFixed(1)} MiB`);
  });
});
