// The tries of one request at one backend: pick an endpoint, pass the circuit breaker,
// send, judge the answer, and retry while the policy, the request (idempotent, body still
// replayable) and the backend (retry budget, active retries) all allow it. Envoy's router
// retry state, as one object per request driven by the try's callbacks.

import { IDEMPOTENT_METHODS } from '../../../kinds/resilience-defaults.ts';
import type { RetryOn, RetryPolicy } from '../../config/model.ts';
import { SluiceError, type ErrorCode } from '../../errors.ts';
import { releaseBody, type ProxyResponse, type RequestContext } from '../../http/context.ts';
import { armDeadline, type Deadline, type DeadlineOwner } from '../../http/filters/timeout.ts';
import type { Cluster } from '../cluster.ts';
import type { EndpointState } from '../endpoint.ts';
import type { InFlight, TryOutcome } from '../forward.ts';
import { HASHING_BALANCERS } from '../../../kinds/load-balancer-names.ts';
import { combinedHash, requestHash } from '../lb/hash.ts';
import type { PickRequest } from '../lb/registry.ts';
import { ReplayBody } from './replay-body.ts';
import { hostNotes, notesOf, noteTry } from '../../telemetry/failure-notes.ts';

export type AttemptDeps = {
  /** Sends one try; `outcome` hears how it ended, once (upstream/forward.ts send). */
  readonly forward: (ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null, outcome: TryOutcome) => void;
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

/**
 * The tries of one request at one backend, resolved with the answer to give (a response
 * head) or rejected with the failure to answer for. One promise per request; the tries
 * themselves run on callbacks (Tries below), with no async frame or promise per try.
 */
export function sendWithRetries(ctx: RequestContext, cluster: Cluster, policy: RetryPolicy, deps: AttemptDeps): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => new Tries(ctx, cluster, policy, deps, resolve, reject).next());
}

/** Envoy's router retry state for one request, as an object with a fixed shape. */
class Tries implements TryOutcome, DeadlineOwner {
  readonly ctx: RequestContext;
  readonly cluster: Cluster;
  readonly policy: RetryPolicy;
  readonly deps: AttemptDeps;
  readonly #resolve: (res: ProxyResponse) => void;
  readonly #reject: (err: unknown) => void;
  /** The request may be retried on a retriable outcome (policy, method, no upgrade). */
  readonly retriable: boolean;
  /** A gRPC call: a gRPC status the policy names is retried whatever the method (gRFC A6). */
  readonly grpc: boolean;
  readonly replay: ReplayBody | null;
  readonly hash: number | undefined;
  /** Tries a mesh peer already made before this hop. */
  readonly before: number;
  /** The backend's request timeout, when this request's deadline is the one it armed. */
  readonly deadline: Deadline | null;
  pick: PickRequest;
  attempt = 0;
  endpoint: EndpointState | null = null;
  tryTimer: NodeJS.Timeout | null = null;
  /** A try is in flight: its outcome is still to come (once). */
  trying = false;
  settled = false;

  constructor(ctx: RequestContext, cluster: Cluster, policy: RetryPolicy, deps: AttemptDeps, resolve: (res: ProxyResponse) => void, reject: (err: unknown) => void) {
    this.ctx = ctx;
    this.cluster = cluster;
    this.policy = policy;
    this.deps = deps;
    this.#resolve = resolve;
    this.#reject = reject;
    const allowsRetry = policy.attempts > 0 && ctx.upgrade === null;
    this.retriable = allowsRetry && (policy.retryNonIdempotent || IDEMPOTENT.has(ctx.method));
    // Every gRPC call is a POST: a status the policy names (unavailable...) is the server
    // saying "not done, try again" (gRFC A6), so those retry whatever the method.
    this.grpc = allowsRetry && isGrpc(ctx);
    this.replay = (this.retriable || this.grpc) && ctx.body !== null ? new ReplayBody(ctx.body, policy.bufferLimitBytes) : null;
    this.hash = hashOf(ctx, cluster);
    this.pick = this.hash === undefined ? NO_HASH : { hash: this.hash, tried: null };
    this.before = triesBefore(ctx);
    // The backend's whole-request limit: the request's deadline, or sooner than the route's.
    this.deadline = policy.requestTimeoutMs === undefined ? null : armDeadline(ctx, policy.requestTimeoutMs, 'request', this);
    cluster.budget.deposit();
  }

  /** Starts the next try, or settles with why none can start. */
  next(): void {
    const { ctx, cluster } = this;
    const attempt = ++this.attempt;
    const endpoint = cluster.lb.pick(this.pick);
    if (endpoint === undefined) {
      notesOf(ctx).hosts = hostNotes(cluster.endpoints);
      return this.fail(new SluiceError('NO_HEALTHY_UPSTREAM', `backend '${cluster.name}' has no healthy endpoint`));
    }
    try {
      admit(ctx, cluster, endpoint);
    } catch (err) {
      return this.fail(err);
    }
    this.endpoint = endpoint;
    ctx.upstreamHost = endpoint.key;
    ctx.attempts = attempt;
    ctx.headers[ATTEMPT_HEADER] = this.before === 0 ? String(attempt) : String(this.before + attempt);
    if (this.replay !== null) ctx.body = this.replay.stream();
    if (attempt > 1) cluster.counters.activeRetries++;
    // A per-try timeout cancels the try's upstream request with a UT error, which the try
    // then fails with; the request itself may still be retried.
    const perTry = this.policy.perTryTimeoutMs;
    if (perTry !== undefined) this.tryTimer = setTimeout(expireTry, perTry, ctx, perTry);
    this.trying = true;
    try {
      this.deps.forward(ctx, endpoint, cluster.counters, this);
    } catch (err) {
      // Thrown before the try could tell its outcome, or after: told once either way.
      if (this.trying) this.onFailure(err as Error);
    }
  }

  // --- TryOutcome: how the try in flight ended ---

  onHead(res: ProxyResponse): void {
    if (!this.trying) return releaseBody(res);
    this.#tryOver();
    this.cluster.outlier?.recordStatus(this.endpoint!, res.status);
    const reason = retryReason(res, this.policy);
    if (reason === null) return this.#answer(res);
    // Judged off undici's callback: a retry releases this answer and dispatches anew.
    process.nextTick(retryAfterHead, this, res, reason);
  }

  onFailure(err: Error): void {
    if (!this.trying) return;
    this.#tryOver();
    process.nextTick(retryAfterFailure, this, err);
  }

  // --- DeadlineOwner: the backend's request timeout passed ---

  expire(err: SluiceError): void {
    if (this.settled) return;
    this.settled = true;
    this.#reject(err);
  }

  /** A retriable answer or failure: retry if everything allows it, else hand this outcome on. */
  judge(response: ProxyResponse | undefined, failure: unknown, grpcStatus: boolean): void {
    const { ctx, cluster, policy } = this;
    const { counters, limits } = cluster;
    const exhausted = this.attempt > policy.attempts;
    const mayRetry = this.retriable || (this.grpc && grpcStatus);
    const replay = this.replay;
    const allowed =
      mayRetry && !exhausted && ctx.aborted === null && (replay === null || replay.replayable) && counters.activeRetries < limits.maxActiveRetries && cluster.budget.tryWithdraw();
    if (!allowed) {
      if (exhausted && policy.attempts > 0) ctx.addFlag('URX');
      if (mayRetry && !exhausted) counters.retriesRefused++;
      if (response !== undefined) return this.#answer(response);
      return this.fail(failure);
    }
    if (response !== undefined) releaseBody(response, new Error('answer replaced by a retry'));
    counters.retries++;
    const endpoint = this.endpoint!;
    this.pick = { hash: this.hash, tried: this.pick.tried === null ? [endpoint] : [...this.pick.tried, endpoint], avoidTriedPriorities: policy.failoverOnRetry === true };
    const wait = backoffMs(this.attempt, policy, this.deps.random);
    if (wait > 0) setTimeout(retryAfterBackoff, wait, this);
    else retryAfterBackoff(this);
  }

  /** The try in flight is over: its timer and its count as an active retry go. */
  #tryOver(): void {
    this.trying = false;
    if (this.tryTimer !== null) {
      clearTimeout(this.tryTimer);
      this.tryTimer = null;
    }
    if (this.attempt > 1) this.cluster.counters.activeRetries--;
  }

  #answer(res: ProxyResponse): void {
    this.deadline?.clear();
    // A head that lost the race with the deadline: its body must not hold the upstream open.
    if (this.settled) return releaseBody(res);
    this.settled = true;
    this.#resolve(res);
  }

  /** Settles with `err` as the request's failure (once). */
  fail(err: unknown): void {
    this.deadline?.clear();
    if (this.settled) return;
    this.settled = true;
    this.#reject(err);
  }
}

function retryAfterHead(t: Tries, res: ProxyResponse, reason: RetryOn): void {
  noteTry(t.ctx, t.endpoint!, res.status);
  t.judge(res, undefined, GRPC_REASONS.has(reason));
}

function retryAfterFailure(t: Tries, err: Error): void {
  const code = (err as SluiceError).code;
  if (!UPSTREAM_FAILURES.has(code)) return t.fail(err);
  t.cluster.outlier?.recordLocalFailure(t.endpoint!);
  noteTry(t.ctx, t.endpoint!, err);
  if (!failureCovered(code, t.policy.retryOn)) return t.fail(err);
  t.judge(undefined, err, false);
}

function retryAfterBackoff(t: Tries): void {
  if (t.ctx.aborted !== null) return t.fail(t.ctx.aborted);
  t.next();
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

function expireTry(ctx: RequestContext, ms: number): void {
  notesOf(ctx).timeout = { kind: 'per-try', ms };
  ctx.upstreamTry?.cancel(new SluiceError('UPSTREAM_TIMEOUT', `no response within the per-try timeout of ${ms} ms`));
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
