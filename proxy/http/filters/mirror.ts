// Gateway API RequestMirror: a fire-and-forget copy of the request to another backend.
// The mirror never slows or fails the real request: its body copy is dropped as soon as
// it falls behind, and its response is thrown away.

import { PassThrough, type Readable } from 'node:stream';
import type { RequestMirror } from '../../config/model.ts';
import { releaseBody, RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { ANY_ENDPOINT } from '../../upstream/lb/registry.ts';
import type { TryOutcome } from '../../upstream/forward.ts';
import type { RouterDeps } from './router.ts';

/** How far a mirror's body copy may lag the real request before the mirror is given up. */
const MIRROR_LAG_BYTES = 64 * 1024;

export function requestMirrorFilter(mirror: RequestMirror, deps: RouterDeps): Filter {
  const share = mirror.percent / 100;
  return (next) => (ctx) => {
    if (share >= 1 || deps.random() < share) sendMirror(ctx, mirror.backendRef.name, deps);
    return next(ctx);
  };
}

function sendMirror(ctx: RequestContext, backend: string, deps: RouterDeps): void {
  const cluster = deps.clusters.get(backend);
  const endpoint = cluster?.lb.pick(ANY_ENDPOINT);
  if (endpoint === undefined) return;
  const headers = { ...ctx.headers, host: `${ctx.headers.host ?? ctx.authority}-shadow` };
  const copy = new RequestContext(ctx.listener, ctx.protocol, ctx.downstreamRemote, ctx.startMs, ctx.method, ctx.authority, ctx.path, ctx.query, headers, null, ctx.requestId);
  if (ctx.body !== null) {
    const [primary, shadow] = tee(ctx.body);
    ctx.body = primary;
    copy.body = shadow;
  }
  deps.forward(copy, endpoint, null, DISCARD);
}

/** A mirror's answer is thrown away, and its failure too. */
const DISCARD: TryOutcome = {
  onHead: (res) => releaseBody(res, new Error('mirror response discarded')),
  onFailure: () => {},
};

/** Splits a body in two; the primary sets the pace, the shadow is destroyed when it lags. */
function tee(source: Readable): [PassThrough, PassThrough] {
  const primary = new PassThrough();
  const shadow = new PassThrough();
  let shadowAlive = true;
  source.on('data', (chunk: Buffer) => {
    if (shadowAlive) {
      if (shadow.writableLength > MIRROR_LAG_BYTES) {
        shadowAlive = false;
        shadow.destroy(new Error('mirror fell behind'));
      } else shadow.write(chunk);
    }
    if (!primary.write(chunk)) {
      source.pause();
      primary.once('drain', () => source.resume());
    }
  });
  source.on('end', () => {
    primary.end();
    if (shadowAlive) shadow.end();
  });
  source.on('error', (err: Error) => {
    primary.destroy(err);
    shadow.destroy(err);
  });
  return [primary, shadow];
}
