// The promise users adopt a mesh for: with default settings, an endpoint killed in the
// middle of traffic (SIGKILL of its process, so in-flight connections are reset) costs the
// client no idempotent request. Retries absorb the resets and refused connections; outlier
// ejection then takes the dead endpoint out of the rotation.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';

const UPSTREAM = fileURLToPath(new URL('../../bench/upstream-server.ts', import.meta.url));
const REQUESTS = 1000;
const CONCURRENCY = 16;
const KILL_AFTER = 300;

type Child = { child: ChildProcess; port: number };

function startUpstreamProcess(): Promise<Child> {
  const child = spawn(process.execPath, [UPSTREAM, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => {
      const m = /listening (\d+)/.exec(line);
      if (m) resolve({ child, port: Number(m[1]) });
      else reject(new Error(`unexpected upstream output: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
}

describe('an endpoint killed mid-traffic, default settings', () => {
  let upstreams: Child[];
  let proxy: ProxyProcess;

  before(async () => {
    upstreams = await Promise.all([startUpstreamProcess(), startUpstreamProcess(), startUpstreamProcess()]);
    // No policies at all: what a user gets out of the box.
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: api }] }] }]
backends:
  - name: api
    endpoints:
${upstreams.map((u) => `      - { address: 127.0.0.1, port: ${u.port} }`).join('\n')}
`);
  });

  after(async () => {
    await proxy?.stop();
    for (const u of upstreams ?? []) u.child.kill('SIGKILL');
  });

  test(`${REQUESTS} GETs see 0 failures while one of three endpoints is SIGKILLed after ${KILL_AFTER}`, async () => {
    const client = new Pool(`http://127.0.0.1:${proxy.ports.main}`, { connections: CONCURRENCY });
    const victim = upstreams[1];
    let sent = 0;
    let done = 0;
    let killed = false;
    const failures: string[] = [];
    const worker = async () => {
      while (sent < REQUESTS) {
        sent++;
        try {
          const res = await client.request({ path: `/item/${sent}`, method: 'GET' });
          await res.body.dump();
          if (res.statusCode !== 200) failures.push(`${res.statusCode} ${res.headers['x-sluice-details'] ?? ''}`);
        } catch (err) {
          failures.push(String(err));
        }
        if (++done === KILL_AFTER) {
          victim.child.kill('SIGKILL');
          killed = true;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await client.close();

    assert.ok(killed);
    assert.deepEqual(failures, [], `${failures.length} of ${REQUESTS} requests failed`);
    const api = (await proxy.clusters()).find((c) => c.name === 'api')!;
    const dead = api.endpoints.find((e) => e.port === victim.port)!;
    assert.ok(dead.totalRequests > 0, 'the victim took traffic before it died');
    assert.ok(api.retries > 0, 'retries absorbed the failures');
    assert.equal(dead.health, 'unhealthy', 'the dead endpoint is ejected');
    assert.match(dead.healthReason ?? '', /consecutive/);
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).text();
    assert.match(metrics, new RegExp(`^sluice_endpoint_healthy\\{backend="api",endpoint="127\\.0\\.0\\.1:${victim.port}"\\} 0$`, 'm'));
    assert.equal(Number(/^sluice_upstream_retries_total\{backend="api"\} (\d+)$/m.exec(metrics)?.[1]), api.retries);
  });
});
