// Gateway API RequestRedirect: a configured answer, not an error, so it is a terminal
// handler of its own rather than a trip through rescue.

import type { RequestRedirect } from '../../config/model.ts';
import type { Handler } from '../filter.ts';
import { rewritePath } from './url-rewrite.ts';

const DEFAULT_PORT = { http: 80, https: 443 } as const;

export function redirectHandler(redirect: RequestRedirect): Handler {
  return async (ctx) => {
    const scheme = redirect.scheme ?? 'http';
    const [host, givenPort] = splitHost(ctx.authority);
    const hostname = redirect.hostname ?? host;
    // A scheme change without an explicit port drops the port, as Gateway API requires.
    const port = redirect.port ?? (redirect.scheme !== undefined ? undefined : givenPort);
    const portPart = port === undefined || port === DEFAULT_PORT[scheme] ? '' : `:${port}`;
    const path = redirect.path !== undefined ? rewritePath(ctx, redirect.path) : ctx.path;
    const location = `${scheme}://${hostname}${portPart}${path}${ctx.query === '' ? '' : `?${ctx.query}`}`;
    ctx.details = 'redirect';
    return { status: redirect.statusCode, headers: { location, 'content-length': '0' }, body: null };
  };
}

function splitHost(authority: string): [string, number | undefined] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (m === null) return [authority, undefined];
  return [m[1], m[2] === undefined ? undefined : Number(m[2])];
}
