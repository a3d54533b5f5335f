// `sluice-proxy wait`, the postStart hook of the sidecar fallback for clusters older than
// 1.29: it returns once the proxy beside it is ready, and fails after its timeout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedPort } from '../helpers/ports.ts';
import { PROXY_MAIN, singleBackendConfig, startProxy } from '../helpers/proxy-process.ts';

function wait(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PROXY_MAIN, 'wait', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

test('wait returns 0 once /healthz/ready answers 200, after answers of 503', async () => {
  let asked = 0;
  const server = http.createServer((req, res) => {
    asked++;
    res.writeHead(req.url === '/healthz/ready' && asked > 3 ? 200 : 503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const r = await wait(['--port', String((server.address() as AddressInfo).port), '--timeout', '60s']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(asked > 3, 'it kept asking while the answer was 503');
  } finally {
    server.close();
  }
});

test('wait returns 0 against a real proxy that is ready', async () => {
  const proxy = await startProxy(singleBackendConfig(1));
  try {
    const r = await wait(['--port', String(proxy.statsPort), '--timeout', '60s']);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await proxy.stop();
  }
});

test('wait exits 1 with the reason when nothing becomes ready in time, and 2 on a bad flag', async () => {
  const port = await closedPort();
  const r = await wait(['--port', String(port), '--timeout', '1s']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`the proxy on 127\\.0\\.0\\.1:${port} was not ready within 1s \\(ECONNREFUSED\\)`));
  const bad = await wait(['--timeout', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--timeout: 'soon' is not a duration/);
});
