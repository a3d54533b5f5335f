// Whether this zone reaches the other zones' ingresses (issue 18: cross-site failures that
// stay silent are the worst): a zone's control plane opens a TCP connection to each remote
// zone's ingress every few seconds, from inside its own site, where its proxies dial from
// too, and keeps the last answer for `sluicectl get zones` and `sluicectl check`. The global
// does not probe: it need not reach any zone's site.

import net from 'node:net';

export type IngressHealth = {
  readonly reachable: boolean;
  /** RFC 3339: when the answer came. */
  readonly at: string;
  /** The connect time, when reachable. */
  readonly ms?: number;
  /** Why not, when not reachable (ECONNREFUSED, a timeout...). */
  readonly error?: string;
};

export type IngressTarget = { readonly zone: string; readonly address: string; readonly port: number };

export class IngressProber {
  #health = new Map<string, IngressHealth & { readonly target: string }>();
  #timer: NodeJS.Timeout | null = null;
  readonly #targets: () => readonly IngressTarget[];
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;

  constructor(targets: () => readonly IngressTarget[], now: () => number, opts: { intervalMs?: number; timeoutMs?: number } = {}) {
    this.#targets = targets;
    this.#now = now;
    this.#intervalMs = opts.intervalMs ?? 5000;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
  }

  start(): void {
    if (this.#timer !== null) return;
    const round = () => {
      for (const t of this.#targets()) this.#probe(t);
    };
    round();
    this.#timer = setInterval(round, this.#intervalMs);
    this.#timer.unref();
  }

  /** The last answer for `zone`'s ingress; undefined when none came yet, or the zone's ingress moved since. */
  health(zone: string, address: string, port: number): IngressHealth | undefined {
    const h = this.#health.get(zone);
    return h !== undefined && h.target === `${address}:${port}` ? h : undefined;
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #probe(t: IngressTarget): void {
    const started = this.#now();
    const socket = net.connect({ host: t.address, port: t.port });
    let done = false;
    const finish = (h: { reachable: boolean; ms?: number; error?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      this.#health.set(t.zone, { ...h, at: new Date(this.#now()).toISOString(), target: `${t.address}:${t.port}` });
    };
    const timer = setTimeout(() => finish({ reachable: false, error: `no connection within ${this.#timeoutMs} ms` }), this.#timeoutMs);
    socket.once('connect', () => finish({ reachable: true, ms: this.#now() - started }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ reachable: false, error: err.code ?? err.message }));
  }
}

/** The HEALTH cell of `get zones`: a remote ingress as probed, or this zone's own. */
export function healthText(h: IngressHealth | undefined): string {
  if (h === undefined) return 'not probed yet';
  return h.reachable ? `reachable (${h.ms} ms)` : `unreachable: ${h.error}`;
}
