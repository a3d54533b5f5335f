// Timeouts on the request path: no response head within the limit is a 504 UT, and the
// upstream request is aborted so the upstream sees the reset rather than a client that waits.

import { SluiceError } from '../../errors.ts';
import { releaseBody, type ProxyResponse, type RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { notesOf } from '../../telemetry/failure-notes.ts';

/** Gateway API's rule `timeouts.request`: the whole request, every try included. */
export function timeoutFilter(ms: number): Filter {
  return (next) => (ctx) =>
    withDeadline(ctx, ms, next(ctx), (err) => {
      notesOf(ctx).timeout = { kind: 'route', ms };
      ctx.abort(err);
    });
}

/**
 * Settles like `work`, unless `ms` pass first: then `onExpire` runs (it must stop the
 * work) and the result is a 504 UT. A rejection of `work` after expiry is swallowed.
 */
export function withDeadline(ctx: RequestContext, ms: number, work: Promise<ProxyResponse>, onExpire: (err: SluiceError) => void): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      const err = new SluiceError('UPSTREAM_TIMEOUT', `no response within ${ms} ms`);
      onExpire(err);
      reject(err);
    }, ms);
    work.then(
      (res) => {
        clearTimeout(timer);
        // A head that lost the race: its body must not hold the upstream open.
        if (expired) releaseBody(res);
        else resolve(res);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
