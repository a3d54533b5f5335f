// The examples bind fixed ports (examples/static: 18000-18004, examples/mtls: 18110-18443,
// examples/xds/workloads.yaml: 18501-18503) and the README's mesh section runs sluice-cp
// and a proxy on their default ports (15014, 15012, 15010, 15000, 15001, 15020). Tests
// run in parallel, so every test that runs those takes this one lock first: a directory
// made atomically, holding the owner's pid, taken over when that process is gone.

import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from './ports.ts';

const LOCK = join(tmpdir(), 'sluice-fixed-ports.lock');

/** Removes the lock when its owner is gone (or never wrote its pid, 10 s after making it); true when it did. */
function clearStale(): boolean {
  let owner: number;
  try {
    owner = Number(readFileSync(join(LOCK, 'owner'), 'utf8'));
  } catch {
    try {
      if (Date.now() - statSync(LOCK).mtimeMs < 10_000) return false;
    } catch {
      return true;
    }
    owner = NaN;
  }
  if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
  rmSync(LOCK, { recursive: true, force: true });
  return true;
}

/** Runs `fn` holding the lock of the fixed ports; waits up to `timeoutMs` for another test to let it go. */
export async function withFixedPorts<T>(fn: () => Promise<T> | T, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (clearStale()) continue;
      if (Date.now() > deadline) throw new Error(`the fixed ports' lock ${LOCK} is still held after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** The ports of `ports` something already listens on at `host`. */
export async function portsInUse(ports: readonly number[], host = '127.0.0.1'): Promise<number[]> {
  const busy: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  return busy;
}
