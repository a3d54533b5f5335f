// Active health: a real HTTP/1.1 GET to every endpoint, on a schedule, so an endpoint that
// is down is known before a user's request finds out. Like Envoy, the next check is timed
// from the end of the previous one, which also means at most one check per endpoint is ever
// in flight. The pass/fail runs live on the EndpointState, so a checker rebuilt on reload
// continues them.

import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HealthCheck } from '../../config/model.ts';
import { http } from '../../node-http.ts';
import type { EndpointState } from '../endpoint.ts';
import type { HealthLog } from './outlier.ts';

/** The slice of the global timer API the checker uses. */
export type TimeoutTimers = {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: never): void;
};

/** One endpoint's schedule and in-flight check; the counts themselves live on `ep`. */
type Probe = {
  readonly ep: EndpointState;
  next: unknown;
  deadline: unknown;
  req: ClientRequest | null;
};

const USER_AGENT = 'sluice-health-check';
/** First checks are spread over this share of the interval so a big backend is not hit all at once. */
const STAGGER_SHARE = 0.1;

export class HealthChecker {
  #config: HealthCheck;
  #log: HealthLog | undefined;
  #timers: TimeoutTimers;
  #probes: Probe[];
  // One socket per endpoint (maxSockets counts per host:port), kept alive between checks.
  #agent: Agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  #started = false;
  #stopped = false;
  /** The endpoints are peer proxies behind mTLS: each check opens its own mTLS connection. */
  #mtls: boolean;

  constructor(config: HealthCheck, endpoints: readonly EndpointState[], deps: { log?: HealthLog; timers?: TimeoutTimers; mtls?: boolean } = {}) {
    this.#config = config;
    this.#mtls = deps.mtls === true;
    this.#log = deps.log;
    this.#timers = deps.timers ?? { setTimeout, clearTimeout };
    this.#probes = endpoints.map((ep) => ({ ep, next: null, deadline: null, req: null }));
  }

  /** Starts checking: the first endpoint at once, the rest shortly after. Call at most once. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const n = this.#probes.length;
    this.#probes.forEach((p, i) => this.#schedule(p, Math.floor((i * this.#config.intervalMs * STAGGER_SHARE) / n)));
  }

  /**
   * Stops for good: clears timers, aborts checks in flight (they count neither way) and
   * closes the checker's sockets. Health fields stay as they are. Safe to call twice.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const p of this.#probes) {
      this.#clear(p.next);
      this.#clear(p.deadline);
      p.next = p.deadline = null;
      p.req?.destroy();
      p.req = null;
    }
    this.#agent.destroy();
  }

  #schedule(p: Probe, ms: number): void {
    p.next = this.#timers.setTimeout(() => {
      p.next = null;
      this.#check(p);
    }, ms);
    unref(p.next);
  }

  #clear(handle: unknown): void {
    if (handle !== null) this.#timers.clearTimeout(handle as never);
  }

  // --- one check ---

  #check(p: Probe): void {
    const { ep } = p;
    const config = this.#config;
    let settled = false;
    /** `failure` is null for a pass, else the middle of the reason sentence. */
    const settle = (failure: string | null): void => {
      if (settled) return;
      settled = true;
      this.#clear(p.deadline);
      p.deadline = null;
      p.req = null;
      if (this.#stopped) return;
      this.#record(ep, failure);
      this.#schedule(p, config.intervalMs);
    };

    let req: ClientRequest;
    try {
      req = http.request({
        hostname: ep.endpoint.address,
        port: ep.endpoint.port,
        method: 'GET',
        path: config.path,
        ...(this.#mtls
          ? {
              createConnection: (_o: unknown, made: (err: Error | null, socket: Duplex) => void) => {
                ep.openStream(['http/1.1'], (err, socket) => made(err, socket!));
                return undefined;
              },
            }
          : { agent: this.#agent }),
        headers: { host: config.host ?? ep.key, 'user-agent': USER_AGENT },
      });
    } catch (err) {
      // A path or host http refuses to send; validation should stop these, but an endpoint
      // that can never be checked is unhealthy, not a crash.
      settle(`could not be sent (${(err as Error).message})`);
      return;
    }
    p.req = req;
    p.deadline = this.#timers.setTimeout(() => {
      settle(`timed out after ${config.timeoutMs} ms`);
      req.destroy();
    }, config.timeoutMs);
    unref(p.deadline);

    // Stays attached after settling: a late socket error must land here, not in the event loop.
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      settle(err.syscall === 'connect' ? `could not connect (${code})` : `failed (${code})`);
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      res.on('error', () => settle('failed (connection lost mid-response)'));
      // The verdict waits for the body so the kept-alive socket is clean for the next check.
      res.on('end', () => settle(passes(status, config.expectedStatuses) ? null : `answered ${status}`));
      res.on('close', () => {
        if (!res.complete) settle('failed (connection lost mid-response)');
      });
      res.resume();
    });
    req.end();
  }

  #record(ep: EndpointState, failure: string | null): void {
    const config = this.#config;
    if (failure === null) {
      ep.checkFailuresInARow = 0;
      ep.checkPassesInARow++;
      if (ep.checkFailed && ep.checkPassesInARow >= config.healthyThreshold) {
        ep.checkFailed = false;
        ep.checkReason = '';
        ep.refreshHealth();
        this.#log?.('info', 'health check passing again', { upstream: ep.key, passes: ep.checkPassesInARow });
      }
      return;
    }
    ep.checkPassesInARow = 0;
    ep.checkFailuresInARow++;
    if (ep.checkFailuresInARow < config.unhealthyThreshold) return;
    const wasFailed = ep.checkFailed;
    ep.checkFailed = true;
    // Rewritten on every failure while failed, so /clusters shows the latest cause and count.
    ep.checkReason = `health check: GET ${config.path} ${failure}, ${ep.checkFailuresInARow} times in a row`;
    ep.refreshHealth();
    if (!wasFailed) this.#log?.('warn', 'health check failing', { upstream: ep.key, reason: ep.checkReason });
  }
}

function passes(status: number, ranges: HealthCheck['expectedStatuses']): boolean {
  for (const [from, to] of ranges) if (status >= from && status <= to) return true;
  return false;
}

function unref(handle: unknown): void {
  (handle as { unref?: () => void } | null)?.unref?.();
}
