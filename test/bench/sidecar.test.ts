// Issue 20's harness (sidecar.ts, proc.ts): its options from the environment, the goals
// table, the medians its ratios are, the CPU reading of /proc/PID/stat, and the nginx it
// starts (1 KiB answers; keep-alive not cut at nginx's default 1 000 requests).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'undici';
import { closedPort } from '../helpers/ports.ts';
import { cpuSeconds, cpuTicks } from './proc.ts';
import { goalsTable, measured, median, nginxConf, nginxProxy, nginxUpstream, sidecarOptions, sidecarSummary, type Measured, type RateRun, type SidecarResult, type Target } from './sidecar.ts';
import { onPath } from './wrk.ts';

test('options: defaults without the environment, whole numbers from it', () => {
  assert.deepEqual(sidecarOptions({}), { seconds: 10, warmupSeconds: 2, rounds: 3, connections: 32, rate: 1000, rateConnections: 16, rateSeconds: 10, handshakeSeconds: 4, routeRounds: 15 });
  const short = sidecarOptions({ BENCH_SECONDS: '3', BENCH_WARMUP_SECONDS: '0', BENCH_ROUNDS: '1', BENCH_RATE_SECONDS: '2' });
  assert.deepEqual([short.seconds, short.warmupSeconds, short.rounds, short.rateSeconds, short.rate], [3, 0, 1, 2, 1000]);
});

test('options: every malformed variable is named in one error, with what it expects', () => {
  assert.throws(
    () => sidecarOptions({ BENCH_SECONDS: '2.5', BENCH_ROUNDS: '0', BENCH_RATE: 'fast' }),
    (err: Error) => /BENCH_SECONDS="2\.5": expected a whole number >= 1/.test(err.message) && /BENCH_ROUNDS="0"/.test(err.message) && /BENCH_RATE="fast"/.test(err.message),
  );
  assert.throws(() => sidecarOptions({ BENCH_RATE: '10', BENCH_RATE_CONNECTIONS: '16' }), /BENCH_RATE_CONNECTIONS=16 is more than BENCH_RATE=10/);
});

test('median: the middle value, or the mean of the middle two', () => {
  assert.equal(median([0.31, 0.27, 0.5]), 0.31);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

const MEASURED: Measured = {
  throughputVsNginx: 0.3,
  vcpuOne: 0.05,
  vcpuPair: 0.5,
  addedP99One: 1,
  addedP99Pair: 3,
  rssIdle: null,
  rssAtRate: 59,
  routeMatchRatio: 1.5,
  handshakesPerSecond: 2000,
  nginx: { vcpu: 0.04, addedP99: 0.2 },
};

test('goals table: each goal with its measured value, met at the limit, missed by how much, not measured where skipped', () => {
  const rows = goalsTable(MEASURED);
  const row = (start: string) => rows.find((r) => r.startsWith(`| ${start}`)) ?? assert.fail(`no row '${start}' in\n${rows.join('\n')}`);
  assert.match(row('throughput'), /\| ≥ 0\.6× nginx \| 0\.30× \| \*\*missed\*\* \(50 % of the goal\) \|/);
  assert.match(row('CPU at a fixed 1 000 rps (CPU s per 1 000 requests), one proxy'), /\| 0\.050 vCPU \| met \| 0\.040 vCPU \|/);
  assert.match(row('CPU at a fixed 1 000 rps (CPU s per 1 000 requests), mTLS pair'), /\*\*missed\*\* \(2\.0× the goal\)/);
  assert.match(row('added p99 at a fixed 1 000 rps, 16 connections, one proxy'), /\| \+1\.00 ms \| met \| \+0\.20 ms \|/);
  assert.match(row('added p99 at a fixed 1 000 rps, 16 connections, mTLS pair'), /\*\*missed\*\* \(1\.5× the goal\)/);
  assert.match(row('RSS idle'), /\| not measured \|/);
  assert.match(row('RSS at 1 000 rps'), /\| 59\.0 MiB \| met \|/);
  assert.match(row('route match'), /\| 1\.50× \| met \|/);
  assert.match(row('mTLS handshakes'), /≥ 3× 582\/s = 1746\/s \| 2000\/s \| met \|/);
  assert.equal(rows.length, 2 + 9);
});

test('measured: the median of per-round Sluice / nginx ratios on wrk and the nginx upstream, p99 added per round, CPU per request at the rate asked', () => {
  const run = (target: 'direct' | 'nginx' | 'sluice', rps: number) => ({ target, rps, p50: 1, p99: 2, requests: rps * 10, errors: 0, cpuUsPerRequest: null });
  const round = (d: number, n: number, s: number) => [run('direct', d), run('nginx', n), run('sluice', s)];
  const rate = (target: RateRun['target'], p99s: number[], cpuSeconds: number, requests = 10_000) => p99s.map((p99): RateRun => ({ target, p50: 1, p99, p999: p99 + 1, requests, non2xx: 0, seconds: 10, cpuSeconds }));
  const result: SidecarResult = {
    options: sidecarOptions({}),
    machine: '',
    uptimeBefore: '',
    uptimeAfter: '',
    skipped: [],
    series: [
      // Another upstream and another load: not what the goal is judged on.
      { loader: 'wrk', upstream: 'node', rounds: [round(100, 100, 90)] },
      { loader: 'wrk', upstream: 'nginx', rounds: [round(100, 100, 30), round(100, 50, 40), round(100, 100, 20)] },
      { loader: 'autocannon', upstream: 'node', rounds: [round(100, 100, 90)] },
    ],
    rateUpstream: 'nginx',
    rate: [
      { target: 'direct', runs: rate('direct', [1, 9, 1], 0), rssIdle: [], rssPeak: [] },
      { target: 'nginx', runs: rate('nginx', [2, 9.5, 1.5], 0.5), rssIdle: [7], rssPeak: [8] },
      // Half the rate done: CPU per request still gives the vCPU at the rate asked.
      { target: 'sluice', runs: rate('sluice', [5, 10, 1.5], 1.5, 5_000), rssIdle: [80], rssPeak: [120] },
      { target: 'mtls pair', runs: rate('mtls pair', [8, 20, 3], 6), rssIdle: [80, 81], rssPeak: [100, 101] },
    ],
    handshakes: [
      { completed: 1000, failed: 0, resumed: 0, serverCounted: 1000, seconds: 2, serverMsPerConn: 1 },
      { completed: 600, failed: 0, resumed: 0, serverCounted: 600, seconds: 2, serverMsPerConn: 1 },
    ],
    plainConnections: [],
    routeMatch: { rounds: 1, baselinePath: null, rows: [{ services: 5000, candidates: 1, compileMs: 1, nsPerOp: 300, baseline: null }, { services: 10, candidates: 1, compileMs: 1, nsPerOp: 200, baseline: null }] },
    elapsedSeconds: 1,
  };
  const m = measured(result);
  assert.equal(m.throughputVsNginx, 0.3);
  assert.equal(m.addedP99One, 1);
  assert.equal(m.addedP99Pair, 7);
  assert.equal(m.nginx.addedP99, 0.5);
  assert.equal(m.vcpuOne, 0.3);
  assert.equal(m.vcpuPair, 0.6);
  assert.equal(m.nginx.vcpu, 0.05);
  assert.deepEqual([m.rssIdle, m.rssAtRate], [80, 120]);
  assert.equal(m.routeMatchRatio, 1.5);
  assert.equal(m.handshakesPerSecond, 400);
});

test('summary: Sluice against the Node floor (node proxy) and the floor against nginx, per round and as medians', () => {
  const run = (target: Target, rps: number) => ({ target, rps, p50: 1, p99: 2, requests: rps * 10, errors: 0, cpuUsPerRequest: target === 'direct' ? null : 50 });
  const round = (n: number, floor: number, s: number) => [run('direct', 100), run('nginx', n), run('node proxy', floor), run('sluice', s)];
  const result: SidecarResult = {
    options: sidecarOptions({}),
    machine: 'm',
    uptimeBefore: '',
    uptimeAfter: '',
    skipped: [],
    series: [{ loader: 'wrk', upstream: 'nginx', rounds: [round(100, 50, 40), round(100, 40, 20), round(80, 40, 30)] }],
    rateUpstream: null,
    rate: [],
    handshakes: [],
    plainConnections: [],
    routeMatch: { rounds: 1, baselinePath: null, rows: [{ services: 10, candidates: 1, compileMs: 1, nsPerOp: 200, baseline: null }] },
    elapsedSeconds: 1,
  };
  const text = sidecarSummary(result).join('\n');
  assert.match(text, /\| round \| direct req\/s \| nginx req\/s \| node proxy req\/s \| sluice req\/s \| sluice \/ nginx \| sluice \/ node proxy \| node proxy \/ nginx \|/);
  assert.match(text, /\| 1 \| 100 \| 100 \| 50 \| 40 \| 0\.40 \| 0\.80 \| 0\.50 \|/);
  // Medians of the per-round ratios: sluice/floor 0.8, 0.5, 0.75; floor/nginx 0.5, 0.4, 0.5.
  assert.match(text, /sluice \/ node proxy \(the Node floor\): \*\*0\.75×\*\* \(rounds 0\.50–0\.80\); node proxy \/ nginx: \*\*0\.50×\*\*/);
});

test('CPU time from /proc/PID/stat: utime + stime after a command name with spaces and parentheses', () => {
  const stat = '4242 (node (a b)) S 1 4242 4242 0 -1 4194304 1000 0 0 0 250 40 0 0 20 0 11 0 100 1000000 2000 18446744073709551615';
  assert.equal(cpuTicks(stat), 290);
  assert.throws(() => cpuTicks('4242 (x) S 1'), /not a \/proc\/PID\/stat line/);
  const burn = Date.now() + 200;
  while (Date.now() < burn);
  assert.ok(cpuSeconds(process.pid) > 0.1);
});

test('nginx as upstream and as proxy: 1 KiB answers, and one connection kept past nginx\'s default 1 000 requests', { skip: !onPath('nginx') && 'nginx is not installed (apt-get install -y nginx)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-nginx-'));
  const started: ReturnType<typeof spawn>[] = [];
  t.after(() => {
    for (const c of started) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: string, port: number, http: string) => {
    const prefix = join(dir, name);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(prefix);
    writeFileSync(join(prefix, 'nginx.conf'), nginxConf(prefix, http));
    const child = spawn('nginx', ['-p', prefix, '-e', `${prefix}/error.log`, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    started.push(child);
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
      if (up) return;
      if (i > 100 || child.exitCode !== null) assert.fail(`nginx ${name} did not listen on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const upstream = await closedPort();
  const proxy = await closedPort();
  await start('upstream', upstream, nginxUpstream(upstream));
  await start('proxy', proxy, nginxProxy(proxy, upstream));
  for (const port of [upstream, proxy]) {
    const client = new Client(`http://127.0.0.1:${port}`);
    let connects = 0;
    client.on('connect', () => connects++);
    for (let i = 0; i < 1100; i++) {
      const res = await client.request({ path: '/', method: 'GET' });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200 || body.length !== 1024) assert.fail(`request ${i} to ${port}: ${res.statusCode}, ${body.length} bytes`);
    }
    await client.close();
    assert.equal(connects, 1, `connections to ${port === upstream ? 'the upstream' : 'the proxy'} for 1 100 requests`);
  }
});
