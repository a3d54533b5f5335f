// Envoy's retry fields -> the proxy's RetryPolicy and RetryBudget (xds/SUBSET.md,
// "RetryPolicy"). A retry_policy is read as Envoy reads it: a field it leaves unset has
// Envoy's default (one retry, 25 ms backoff, every method), not the static file's, and what
// a Sluice proxy cannot do the way Envoy would is a problem with its path.

import { DEFAULT_BUDGET, DEFAULT_RETRY, IDEMPOTENT_METHODS, RETRY_ON, type RetryOn } from '../../kinds/resilience-defaults.ts';
import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import type { RetryBudget, RetryPolicy } from '../config/model.ts';
import { anyValue, DURATION, durationMs, EMPTY, message, readTyped, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';

const PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_PRIORITIES = 'envoy.retry_priorities.previous_priorities';
const PREVIOUS_PRIORITIES_CONFIG = message({ update_frequency: scalar });
const GRPC_CONTENT_TYPE = 'application/grpc';

const HEADER_MATCHER = message({ name: scalar, string_match: message({ exact: scalar, prefix: scalar, safe_regex: message({ regex: scalar }) }) });

/** RouteAction.retry_policy and VirtualHost.retry_policy. */
export const RETRY_POLICY = message({
  retry_on: scalar,
  num_retries: WRAPPED,
  per_try_timeout: DURATION,
  retry_host_predicate: message({ name: scalar, typed_config: anyValue }),
  retry_priority: message({ name: scalar, typed_config: anyValue }),
  host_selection_retry_max_attempts: scalar,
  retriable_status_codes: scalar,
  retry_back_off: message({ base_interval: DURATION, max_interval: DURATION }),
  retriable_request_headers: HEADER_MATCHER,
});

/** Envoy's defaults for what a retry_policy leaves unset (config/route/v3/route_components.proto). */
const ENVOY_NUM_RETRIES = 1;
const ENVOY_BASE_INTERVAL_MS = 25;
/** Envoy's RetryBudget defaults: 20 % and a floor of 3. */
const ENVOY_BUDGET_PERCENT = 20;
const ENVOY_MIN_RETRY_CONCURRENCY = 3;

/**
 * A retry_policy, complete: what the router runs for the route. `bufferLimit` is the
 * route's (or virtual host's) per_request_buffer_limit_bytes, if set.
 */
export function translateRetryPolicy(p: Pb, bufferLimit: number | undefined, sink: Sink): RetryPolicy {
  const retryOn: RetryOn[] = [];
  for (const word of String(p.retry_on ?? '').split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    if ((RETRY_ON as readonly string[]).includes(word)) retryOn.push(word as RetryOn);
    else sink.add('retry_on', `'${word}' is not a condition a Sluice proxy retries on; it reads ${RETRY_ON.join(', ')}`);
  }
  // No condition: nothing is retried, whatever num_retries says.
  const attempts = retryOn.length === 0 ? 0 : p.num_retries === undefined ? ENVOY_NUM_RETRIES : Number(p.num_retries.value ?? 0);
  const codes: number[] = ((p.retriable_status_codes ?? []) as unknown[]).map(Number);
  codes.forEach((c, i) => {
    if (!(Number.isInteger(c) && c >= 100 && c <= 599)) sink.add(`retriable_status_codes[${i}]`, `must be an HTTP status (100-599); got ${c}`);
  });
  hostPredicate(p, sink);
  const backoff = backOff(p.retry_back_off, sink.at('retry_back_off'));
  const perTry = p.per_try_timeout === undefined ? undefined : durationMs(p.per_try_timeout, sink, 'per_try_timeout');
  return {
    attempts,
    retryOn,
    retriableStatusCodes: codes,
    backoffBaseMs: backoff.base,
    backoffMaxMs: backoff.max,
    retryNonIdempotent: !onlyIdempotent(p.retriable_request_headers, sink),
    bufferLimitBytes: bufferLimit ?? DEFAULT_RETRY.bufferLimitBytes,
    // Envoy: a per-try timeout of 0 is none.
    ...(perTry === undefined || perTry === 0 ? {} : { perTryTimeoutMs: perTry }),
    ...(retryPriority(p.retry_priority, sink.at('retry_priority')) ? { failoverOnRetry: true } : {}),
  };
}

/** per_request_buffer_limit_bytes, or undefined when unset. */
export function bufferLimit(v: Pb | undefined): number | undefined {
  return v === undefined ? undefined : Number(v.value ?? 0);
}

/** A Sluice proxy always retries on an endpoint not tried yet while there is one: Envoy's previous_hosts predicate, which it must be told. */
function hostPredicate(p: Pb, sink: Sink): void {
  const predicates = (p.retry_host_predicate ?? []) as Pb[];
  if (predicates.length === 0) {
    sink.add('retry_host_predicate', `required: [{ name: ${PREVIOUS_HOSTS} }]: a Sluice proxy always retries on an endpoint not tried yet, while there is one`);
    return;
  }
  predicates.forEach((h, i) => {
    const at = `retry_host_predicate[${i}]`;
    if (h.name !== PREVIOUS_HOSTS) sink.add(`${at}.name`, `'${h.name ?? ''}': the only host predicate a Sluice proxy applies is ${PREVIOUS_HOSTS}`);
    // The config is an empty message; its name alone (no typed_config) is also Envoy's way.
    if (h.typed_config !== undefined) readTyped(h.typed_config, EMBEDDED_TYPE_URLS.PreviousHostsPredicate, EMPTY, sink, `${at}.typed_config`);
  });
}

/**
 * retry_priority: previous_priorities with update_frequency 1 (a retry avoids every level
 * an earlier try went to), or none (a retry stays on its level while an endpoint there is
 * untried). True when given.
 */
function retryPriority(rp: Pb | undefined, sink: Sink): boolean {
  if (rp === undefined) return false;
  if (rp.name !== PREVIOUS_PRIORITIES) sink.add('name', `'${rp.name ?? ''}': the only retry priority a Sluice proxy applies is ${PREVIOUS_PRIORITIES}`);
  if (rp.typed_config === undefined) {
    sink.add('typed_config', `required: PreviousPrioritiesConfig { update_frequency: 1 }`);
    return true;
  }
  const config = readTyped(rp.typed_config, EMBEDDED_TYPE_URLS.PreviousPrioritiesConfig, PREVIOUS_PRIORITIES_CONFIG, sink, 'typed_config');
  if (config !== undefined && Number(config.update_frequency ?? 0) !== 1) {
    sink.add('typed_config.update_frequency', `must be 1: a Sluice proxy moves a retry past the levels of every earlier try; got ${config.update_frequency ?? 0}`);
  }
  return true;
}

function backOff(b: Pb | undefined, sink: Sink): { base: number; max: number } {
  if (b === undefined) return { base: ENVOY_BASE_INTERVAL_MS, max: ENVOY_BASE_INTERVAL_MS * 10 };
  let base = ENVOY_BASE_INTERVAL_MS;
  if (b.base_interval === undefined) sink.add('base_interval', 'required');
  else {
    const ms = durationMs(b.base_interval, sink, 'base_interval');
    if (ms === 0) sink.add('base_interval', 'must be above 0 (full jitter draws from 0 up to it)');
    else if (ms !== undefined) base = ms;
  }
  // Envoy: ten times the base when unset.
  const max = b.max_interval === undefined ? base * 10 : durationMs(b.max_interval, sink, 'max_interval');
  if (max !== undefined && max < base) sink.add('max_interval', `must not be shorter than base_interval (${base} ms); got ${max} ms`);
  return { base, max: Math.max(max ?? base * 10, base) };
}

/**
 * retriable_request_headers: unset, every method is retried (Envoy's default); the one
 * list a Sluice proxy honours is "idempotent methods, and gRPC calls" (`:method` matching
 * exactly the idempotent methods, `content-type` with prefix application/grpc), which is
 * what it does without retryNonIdempotent. True when that list is given.
 */
function onlyIdempotent(headers: Pb[] | undefined, sink: Sink): boolean {
  if (headers === undefined || headers.length === 0) return false;
  let methods = false;
  let grpc = false;
  headers.forEach((h, i) => {
    const name = String(h.name ?? '').toLowerCase();
    const sm: Pb = h.string_match ?? {};
    if (name === ':method' && sm.safe_regex !== undefined && sameMethods(String(sm.safe_regex.regex ?? ''))) methods = true;
    else if (name === 'content-type' && sm.prefix === GRPC_CONTENT_TYPE) grpc = true;
    else sink.add(`retriable_request_headers[${i}]`, `a Sluice proxy retries every method, or only ${IDEMPOTENT_METHODS.join(', ')} and gRPC calls: { name: ':method', string_match.safe_regex.regex: '${IDEMPOTENT_METHODS.join('|')}' } and { name: content-type, string_match.prefix: ${GRPC_CONTENT_TYPE} }, both`);
  });
  if (methods !== grpc) sink.add('retriable_request_headers', `needs both the :method and the content-type matcher: a Sluice proxy retries ${IDEMPOTENT_METHODS.join(', ')} and gRPC calls together, or every method`);
  return methods && grpc;
}

function sameMethods(regex: string): boolean {
  const listed = regex.split('|');
  return listed.length === IDEMPOTENT_METHODS.length && IDEMPOTENT_METHODS.every((m) => listed.includes(m));
}

/**
 * circuit_breakers -> the retry budget. Envoy counts retries in flight against requests in
 * flight; a Sluice proxy counts retries against requests over a 10 s window, so
 * budget_percent is the share of requests retries may add and min_retry_concurrency the
 * retries a second allowed beyond it. Without a retry_budget: the no-policy default.
 */
export function translateRetryBudget(cb: Pb | undefined, sink: Sink): RetryBudget {
  const thresholds = (cb?.thresholds ?? []) as Pb[];
  if (thresholds.length > 1) sink.add('thresholds', 'a Sluice proxy has one priority: give one threshold, of priority DEFAULT');
  const budget: Pb | undefined = thresholds[0]?.retry_budget;
  if (budget === undefined) return { ...DEFAULT_BUDGET };
  const percent = budget.budget_percent === undefined ? ENVOY_BUDGET_PERCENT : Number(budget.budget_percent.value ?? 0);
  if (!(percent >= 0 && percent <= 100)) sink.add('thresholds[0].retry_budget.budget_percent.value', `must be 0-100; got ${percent}`);
  const floor = budget.min_retry_concurrency === undefined ? ENVOY_MIN_RETRY_CONCURRENCY : Number(budget.min_retry_concurrency.value ?? 0);
  return { percent, minRetriesPerSecond: floor, ttlMs: DEFAULT_BUDGET.ttlMs };
}
