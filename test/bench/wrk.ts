// wrk (a C load generator: apt-get install -y wrk) as the benches' throughput load: it does
// not saturate before the proxies do, as autocannon does on this machine. One run is one
// child process, bounded by its duration plus a margin, killed by its pid past that.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type WrkResult = {
  readonly rps: number;
  /** Latency percentiles, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number;
};

/** Whether an executable `name` is on PATH (no shell). */
export function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether an executable `wrk` is on PATH. */
export function hasWrk(): boolean {
  return onPath('wrk');
}

/** Throws a clear error when wrk is not installed. */
export function requireWrk(what: string): void {
  if (!hasWrk()) throw new Error(`${what} needs wrk (a C HTTP load generator) and it is not on PATH: apt-get install -y wrk`);
}

export type WrkOptions = { readonly connections: number; readonly seconds: number; readonly threads?: number; readonly headers?: Record<string, string> };

export function wrk(url: string, o: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '--timeout', '5s'];
  // wrk sends its own Host unless a header is named exactly 'Host': a 'host' would make two.
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k.toLowerCase() === 'host' ? 'Host' : k}: ${v}`);
  args.push(url);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.once('error', (err) => (clearTimeout(timer), reject(new Error(`wrk could not start: ${err.message} (apt-get install -y wrk)`))));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} ${signal === null ? `exited with ${code}` : `was killed (${signal}) past its bound`}: ${out}`));
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** wrk 4.1's report with --latency. */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(text);
    if (m === null) throw new Error(`wrk's report has no ${what}:\n${text}`);
    return m;
  };
  const pct = (p: string) => {
    const m = num(new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'), `${p}% latency`);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    rps: Number(num(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec')[1]),
    p50: pct('50'),
    p99: pct('99'),
    requests: Number(num(/^\s*(\d+) requests in /m, 'request count')[1]),
    errors: (sock === null ? 0 : sock.slice(1).reduce((s, x) => s + Number(x), 0)) + (non2xx === null ? 0 : Number(non2xx[1])),
  };
}
