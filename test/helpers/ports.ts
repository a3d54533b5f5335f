/**
 * A port for a child process to bind later, or for a test to find closed.
 *
 * `listen(0)` hands out a port from the kernel's ephemeral range, and so does every
 * outgoing `connect()`. A port taken that way, closed, and handed to a child that binds it
 * hundreds of milliseconds later (a proxy binds its outbound port only once its first
 * xDS config arrives) can meanwhile become the local end of any connection on the
 * machine: the child then fails EADDRINUSE. It happened in CI. Ports below the ephemeral
 * range are never handed out by the kernel.
 *
 * Test files run in parallel, each in its own process, and each picks ports at random in
 * that range. A probe only sees a port someone listens on now: two files could both find
 * a port free before either child bound it. Then both children bind it, and since sluice-proxy
 * binds its listeners with SO_REUSEPORT (proxy/listen/bind.ts), both binds succeed and the
 * kernel splits the connections between two unrelated proxies (one test's calls answered
 * "404 no route" by another test's proxy). So every port handed out is also reserved on
 * disk, for every test process of the machine to see, until the process that took it exits.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Ports below this are left alone: well-known ports, and the fixed ports Sluice binds by default (15000–15099, 18501–18599). */
const LOW = 20_000;

function ephemeralStart(): number {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(lo) && lo > LOW + 1000) return lo;
  } catch {
    // Not Linux: fall through to IANA's ephemeral start.
  }
  return 49_152;
}

const HIGH = ephemeralStart();
const handedOut = new Set<number>();

/** One directory per reserved port, holding one empty file named after each process that asked for it. */
export const RESERVATIONS = join(tmpdir(), 'sluice-test-ports');

/** True while process `pid` exists (EPERM: it does, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let cleanupInstalled = false;
let reservationsReady = false;

/**
 * Reserves `port` for this process: writes our pid file first, then looks for anyone else's.
 * Whoever lists second sees the other's file, so two processes never both keep a port (both
 * may give it up, and pick another). Files of processes that are gone are removed.
 */
export function reservePort(port: number): boolean {
  if (handedOut.has(port)) return true;
  if (!reservationsReady) {
    mkdirSync(RESERVATIONS, { recursive: true });
    // Tests run as root (capture) and as other users on one machine: let everyone reserve.
    try {
      chmodSync(RESERVATIONS, 0o1777);
    } catch {
      // Someone else's directory, already made so.
    }
    reservationsReady = true;
  }
  const dir = join(RESERVATIONS, String(port));
  const mine = join(dir, String(process.pid));
  for (;;) {
    if (mkdirSync(dir, { recursive: true }) !== undefined) {
      try {
        chmodSync(dir, 0o1777);
      } catch {
        // Made by us a moment ago: cannot fail but for a vanished directory, which the write below sees.
      }
    }
    try {
      writeFileSync(mine, '');
      break;
    } catch (err) {
      // Another process removed the empty directory between our mkdir and write: make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.once('exit', () => {
      for (const p of handedOut) {
        rmSync(join(RESERVATIONS, String(p), String(process.pid)), { force: true });
        try {
          rmdirSync(join(RESERVATIONS, String(p)));
        } catch {
          // Another process's reservation is in it, or it is gone already.
        }
      }
    });
  }
  for (const name of readdirSync(dir)) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      rmSync(mine, { force: true });
      return false;
    }
    rmSync(join(dir, name), { force: true });
  }
  handedOut.add(port);
  return true;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A port on `host` that nothing listens on now, that the kernel will not hand out, and that no
 * other test process on this machine holds (nor will take while this process lives); never the
 * same one twice in a process.
 */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (!reservePort(port)) continue;
    if (await bindable(port, host)) return port;
    // Something outside the tests holds it: keep it reserved (handedOut), so nobody tries it again.
  }
  throw new Error(`no free port in ${LOW}-${HIGH - 1} on ${host} after 200 tries (reservations in ${RESERVATIONS})`);
}
