// The memory bench's options (BENCH_MEMORY_*: defaults, a variant list, bad input refused
// saying which) and its summary (medians over rounds, throughput against the first variant).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryOptions, memorySummary, type MemoryRun } from './memory.ts';

test('defaults: --max-semi-space-size at 1, 2, 4 and 8 MiB and 1 MiB with --optimize-for-size, two rounds', () => {
  const o = memoryOptions({});
  assert.deepEqual(o.variants, [['--max-semi-space-size=1'], ['--max-semi-space-size=2'], ['--max-semi-space-size=4'], ['--max-semi-space-size=8'], ['--max-semi-space-size=1', '--optimize-for-size']]);
  assert.equal(o.rounds, 2);
  assert.equal(o.seconds, 10);
});

test('BENCH_MEMORY_VARIANTS: flag lists separated by |; anything but a flag, or a round count that is not a whole number, is refused, saying where', () => {
  assert.deepEqual(memoryOptions({ BENCH_MEMORY_VARIANTS: ' --a=1  --b | --c ' }).variants, [['--a=1', '--b'], ['--c']]);
  assert.throws(() => memoryOptions({ BENCH_MEMORY_VARIANTS: '--a|max-semi-space-size=2' }), /BENCH_MEMORY_VARIANTS: variant 2 \('max-semi-space-size=2'\): 'max-semi-space-size=2' is not a Node flag/);
  assert.throws(() => memoryOptions({ BENCH_MEMORY_ROUNDS: '1.5' }), /BENCH_MEMORY_ROUNDS: '1.5' is not a whole number of at least 1/);
  assert.throws(() => memoryOptions({ BENCH_SECONDS: '0' }), /BENCH_SECONDS: '0'/);
});

test('the summary: each variant\'s medians over the rounds, whatever their order, and req/s against the first variant', () => {
  const run = (flags: string, idleMiB: number, rps: number): MemoryRun => ({ flags, idleMiB, ratePeakMiB: idleMiB + 50, rateP99: 2, rateRequests: 10000, wrkPeakMiB: idleMiB + 60, rps, cpuUsPerRequest: 100, errors: 0 });
  const lines = memorySummary({
    options: memoryOptions({ BENCH_MEMORY_VARIANTS: '--x=1|--x=2', BENCH_MEMORY_ROUNDS: '3' }),
    machine: 'test machine',
    uptimeBefore: 'load 1',
    uptimeAfter: 'load 2',
    rounds: [
      [run('--x=1', 70, 1000), run('--x=2', 80, 3000)],
      [run('--x=2', 82, 6000), run('--x=1', 72, 2000)],
      [run('--x=1', 71, 4000), run('--x=2', 81, 4000)],
    ],
  });
  assert.ok(lines.includes('| --x=1 | 71.0 | 121.0 | 2.0 | 2000 | 1.00 | 100 | 131.0 | 0 |'), lines.join('\n'));
  assert.ok(lines.includes('| --x=2 | 81.0 | 131.0 | 2.0 | 4000 | 2.00 | 100 | 141.0 | 0 |'), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('load before: load 1')));
});
