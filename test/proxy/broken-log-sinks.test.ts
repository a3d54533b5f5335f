// The proxy's log sinks may lose their reader for good: a log shipper dies, or an operator
// runs `sluice-proxy ... 2>&1 | head`. Lines are lost then, nothing else: the real proxy
// process keeps serving, SIGTERM still drains the request in flight, and the process exits
// 0 within the drain timeout and a little more. (Each write to a closed stderr used to
// raise an 'error' that the uncaughtException handler logged, to stderr: an endless
// EPIPE loop at 100 % CPU that starved both the traffic and the drain.)

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';
import { PROXY_MAIN, singleBackendConfig, writeConfig } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const DRAIN_MS = 1000;
/** How long past the drain timeout the exit may take: process teardown, a loaded CI machine. */
const EXIT_SLACK_MS = 4000;

type Broken = 'stderr' | 'stdout' | 'both';

type Spawned = { child: ChildProcess; port: number; stderr: () => string; accessLines: () => number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> };

async function spawnProxy(configFile: string): Promise<Spawned> {
  const child = spawn(process.execPath, [...PROXY_NODE_FLAGS, PROXY_MAIN, '--config', configFile, '--admin-port', '0', '--stats-port', '0', '--stats-address', '127.0.0.1', '--drain-timeout', `${DRAIN_MS}ms`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let err = '';
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 15 s; stderr:\n${err}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const line = err.split('\n').find((l) => l.includes('"msg":"proxy ready"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { listeners: Record<string, number> }).listeners.main);
      }
    });
    void exited.then(({ code }) => reject(new Error(`the proxy exited (${code}) before it was ready; stderr:\n${err}`)));
  });
  return { child, port, stderr: () => err, accessLines: () => out.split('\n').filter((l) => l.trim() !== '').length, exited };
}

/** A GET that fails the test instead of hanging when the proxy does not answer. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

/** Resolves with the exit, or with null once `ms` have passed. */
function exitWithin(p: Spawned, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  let timer: NodeJS.Timeout;
  return Promise.race([p.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]).finally(() => clearTimeout(timer));
}

describe('a proxy whose log readers are gone', () => {
  let upstream: Upstream;
  let configFile: string;
  before(async () => {
    upstream = await startUpstream('app', (req, res) => {
      const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => res.end('served'), delay);
    });
    configFile = writeConfig(singleBackendConfig(upstream.port));
  });
  after(() => upstream.close());

  for (const broken of ['both', 'stderr', 'stdout'] as const satisfies readonly Broken[]) {
    test(`${broken === 'both' ? 'stderr and stdout' : broken} closed: it keeps serving, drains on SIGTERM and exits 0 in time`, async () => {
      const proxy = await spawnProxy(configFile);
      try {
        assert.equal((await get(proxy.port, '/before')).status, 200);
        // The reading ends go away, as when a log shipper dies: the proxy's next write gets EPIPE.
        if (broken !== 'stdout') proxy.child.stderr!.destroy();
        if (broken !== 'stderr') proxy.child.stdout!.destroy();
        const accessBefore = proxy.accessLines();
        // Access-log lines (stdout) and the proxy's own log (stderr: a reload logs) while they are broken.
        for (let i = 0; i < 5; i++) assert.deepEqual(await get(proxy.port, `/broken/${i}`), { status: 200, body: 'served' }, `request ${i}`);
        proxy.child.kill('SIGHUP');
        await new Promise((r) => setTimeout(r, 200));
        for (let i = 0; i < 5; i++) assert.deepEqual(await get(proxy.port, `/after-reload/${i}`), { status: 200, body: 'served' }, `request ${i} after SIGHUP`);

        // SIGTERM with a request in flight: it is drained, then the process exits.
        const inFlight = get(proxy.port, '/slow?delay=300');
        await new Promise((r) => setTimeout(r, 100));
        proxy.child.kill('SIGTERM');
        const exit = await exitWithin(proxy, DRAIN_MS + EXIT_SLACK_MS);
        assert.notEqual(exit, null, `still running ${DRAIN_MS + EXIT_SLACK_MS} ms after SIGTERM (drain timeout ${DRAIN_MS} ms)`);
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.deepEqual(await inFlight, { status: 200, body: 'served' });

        // A sink still read goes on working, and the loss of the other is said there.
        if (broken === 'stderr') {
          await new Promise((r) => setTimeout(r, 50));
          assert.ok(proxy.accessLines() >= accessBefore + 11, `the access log on stdout went on: ${proxy.accessLines() - accessBefore} lines`);
        }
        if (broken === 'stdout') {
          assert.doesNotMatch(proxy.stderr(), /uncaught exception/, "a failed access-log write is the sink's business, not an uncaught exception per batch");
          assert.match(proxy.stderr(), /"msg":"the access log cannot be written; its lines are dropped from now on".*EPIPE/);
          assert.match(proxy.stderr(), /"msg":"stopped"/);
        }
      } finally {
        if (proxy.child.exitCode === null && proxy.child.signalCode === null) proxy.child.kill('SIGKILL');
        await proxy.exited;
      }
    });
  }
});
