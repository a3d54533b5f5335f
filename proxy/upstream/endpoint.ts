// One upstream endpoint's live state: its connection pool, the counters /clusters shows,
// and its health. State outlives config reloads while the endpoint's pool does (see
// cluster.ts), so an ejection or a failing health check survives a reload.

import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../config/model.ts';

/**
 * Opens a byte stream to an endpoint (a tunnel, an opaque TCP connection): plain TCP, or
 * mTLS when its backend says so, with `alpn` offered and required. Calls back once.
 */
export type StreamOpener = (alpn: readonly string[] | null, callback: (err: Error | null, socket: Socket | null) => void) => void;

export class EndpointState {
  endpoint: Endpoint;
  /** "ip:port", as the access log and /clusters print it. */
  readonly key: string;
  weight: number;
  dispatcher: Dispatcher;
  readonly openStream: StreamOpener;

  /** What load balancers read: not ejected and not failing active health checks. */
  healthy = true;
  /** Why not healthy, for /clusters; '' when healthy. */
  healthReason = '';

  activeRequests = 0;
  totalRequests = 0;
  connectFailures = 0;

  // --- passive health (outlier detection), written by upstream/health/outlier.ts ---
  /** 0 when not ejected, else the clock time (ms) the ejection ends. */
  ejectedUntil = 0;
  /** The clock time (ms) the current ejection began; meaningful only while ejected. */
  ejectedAt = 0;
  /** Ejections so far; the next one lasts (ejections + 1) x the base time, capped. */
  ejections = 0;
  ejectionReason = '';
  consecutive5xx = 0;
  consecutiveGatewayErrors = 0;
  /** Failures before a response in a row, when the detector counts them apart (consecutiveLocalOriginFailures). */
  consecutiveLocalOrigin = 0;
  /** Outcomes in the current success-rate interval. */
  intervalSuccesses = 0;
  intervalFailures = 0;

  // --- active health, written by upstream/health/health-check.ts ---
  checkFailed = false;
  checkReason = '';
  checkPassesInARow = 0;
  checkFailuresInARow = 0;

  constructor(endpoint: Endpoint, dispatcher: Dispatcher, openStream: StreamOpener) {
    this.endpoint = endpoint;
    this.key = endpointKey(endpoint);
    this.weight = endpoint.weight;
    this.dispatcher = dispatcher;
    this.openStream = openStream;
  }

  /** The same address and pool under a new config: weight, zone and priority may change. */
  update(endpoint: Endpoint): void {
    this.endpoint = endpoint;
    this.weight = endpoint.weight;
  }

  /** Recomputes `healthy` and `healthReason` after a health input changed. */
  refreshHealth(): void {
    const ejected = this.ejectedUntil !== 0;
    this.healthy = !ejected && !this.checkFailed;
    this.healthReason = this.checkFailed ? this.checkReason : ejected ? this.ejectionReason : '';
  }
}

export function endpointKey(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
