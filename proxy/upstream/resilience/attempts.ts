// The tries of one request at one backend: pick an endpoint, pass the circuit breaker,
// send, judge the answer, and retry while the policy, the request (idempotent, body still
// replayable) and the backend (retry budget, active retries) all allow it. Envoy's router
// retry state, in one loop.

import { IDEMPOTENT_METHODS } from '../../../kinds/resilience-defaults.ts';
import type { RetryOn, RetryPolicy } from '../../config/model.ts';
import { SluiceError, type ErrorCode } from '../../errors.ts';
import { releaseBody, type ProxyResponse, type RequestContext } from '../../http/context.ts';
import { withDeadline } from '../../http/filters/timeout.ts';
import type { Cluster } from '../cluster.ts';
import type { EndpointState } from '../endpoint.ts';
import type { InFlight } from '../forward.ts';
import { HASHING_BALANCERS } from '../../../kinds/load-balancer-names.ts';
import { combinedHash, requestHash } from '../lb/hash.ts';
import type { PickRequest } from '../lb/registry.ts';
import { ReplayBody } from './replay-body.ts';
import { hostNotes, notesOf, noteTry } from '../../telemetry/failure-notes.ts';

export type AttemptDeps = {
  readonly forward: (ctx: RequestContext, endpoint: EndpointState, backend: InFlight) => Promise<ProxyResponse>;
  readonly random: () => number;
};

const IDEMPOTENT: ReadonlySet<string> = new Set(IDEMPOTENT_METHODS);
const ATTEMPT_HEADER = 'x-sluice-attempt-count';
const NO_HASH: PickRequest = Object.freeze({ hash: undefined, tried: null });

/** Failures before a response head that mean the upstream (not the client) failed. */
const UPSTREAM_FAILURES: ReadonlySet<ErrorCode> = new Set([
  'UPSTREAM_CONNECT_FAILURE',
  'UPSTREAM_CONNECTION_TERMINATION',
  'UPSTREAM_RESET',
  'UPSTREAM_REFUSED_STREAM',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_PROTOCOL_ERROR',
]);

/** gRPC status codes (in a trailers-only answer) and the retryOn word for each. */
const GRPC_RETRY_ON: Readonly<Record<string, RetryOn>> = { '1': 'cancelled', '4': 'deadline-exceeded', '8': 'resource-exhausted', '14': 'unavailable' };
const GRPC_REASONS: ReadonlySet<RetryOn> = new Set(Object.values(GRPC_RETRY_ON));

export function sendWithRetries(ctx: RequestContext, cluster: Cluster, policy: RetryPolicy, deps: AttemptDeps): Promise<ProxyResponse> {
  const tries = runTries(ctx, cluster, policy, deps);
  if (policy.requestTimeoutMs === undefined) return tries;
  const ms = policy.requestTimeoutMs;
  return withDeadline(ctx, ms, tries, (err) => {
    notesOf(ctx).timeout = { kind: 'request', ms };
    ctx.abort(err);
  });
}

async function runTries(ctx: RequestContext, cluster: Cluster, policy: RetryPolicy, deps: AttemptDeps): Promise<ProxyResponse> {
  const { counters, limits } = cluster;
  const allowsRetry = policy.attempts > 0 && ctx.upgrade === null;
  const retriable = allowsRetry && (policy.retryNonIdempotent || IDEMPOTENT.has(ctx.method));
  // Every gRPC call is a POST: a status the policy names (unavailable...) is the server
  // saying "not done, try again" (gRFC A6), so those retry whatever the method.
  const grpc = allowsRetry && isGrpc(ctx);
  const replay = (retriable || grpc) && ctx.body !== null ? new ReplayBody(ctx.body, policy.bufferLimitBytes) : null;
  const hash = hashOf(ctx, cluster);
  let pick: PickRequest = hash === undefined ? NO_HASH : { hash, tried: null };
  const before = triesBefore(ctx);
  cluster.budget.deposit();
  for (let attempt = 1; ; attempt++) {
    const retry = attempt > 1;
    const endpoint = cluster.lb.pick(pick);
    if (endpoint === undefined) {
      notesOf(ctx).hosts = hostNotes(cluster.endpoints);
      throw new SluiceError('NO_HEALTHY_UPSTREAM', `backend '${cluster.name}' has no healthy endpoint`);
    }
    admit(ctx, cluster, endpoint);
    ctx.upstreamHost = endpoint.key;
    ctx.attempts = attempt;
    ctx.headers[ATTEMPT_HEADER] = before === 0 ? String(attempt) : String(before + attempt);
    if (replay !== null) ctx.body = replay.stream();
    if (retry) counters.activeRetries++;
    let response: ProxyResponse | undefined;
    let failure: unknown;
    try {
      response = await tryOnce(ctx, endpoint, counters, policy.perTryTimeoutMs, deps);
    } catch (err) {
      failure = err;
    } finally {
      if (retry) counters.activeRetries--;
    }
    const outlier = cluster.outlier;
    let grpcStatus = false;
    if (response !== undefined) {
      outlier?.recordStatus(endpoint, response.status);
      const reason = retryReason(response, policy);
      if (reason === null) return response;
      grpcStatus = GRPC_REASONS.has(reason);
      noteTry(ctx, endpoint, response.status);
    } else {
      const code = (failure as SluiceError).code;
      if (!UPSTREAM_FAILURES.has(code)) throw failure;
      outlier?.recordLocalFailure(endpoint);
      noteTry(ctx, endpoint, failure as Error);
      if (!failureCovered(code, policy.retryOn)) throw failure;
    }
    // A retriable outcome: retry if everything allows it, else hand this outcome on.
    const exhausted = attempt > policy.attempts;
    const mayRetry = retriable || (grpc && grpcStatus);
    const allowed =
      mayRetry && !exhausted && ctx.aborted === null && (replay === null || replay.replayable) && counters.activeRetries < limits.maxActiveRetries && cluster.budget.tryWithdraw();
    if (!allowed) {
      if (exhausted && policy.attempts > 0) ctx.addFlag('URX');
      if (mayRetry && !exhausted) counters.retriesRefused++;
      if (response !== undefined) return response;
      throw failure;
    }
    if (response !== undefined) releaseBody(response, new Error('answer replaced by a retry'));
    counters.retries++;
    pick = { hash, tried: pick.tried === null ? [endpoint] : [...pick.tried, endpoint], avoidTriedPriorities: policy.failoverOnRetry === true };
    await sleep(backoffMs(attempt, policy, deps.random));
    if (ctx.aborted !== null) throw ctx.aborted;
  }
}

/**
 * The request's hash for the backend's balancer: the rule's hash sources (a route's
 * hash_policy over xDS) over the backend's own. Only a hashing balancer reads one, as in
 * Envoy: to any other (and to its failover levels) the request has none.
 */
function hashOf(ctx: RequestContext, cluster: Cluster): number | undefined {
  const rule = ctx.route?.rule.hashOn;
  if (rule !== undefined) return HASHING_BALANCERS.includes(cluster.config.loadBalancer) ? combinedHash(rule, ctx.headers, remoteIp(ctx.downstreamRemote)) : undefined;
  const own = cluster.config.hashOn;
  return own === undefined ? undefined : requestHash(own, ctx.headers, remoteIp(ctx.downstreamRemote));
}

/**
 * The tries a mesh peer (a verified mTLS client: the caller's proxy) already made, from its
 * x-sluice-attempt-count: this hop counts on from them, so the app behind its inbound proxy
 * sees the caller's try number, not 1 every time. Anyone else's header is overwritten.
 */
function triesBefore(ctx: RequestContext): number {
  if (ctx.peer === null) return 0;
  const sent = ctx.headers[ATTEMPT_HEADER];
  const n = typeof sent === 'string' ? Number(sent) : 0;
  return Number.isInteger(n) && n > 1 && n <= 1000 ? n - 1 : 0;
}

/** Circuit breaking: over a limit the request is refused now, never queued without bound. */
function admit(ctx: RequestContext, cluster: Cluster, endpoint: EndpointState): void {
  const { counters, limits } = cluster;
  if (counters.activeRequests >= limits.maxActiveRequests) {
    counters.overflows++;
    notesOf(ctx).overflow = { threshold: 'maxActiveRequests', limit: limits.maxActiveRequests, current: counters.activeRequests };
    throw new SluiceError('UPSTREAM_OVERFLOW', `backend '${cluster.name}' has ${counters.activeRequests} requests in flight (maxActiveRequests ${limits.maxActiveRequests})`);
  }
  // A request beyond the endpoint's connections waits for one: it is pending.
  if (endpoint.activeRequests >= cluster.capacityPerEndpoint) {
    let pending = 0;
    for (const e of cluster.endpoints) if (e.activeRequests > cluster.capacityPerEndpoint) pending += e.activeRequests - cluster.capacityPerEndpoint;
    if (pending >= limits.maxPendingRequests) {
      counters.overflows++;
      notesOf(ctx).overflow = { threshold: 'maxPendingRequests', limit: limits.maxPendingRequests, current: pending };
      throw new SluiceError('UPSTREAM_OVERFLOW', `backend '${cluster.name}' has ${pending} requests waiting for a connection (maxPendingRequests ${limits.maxPendingRequests})`);
    }
  }
}

/**
 * One try. A per-try timeout cancels the try's upstream request with a UT error, which the
 * try then rejects with; the request itself may still be retried. No promise or closure
 * per try: this is on every request of a backend with a per-try timeout. Without one, the
 * try is the forward itself (no async frame, no extra promise).
 */
function tryOnce(ctx: RequestContext, endpoint: EndpointState, backend: InFlight, perTryMs: number | undefined, deps: AttemptDeps): Promise<ProxyResponse> {
  return perTryMs === undefined ? deps.forward(ctx, endpoint, backend) : tryWithTimer(ctx, endpoint, backend, perTryMs, deps);
}

async function tryWithTimer(ctx: RequestContext, endpoint: EndpointState, backend: InFlight, perTryMs: number, deps: AttemptDeps): Promise<ProxyResponse> {
  const sent = deps.forward(ctx, endpoint, backend);
  const timer = setTimeout(expireTry, perTryMs, ctx, perTryMs);
  try {
    return await sent;
  } finally {
    clearTimeout(timer);
  }
}

function expireTry(ctx: RequestContext, ms: number): void {
  notesOf(ctx).timeout = { kind: 'per-try', ms };
  ctx.cancelUpstream?.(new SluiceError('UPSTREAM_TIMEOUT', `no response within the per-try timeout of ${ms} ms`));
}

/** Why a response head asks for a retry under `policy`, or null when it is the answer. */
export function retryReason(res: Pick<ProxyResponse, 'status' | 'headers'>, policy: Pick<RetryPolicy, 'retryOn' | 'retriableStatusCodes'>): RetryOn | null {
  const on = policy.retryOn;
  const status = res.status;
  if (status >= 500) {
    if (on.includes('5xx')) return '5xx';
    if ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) return 'gateway-error';
  }
  if (on.includes('retriable-status-codes') && policy.retriableStatusCodes.includes(status)) return 'retriable-status-codes';
  const grpc = res.headers['grpc-status'];
  if (typeof grpc === 'string' && grpc !== '0') {
    const word = GRPC_RETRY_ON[grpc];
    if (word !== undefined && on.includes(word)) return word;
  }
  return null;
}

/**
 * Envoy's reading: 5xx, gateway-error and reset cover every failure before a head. One
 * exception of ours (Envoy retries it under those words too): an answer that was not valid
 * HTTP. That upstream got the request and answered it, so a retry runs it a second time,
 * and a broken answer is seldom mended by asking again; the client gets the 502.
 */
export function failureCovered(code: ErrorCode, on: readonly RetryOn[]): boolean {
  if (code === 'UPSTREAM_PROTOCOL_ERROR') return false;
  if (on.includes('5xx') || on.includes('gateway-error') || on.includes('reset')) return true;
  if (code === 'UPSTREAM_CONNECT_FAILURE') return on.includes('connect-failure');
  if (code === 'UPSTREAM_REFUSED_STREAM') return on.includes('refused-stream');
  return false;
}

/** Full jitter (AWS architecture blog): random(0, min(max, base x 2^(n-1))). */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(retry - 1, 30));
  return Math.floor(random() * ceiling);
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

function isGrpc(ctx: RequestContext): boolean {
  const type = ctx.headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

/** "ip:port" -> "ip" ("[::1]:80" -> "::1"). */
function remoteIp(remote: string): string {
  const colon = remote.lastIndexOf(':');
  const ip = colon === -1 ? remote : remote.slice(0, colon);
  return ip.startsWith('[') ? ip.slice(1, -1) : ip;
}
