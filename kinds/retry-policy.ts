// A RetryPolicy spec, resolved: the fields it sets in the units the data path reads (ms),
// and the retry budget it gives a service. Shared by the proxy's static file (which puts
// them in its config model) and the control plane (which writes them as Envoy's
// retry_policy and retry_budget), so a policy means the same wherever it is applied.
// Which specs apply to a request, and in which order, is kinds/policy-attachment.ts.

import { DEFAULT_BUDGET, DEFAULT_RETRY } from './resilience-defaults.ts';
import type { RetryOn, RetrySpec } from './resilience-specs.ts';
import { parseDuration } from './schema-kit.ts';

export type RetryPolicy = {
  /** Retries after the first try; 0 turns retrying off. Default 2. */
  readonly attempts: number;
  /** Default connect-failure, refused-stream, reset, unavailable, cancelled. */
  readonly retryOn: readonly RetryOn[];
  /** With `retriable-status-codes`. Default [503]. */
  readonly retriableStatusCodes: readonly number[];
  /** Exponential backoff with full jitter: try n waits random(0, min(max, base * 2^(n-1))). Default 25 / 250 ms. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** POST, PATCH and other non-idempotent methods are retried only when this is true. Default false. */
  readonly retryNonIdempotent: boolean;
  /** A request body longer than this is streamed without a copy and never retried. Default 65536. */
  readonly bufferLimitBytes: number;
  /** Each try's limit (504 UT for the try, which may be retried); absent: none. */
  readonly perTryTimeoutMs?: number;
  /** All tries together; absent: none. */
  readonly requestTimeoutMs?: number;
  /**
   * A retry prefers the failover level (zone) after the ones earlier tries failed on
   * (Envoy's retry_priority envoy.retry_priorities.previous_priorities, update_frequency 1).
   * Not a spec field: set from xDS, where the control plane always sends it. Absent (a
   * static file): a retry stays on its level while an endpoint there is untried.
   */
  readonly failoverOnRetry?: boolean;
};

export type RetryBudget = {
  /** Retries may add at most this percentage to the requests. Default 20. */
  readonly percent: number;
  /** ...plus this many retries a second whatever the traffic. Default 10. */
  readonly minRetriesPerSecond: number;
  /** Window over which requests and retries are counted. Default 10000. */
  readonly ttlMs: number;
};

/** Only the fields the spec sets, so a nearer policy overrides no more than it says (kinds/policy-attachment.ts `overlay`). */
export function retryFields(s: RetrySpec | undefined): Partial<RetryPolicy> {
  if (s === undefined) return {};
  const out: { -readonly [K in keyof RetryPolicy]?: RetryPolicy[K] } = {};
  if (s.attempts !== undefined) out.attempts = s.attempts;
  if (s.retryOn !== undefined) out.retryOn = s.retryOn;
  if (s.retriableStatusCodes !== undefined) out.retriableStatusCodes = s.retriableStatusCodes;
  if (s.backoff?.baseInterval !== undefined) out.backoffBaseMs = parseDuration(s.backoff.baseInterval);
  if (s.backoff?.maxInterval !== undefined) out.backoffMaxMs = parseDuration(s.backoff.maxInterval);
  else if (out.backoffBaseMs !== undefined) out.backoffMaxMs = Math.max(DEFAULT_RETRY.backoffMaxMs, out.backoffBaseMs * 10);
  if (s.retryNonIdempotent !== undefined) out.retryNonIdempotent = s.retryNonIdempotent;
  if (s.bufferLimitBytes !== undefined) out.bufferLimitBytes = s.bufferLimitBytes;
  // Gateway API: a zero duration means no timeout.
  if (s.timeouts?.perTry !== undefined && parseDuration(s.timeouts.perTry) > 0) out.perTryTimeoutMs = parseDuration(s.timeouts.perTry);
  if (s.timeouts?.request !== undefined && parseDuration(s.timeouts.request) > 0) out.requestTimeoutMs = parseDuration(s.timeouts.request);
  return out;
}

/** A service's retry budget: the spec's fields over the defaults. */
export function retryBudget(s: RetrySpec | undefined): RetryBudget {
  const b = s?.budget;
  return {
    percent: b?.percent ?? DEFAULT_BUDGET.percent,
    minRetriesPerSecond: b?.minRetriesPerSecond ?? DEFAULT_BUDGET.minRetriesPerSecond,
    ttlMs: b?.ttl === undefined ? DEFAULT_BUDGET.ttlMs : parseDuration(b.ttl),
  };
}
