/**
 * A port for a child process to bind later, or for a test to find closed.
 *
 * `listen(0)` hands out a port from the kernel's ephemeral range, and so does every
 * outgoing `connect()`. A port taken that way, closed, and handed to a child that binds it
 * hundreds of milliseconds later (a proxy binds its outbound port only once its first
 * xDS config arrives) can meanwhile become the local end of any connection on the
 * machine: the child then fails EADDRINUSE. It happened in CI. Ports below the ephemeral
 * range are never handed out by the kernel, so only another test picking at random could
 * take one, and the range is wide enough for that to be rare.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

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

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port on `host` that nothing listens on now and that the kernel will not hand out; never the same one twice in a process. */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await bindable(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${LOW}-${HIGH - 1} on ${host} after 200 tries`);
}
