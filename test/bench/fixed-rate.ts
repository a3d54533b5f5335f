// An open-loop load at a fixed rate, timed with sub-millisecond precision (autocannon's
// histogram rounds to whole milliseconds, too coarse for a "≤ 1 ms added" target).

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export type RateResult = { sent: number; errors: number; p50: number; p99: number };

export async function fixedRate(url: string, rps: number, seconds: number): Promise<RateResult> {
  const pool = new Pool(url, { connections: 64 });
  const latencies: number[] = [];
  let errors = 0;
  const total = rps * seconds;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    // Send each request at its slot; a slow response never delays the next send.
    const due = start + (i * 1000) / rps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    inflight.push(
      pool.request({ path: '/', method: 'GET' }).then(
        async (res) => {
          await res.body.dump();
          latencies.push(performance.now() - t0);
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(inflight);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { sent: total, errors, p50: pct(50), p99: pct(99) };
}
