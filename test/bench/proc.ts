// Readings of other processes and of the machine, from /proc (Linux), for the benches.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** Clock ticks per second, as /proc/PID/stat counts CPU time. */
export const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** User + system CPU time a process has used, in seconds (utime + stime of /proc/PID/stat). */
export function cpuSeconds(pid: number): number {
  return cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / TICKS_PER_SECOND;
}

/** utime + stime of a /proc/PID/stat line, in ticks. */
export function cpuTicks(stat: string): number {
  // The command name is in parentheses and may hold spaces; after it, state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) throw new Error(`not a /proc/PID/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  return utime + stime;
}

/** The lines a published run starts with: the machine, and the load on it now. */
export function machine(): { readonly line: string; readonly uptime: string } {
  const mem = /MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  const gib = mem === null ? 'RAM unknown' : `${(Number(mem[1]) / 1024 / 1024).toFixed(1)} GiB`;
  return { line: `nproc ${availableParallelism()}, ${cpus()[0]?.model.trim() ?? 'CPU unknown'}, ${gib}, Node ${process.version}`, uptime: uptime() };
}

/** `uptime`'s line (the load averages), or /proc/loadavg's where uptime is missing. */
export function uptime(): string {
  const r = spawnSync('uptime', { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ')}`;
}
