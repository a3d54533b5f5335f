// SIGHUP reloads the file: a good one takes effect without dropping in-flight requests,
// a bad one keeps the running config and says why.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

const config = (backend: string, a: number, b: number) => `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: ${backend} }] }] }]
backends:
  - { name: blue, endpoints: [{ address: 127.0.0.1, port: ${a} }] }
  - { name: green, endpoints: [{ address: 127.0.0.1, port: ${b} }] }
`;

describe('SIGHUP reload', () => {
  let blue: Upstream;
  let green: Upstream;
  let proxy: ProxyProcess;
  before(async () => {
    const slowEcho = (name: string) => (req: { url?: string }, res: { end(s: string): void }) => setTimeout(() => res.end(name), req.url === '/slow' ? 500 : 0);
    blue = await startUpstream('blue', slowEcho('blue') as never);
    green = await startUpstream('green', slowEcho('green') as never);
    proxy = await startProxy(config('blue', blue.port, green.port));
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([blue.close(), green.close()]);
  });

  const get = async (path = '/') => {
    const res = await request(`http://127.0.0.1:${proxy.ports.main}${path}`);
    return { status: res.statusCode, body: await res.body.text() };
  };

  test('switches routes on a good file and lets an in-flight request finish', async () => {
    assert.equal((await get()).body, 'blue');
    const inflight = get('/slow');
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(proxy.configFile, config('green', blue.port, green.port));
    proxy.child.kill('SIGHUP');
    await proxy.waitForLog(/"msg":"config reloaded"/);
    assert.deepEqual(await inflight, { status: 200, body: 'blue' });
    assert.equal((await get()).body, 'green');
  });

  test('keeps the running config on a bad file and logs every violation', async () => {
    writeFileSync(proxy.configFile, config('purple', blue.port, green.port).replace('port: 0', 'port: 99999'));
    proxy.child.kill('SIGHUP');
    const line = await proxy.waitForLog(/"msg":"reload rejected/);
    assert.match(line, /listeners\[0\]\.port/);
    assert.match(line, /routes\[0\]\.rules\[0\]\.backendRefs\[0\]\.name/);
    assert.equal((await get()).body, 'green');
    const metrics = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    assert.match(metrics, /sluice_config_reloads_total\{result="rejected"\} 1/);
    await waitFor(() => proxy.child.exitCode === null);
  });
});
