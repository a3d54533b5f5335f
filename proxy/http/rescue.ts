// The ONE place that turns errors into local replies (linkerd's ServerRescue). Filters
// throw SluiceErrors; everything else that reaches here is a bug and becomes a 500.

import { http } from '../node-http.ts';
import { errorCodes, isSluiceError, SluiceError, type ErrorCode } from '../errors.ts';
import type { ProxyResponse, RequestContext } from './context.ts';

export const DETAILS_HEADER = 'x-sluice-details';

export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Records why on the context and builds the reply every client sees for a local error. */
export function rescue(ctx: RequestContext, err: unknown, log: Logger): ProxyResponse {
  let e: SluiceError;
  if (isSluiceError(err)) {
    e = err;
  } else {
    e = new SluiceError('INTERNAL', undefined, { cause: err });
    log('error', 'unexpected error on the request path', { request_id: ctx.requestId, error: String((err as Error)?.stack ?? err) });
  }
  // The failure's own flag leads ("UF,URX": a connect failure, after retries ran out).
  if (e.flag) ctx.flagFirst(e.flag);
  ctx.details = e.details;
  const reply = localReply(e.status, e.details, e.message);
  if (e.headers !== undefined) Object.assign(reply.headers, e.headers);
  return reply;
}

export function localReply(status: number, details: string, message: string): ProxyResponse {
  const body = `${message}\n`;
  return {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      [DETAILS_HEADER]: details,
    },
    body,
  };
}

/**
 * The bytes for a protocol-level rejection on an HTTP/1 connection, written straight to
 * the socket before it is closed: the request never got far enough to have a context.
 */
export function rawRejection(code: ErrorCode, reason?: string): string {
  const info = errorCodes[code];
  const body = `${info.message}${reason ? `: ${reason}` : ''}\n`;
  return (
    `HTTP/1.1 ${info.status} ${http.STATUS_CODES[info.status] ?? 'Error'}\r\n` +
    `content-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `${DETAILS_HEADER}: ${info.details}\r\n` +
    `connection: close\r\n\r\n${body}`
  );
}
