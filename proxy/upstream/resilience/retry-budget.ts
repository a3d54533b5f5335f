// Linkerd's (Finagle's) retry budget: over a sliding window, retries may add at most
// `percent` % to the requests, plus a floor of `minRetriesPerSecond` x the window so a
// quiet backend can still retry. When a backend fails, retries stop growing with the
// failure: a 100 % outage costs at most 1.2x the load, never 3x.

import type { RetryBudget as RetryBudgetConfig } from '../../config/model.ts';

const BUCKETS = 10;

export class RetryBudget {
  #config: RetryBudgetConfig;
  #now: () => number;
  #bucketMs: number;
  /** Ring of per-bucket counts; `#epoch` is the bucket number (time / bucketMs) of `#head`. */
  #requests = new Float64Array(BUCKETS);
  #retries = new Float64Array(BUCKETS);
  #head = 0;
  #epoch = 0;

  constructor(config: RetryBudgetConfig, now: () => number) {
    this.#config = config;
    this.#now = now;
    this.#bucketMs = config.ttlMs / BUCKETS;
    this.#epoch = Math.floor(now() / this.#bucketMs);
  }

  /** Every request's first try counts toward what retries may add. */
  deposit(): void {
    this.#advance();
    this.#requests[this.#head]++;
  }

  /** True (and counted) when one more retry fits in the budget. */
  tryWithdraw(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i];
      retries += this.#retries[i];
    }
    const allowed = (requests * this.#config.percent) / 100 + (this.#config.minRetriesPerSecond * this.#config.ttlMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.#retries[this.#head]++;
    return true;
  }

  /** Moves the window to now, zeroing the buckets that fell out of it. */
  #advance(): void {
    const epoch = Math.floor(this.#now() / this.#bucketMs);
    const steps = Math.min(epoch - this.#epoch, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.#head = (this.#head + 1) % BUCKETS;
      this.#requests[this.#head] = 0;
      this.#retries[this.#head] = 0;
    }
    if (epoch > this.#epoch) this.#epoch = epoch;
  }
}
