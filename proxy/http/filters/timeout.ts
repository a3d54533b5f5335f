// Timeouts on the request path: no response head within the limit is a 504 UT, and the
// upstream request is aborted so the upstream sees the reset rather than a client that waits.
//
// A request has at most one deadline and one timer, however many limits apply to it: the
// route's `timeouts.request` and the backend's RetryPolicy `timeouts.request` both bound
// the whole request, every try included, so the later of the two can never fire. The first
// to start arms the request's Deadline; the other only brings it forward when it is sooner.

import { SluiceError } from '../../errors.ts';
import { releaseBody, type ProxyResponse, type RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { notesOf } from '../../telemetry/failure-notes.ts';

/** Which limit a deadline is, for `sluicectl explain`: the route's or the backend's. */
export type DeadlineKind = 'route' | 'request';

/** Whoever waits for the request's answer: told once, when the deadline passes first. */
export interface DeadlineOwner {
  expire(err: SluiceError): void;
}

/** The request's one deadline (ctx.deadline). */
export class Deadline {
  readonly ctx: RequestContext;
  readonly owner: DeadlineOwner;
  kind: DeadlineKind;
  ms: number;
  #at: number;
  #timer: NodeJS.Timeout | null;

  constructor(ctx: RequestContext, ms: number, kind: DeadlineKind, owner: DeadlineOwner) {
    this.ctx = ctx;
    this.owner = owner;
    this.kind = kind;
    this.ms = ms;
    this.#at = performance.now() + ms;
    this.#timer = setTimeout(fire, ms, this);
  }

  /** A second limit on the same request: the deadline moves only if it comes sooner. */
  tighten(ms: number, kind: DeadlineKind): void {
    if (this.#timer === null) return;
    const at = performance.now() + ms;
    if (at >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    this.ms = ms;
    this.kind = kind;
    this.#timer = setTimeout(fire, ms, this);
  }

  /** The answer came (or the request failed) in time. */
  clear(): void {
    if (this.#timer === null) return;
    clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Whether it fired (or was cleared): either way, nothing is timed any more. */
  get over(): boolean {
    return this.#timer === null;
  }

  /** Called by the timer only. */
  expired(): void {
    this.#timer = null;
  }
}

function fire(d: Deadline): void {
  d.expired();
  const err = new SluiceError('UPSTREAM_TIMEOUT', `no response within ${d.ms} ms`);
  notesOf(d.ctx).timeout = { kind: d.kind, ms: d.ms };
  // The owner first: the try the abort cancels may fail synchronously, and the request's
  // answer is this timeout, not that try's failure.
  d.owner.expire(err);
  d.ctx.abort(err);
}

/**
 * Arms the request's deadline for a limit of `ms`, or brings the one already armed forward.
 * Returns the new Deadline when this call armed it (its owner clears it), else null.
 */
export function armDeadline(ctx: RequestContext, ms: number, kind: DeadlineKind, owner: DeadlineOwner): Deadline | null {
  const armed = ctx.deadline;
  if (armed !== null && !armed.over) {
    armed.tighten(ms, kind);
    return null;
  }
  return (ctx.deadline = new Deadline(ctx, ms, kind, owner));
}

/** Gateway API's rule `timeouts.request`: the whole request, every try included. */
export function timeoutFilter(ms: number): Filter {
  return (next) => (ctx) => new Promise<ProxyResponse>((resolve, reject) => new RouteTimeout(ctx, ms, resolve, reject).wait(next(ctx)));
}

/** The route filter's side of a deadline: settles like the rest of the chain, unless the deadline passes first. */
class RouteTimeout implements DeadlineOwner {
  #resolve: (res: ProxyResponse) => void;
  #reject: (err: Error) => void;
  #deadline: Deadline | null;
  #settled = false;

  constructor(ctx: RequestContext, ms: number, resolve: (res: ProxyResponse) => void, reject: (err: Error) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#deadline = armDeadline(ctx, ms, 'route', this);
  }

  wait(work: Promise<ProxyResponse>): void {
    work.then(
      (res) => {
        this.#deadline?.clear();
        // A head that lost the race: its body must not hold the upstream open.
        if (this.#settled) releaseBody(res);
        else this.#resolve(res);
      },
      (err: Error) => {
        this.#deadline?.clear();
        if (!this.#settled) this.#reject(err);
      },
    );
  }

  expire(err: SluiceError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(err);
  }
}
