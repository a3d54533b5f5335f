// Gateway API rule timeouts: no response head within the limit is a 504 UT, and the
// upstream request is aborted so the upstream sees the reset rather than a client that waits.

import { SluiceError } from '../../errors.ts';
import type { Filter } from '../filter.ts';

export function timeoutFilter(ms: number): Filter {
  return (next) => (ctx) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new SluiceError('UPSTREAM_TIMEOUT', `no response within ${ms} ms`);
        ctx.cancelUpstream?.(err);
        reject(err);
      }, ms);
      next(ctx).then(
        (res) => {
          clearTimeout(timer);
          resolve(res);
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
}
