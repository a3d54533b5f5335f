// hey (apt-get install -y hey) as the benches' fixed-rate load: `hey -c C -q R/C -z Ns -o csv`
// paces each of C workers at R/C requests a second over its own keep-alive connection and
// prints every request's latency, so the percentiles are computed here, p99.9 included.
// hey's CSV has 0.1 ms resolution; requests that failed at the socket are not in it at all,
// so the count of rows against the rate asked for is the check that none were lost.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { onPath } from './wrk.ts';

export type HeyResult = {
  /** Latency of every request answered, ms, ascending. */
  readonly latencies: readonly number[];
  /** Answers outside 2xx. */
  readonly non2xx: number;
  /** Wall time of the hey process, seconds. */
  readonly seconds: number;
};

export function hasHey(): boolean {
  return onPath('hey');
}

export type HeyOptions = { readonly connections: number; readonly rate: number; readonly seconds: number };

export function hey(url: string, o: HeyOptions): Promise<HeyResult> {
  const args = ['-c', String(o.connections), '-q', String(o.rate / o.connections), '-z', `${o.seconds}s`, '-t', '5', '-o', 'csv', url];
  const start = performance.now();
  const child = spawn('hey', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.once('error', (e) => (clearTimeout(timer), reject(new Error(`hey could not start: ${e.message} (apt-get install -y hey)`))));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - start) / 1000;
      if (code !== 0) return reject(new Error(`hey ${args.join(' ')} ${signal === null ? `exited with ${code}` : `was killed (${signal}) past its bound`}: ${err}`));
      try {
        resolve({ ...parseHeyCsv(Buffer.concat(out).toString('latin1')), seconds });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** hey 0.1's `-o csv`: a header line, then `response-time,...,status-code,offset` per request, times in seconds. */
export function parseHeyCsv(text: string): { latencies: number[]; non2xx: number } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.split(',') ?? [];
  const time = header.indexOf('response-time');
  const status = header.indexOf('status-code');
  if (time === -1 || status === -1) throw new Error(`hey's CSV has no response-time and status-code columns; its first line: ${JSON.stringify(lines[0] ?? '')}`);
  const latencies: number[] = [];
  let non2xx = 0;
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i].split(',');
    const seconds = Number(cols[time]);
    const code = Number(cols[status]);
    if (cols.length !== header.length || !Number.isFinite(seconds) || !Number.isInteger(code)) throw new Error(`hey's CSV line ${i + 1} is not a request: ${JSON.stringify(lines[i])}`);
    latencies.push(seconds * 1000);
    if (code < 200 || code > 299) non2xx++;
  }
  latencies.sort((a, b) => a - b);
  return { latencies, non2xx };
}

/** Nearest-rank percentile of ascending values (p in 0..100); NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // The epsilon: 99.9 / 100 * 1000 is 999.0000000000001 in floating point, whose ceiling is one rank too high.
  const rank = Math.ceil((p / 100) * sorted.length - 1e-9);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
