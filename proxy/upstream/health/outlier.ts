// Passive health, after Envoy's outlier detection: endpoints that keep failing real traffic
// are ejected for a while, each time longer, and a backend never loses more than its
// maximum share at once. Every per-endpoint fact lives on the EndpointState, so a detector
// rebuilt on config reload picks up the ejections and counters where the old one left off.

import type { OutlierDetection, SuccessRateEjection } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';

export type HealthLog = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

/** The slice of the global timer API the detector uses; tests pass fakes. */
export type IntervalTimers = {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: never): void;
};

export class OutlierDetector {
  #config: OutlierDetection;
  #endpoints: readonly EndpointState[];
  #now: () => number;
  #log: HealthLog | undefined;
  #maxEjected: number;
  /** Endpoints with `ejectedUntil !== 0`; recounted every sweep, so it cannot drift for long. */
  #ejectedCount = 0;
  #timer: unknown = null;
  #timers: IntervalTimers | null = null;

  constructor(config: OutlierDetection, endpoints: readonly EndpointState[], deps: { now: () => number; log?: HealthLog }) {
    this.#config = config;
    this.#endpoints = endpoints;
    this.#now = deps.now;
    this.#log = deps.log;
    const n = endpoints.length;
    const share = Math.floor((n * config.maxEjectionPercent) / 100);
    // "At least one may be", but ejecting the only endpoint just turns errors into 503s.
    this.#maxEjected = share === 0 && n >= 2 ? 1 : share;
    this.#ejectedCount = this.#countEjected();
  }

  /**
   * A response head arrived from `ep`. Called on the request path: O(1), allocates nothing
   * unless this response trips an ejection.
   */
  recordStatus(ep: EndpointState, status: number): void {
    // A head came back: the connection works, whatever the status says.
    ep.consecutiveLocalOrigin = 0;
    if (status < 500) {
      ep.consecutive5xx = 0;
      ep.consecutiveGatewayErrors = 0;
      ep.intervalSuccesses++;
      return;
    }
    ep.intervalFailures++;
    // As in Envoy, a plain 500 breaks a run of gateway errors: the backend answered, so the
    // path to it works and the run is no longer "consecutive".
    if (status === 502 || status === 503 || status === 504) ep.consecutiveGatewayErrors++;
    else ep.consecutiveGatewayErrors = 0;
    ep.consecutive5xx++;
    this.#checkConsecutive(ep);
  }

  /** The request to `ep` failed before a head: connect failure, reset or timeout. O(1). */
  recordLocalFailure(ep: EndpointState): void {
    const split = this.#config.consecutiveLocalOriginFailures ?? 0;
    if (split > 0) {
      // Counted apart (Envoy's split_external_local_origin_errors): an endpoint that cannot be
      // reached at all goes out after a few tries, without waiting on the 5xx counters.
      ep.consecutiveLocalOrigin++;
      if (ep.consecutiveLocalOrigin >= split) this.#eject(ep, `${ep.consecutiveLocalOrigin} consecutive connection failures`);
      return;
    }
    ep.intervalFailures++;
    ep.consecutiveGatewayErrors++;
    ep.consecutive5xx++;
    this.#checkConsecutive(ep);
  }

  /**
   * Once per interval: ends expired ejections, lowers the multiplier of endpoints that
   * stayed in service, runs success-rate ejection, then starts a new interval.
   */
  sweep(): void {
    const now = this.#now();
    for (const ep of this.#endpoints) {
      if (ep.ejectedUntil === 0) {
        // Ejections only end here, so not ejected now means not ejected since the last sweep.
        if (ep.ejections > 0) ep.ejections--;
      } else if (ep.ejectedUntil <= now) {
        this.#uneject(ep);
      }
    }
    this.#ejectedCount = this.#countEjected();
    if (this.#config.successRate) this.#successRateEjection(this.#config.successRate);
    for (const ep of this.#endpoints) {
      ep.intervalSuccesses = 0;
      ep.intervalFailures = 0;
    }
  }

  /** Sweeps every `intervalMs` until `stop()`. The timer is unref'd: it never keeps the process up. */
  start(timers: IntervalTimers = { setInterval, clearInterval }): void {
    if (this.#timer !== null) return;
    this.#timers = timers;
    this.#timer = timers.setInterval(() => this.sweep(), this.#config.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops sweeping; ejections stay as they are on the EndpointStates. Safe to call twice. */
  stop(): void {
    if (this.#timer === null || this.#timers === null) return;
    this.#timers.clearInterval(this.#timer as never);
    this.#timer = null;
  }

  // --- ejection ---

  #checkConsecutive(ep: EndpointState): void {
    // `>=`, not `===`: when the ejection cap said no, the next failure asks again.
    const { consecutiveGatewayErrors: gw, consecutive5xx: any5xx } = this.#config;
    if (gw > 0 && ep.consecutiveGatewayErrors >= gw) {
      this.#eject(ep, `${ep.consecutiveGatewayErrors} consecutive gateway errors`);
    } else if (any5xx > 0 && ep.consecutive5xx >= any5xx) {
      this.#eject(ep, `${ep.consecutive5xx} consecutive 5xx responses`);
    }
  }

  #eject(ep: EndpointState, why: string): void {
    if (ep.ejectedUntil !== 0 || this.#ejectedCount >= this.#maxEjected) return;
    ep.ejections++;
    const ms = Math.min(this.#config.maxEjectionMs, this.#config.baseEjectionMs * ep.ejections);
    // An ejectedUntil of 0 means "not ejected", so a clock at 0 must not produce it.
    ep.ejectedAt = this.#now();
    ep.ejectedUntil = Math.max(1, ep.ejectedAt + ms);
    ep.ejectionReason = `ejected: ${why} (ejection ${ep.ejections}, for ${ms / 1000}s)`;
    ep.consecutive5xx = 0;
    ep.consecutiveGatewayErrors = 0;
    ep.consecutiveLocalOrigin = 0;
    ep.refreshHealth();
    this.#ejectedCount++;
    this.#log?.('info', 'endpoint ejected', { upstream: ep.key, reason: ep.ejectionReason, ms });
  }

  #uneject(ep: EndpointState): void {
    ep.ejectedUntil = 0;
    ep.ejectionReason = '';
    ep.consecutive5xx = 0;
    ep.consecutiveGatewayErrors = 0;
    ep.consecutiveLocalOrigin = 0;
    ep.refreshHealth();
    this.#log?.('info', 'endpoint back from ejection', { upstream: ep.key, ejections: ep.ejections });
  }

  #countEjected(): number {
    let count = 0;
    for (const ep of this.#endpoints) if (ep.ejectedUntil !== 0) count++;
    return count;
  }

  /**
   * Ejects endpoints whose success rate is far below their peers'. Only endpoints with
   * enough requests are judged, and only when enough of them are, so that one quiet or
   * lone endpoint cannot set the bar.
   */
  #successRateEjection(sr: SuccessRateEjection): void {
    const judged: { ep: EndpointState; rate: number }[] = [];
    for (const ep of this.#endpoints) {
      const total = ep.intervalSuccesses + ep.intervalFailures;
      if (total > 0 && total >= sr.requestVolume) judged.push({ ep, rate: (100 * ep.intervalSuccesses) / total });
    }
    if (judged.length === 0 || judged.length < sr.minimumHosts) return;
    let sum = 0;
    for (const j of judged) sum += j.rate;
    const mean = sum / judged.length;
    let squares = 0;
    for (const j of judged) squares += (j.rate - mean) ** 2;
    const threshold = mean - Math.sqrt(squares / judged.length) * (sr.stdevFactor / 1000);
    // Worst first, so that when the cap stops us the endpoints left in service are the better ones.
    judged.sort((a, b) => a.rate - b.rate);
    for (const { ep, rate } of judged) {
      if (rate >= threshold) break;
      // floor / ceil keep the sentence true: the printed rate is always below the printed bar.
      this.#eject(ep, `success rate ${Math.floor(rate)}% below the backend's threshold ${Math.ceil(threshold)}%`);
    }
  }
}
