// undici's interceptor shape: a filter wraps the next handler. A filter may work before
// `next` (route, rewrite), after it (response headers), or call it more than once (retry).

import type { ProxyResponse, RequestContext } from './context.ts';

export type Handler = (ctx: RequestContext) => Promise<ProxyResponse>;
export type Filter = (next: Handler) => Handler;

/** `filters[0]` runs first and sees the request before everything after it. */
export function compose(terminal: Handler, filters: readonly Filter[]): Handler {
  let handler = terminal;
  for (let i = filters.length - 1; i >= 0; i--) handler = filters[i](handler);
  return handler;
}
