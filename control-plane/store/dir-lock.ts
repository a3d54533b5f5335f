// DIR/LOCK: one process per store directory, since two writers appending to one journal
// would interleave records and lose writes. The file holds `<pid> <process start time>`;
// it is created with O_EXCL, and a lock whose process is gone is taken over, so a
// kill -9 never leaves the directory locked for good.
//
// The start time tells this process's own lock from one a previous run left with the
// same pid: in a container the control plane is pid 1 every time it restarts.
//
// Not covered: two processes taking over the same dead lock at the same instant. The
// lock guards against an operator starting a second control plane on the same
// directory, which the pid check catches.

import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'LOCK';
const ATTEMPTS = 20;
/** How long a LOCK that its creator has not written yet may stay empty before it counts as a crash leftover. */
const EMPTY_GRACE_MS = 100;

export type DirLock = { release(): Promise<void> };

export async function acquireDirLock(dir: string): Promise<DirLock> {
  const file = join(dir, LOCK_FILE);
  const mine = `${process.pid} ${performance.timeOrigin}\n`;
  let emptySince: number | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(mine);
      } finally {
        await fh.close();
      }
      return { release: () => releaseIfMine(file, mine) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (held === undefined) continue;
    if (held === '') {
      // Another process may be between creating the file and writing its pid.
      emptySince ??= performance.now();
      if (performance.now() - emptySince < EMPTY_GRACE_MS) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
    } else {
      const owner = lockOwner(held, file);
      if (owner.alive) throw new Error(`${dir} is in use by process ${owner.pid} (lock file ${file}); stop that process first, or use another directory`);
    }
    // The holder is gone: remove its lock, unless someone replaced it since we read it.
    if ((await readFile(file, 'utf8').catch(() => undefined)) === held) await unlink(file).catch(() => {});
  }
  throw new Error(`could not take the lock ${file} after ${ATTEMPTS} attempts: other processes keep racing for ${dir}`);
}

function lockOwner(held: string, file: string): { pid: number; alive: boolean } {
  const [pidText, startedText] = held.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new Error(`${file} does not hold a process id (${JSON.stringify(held.slice(0, 40))}); remove it if no process uses the directory`);
  }
  if (pid === process.pid) return { pid, alive: Number(startedText) === performance.timeOrigin };
  try {
    process.kill(pid, 0);
    return { pid, alive: true };
  } catch (err) {
    // EPERM: the process exists but belongs to another user; it is alive.
    return { pid, alive: (err as NodeJS.ErrnoException).code !== 'ESRCH' };
  }
}

async function releaseIfMine(file: string, mine: string): Promise<void> {
  const held = await readFile(file, 'utf8').catch(() => undefined);
  if (held === mine) await unlink(file);
}
