// HTTP/1.1 Upgrade requests (WebSocket): the same checks, context and filter chain as any
// request; the router then tunnels (upstream/tunnel.ts). A local reply is written raw,
// because after 'upgrade' Node hands us the socket, not a response object.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SluiceError } from '../errors.ts';
import { http } from '../node-http.ts';
import { RequestContext, type ProxyResponse } from '../http/context.ts';
import { ensureRequestId, forwardableHeaders, setForwardingHeaders } from '../http/headers.ts';
import { normalizePath } from '../http/normalize-path.ts';
import { rescue } from '../http/rescue.ts';
import { checkHttp1, type ExchangeDeps } from './exchange.ts';

export function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, deps: ExchangeDeps): void {
  socket.on('error', () => {});
  const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
  const target = normalizePath(req.url ?? '');
  const headers = forwardableHeaders(req.headers, true);
  const authority = typeof req.headers.host === 'string' ? req.headers.host : '';
  const ctx = new RequestContext(deps.listener, 'HTTP/1.1', remote, performance.now(), req.method ?? 'GET', authority, target.ok ? target.path : req.url ?? '', target.ok ? target.query : '', headers, null, '');
  ctx.requestId = ensureRequestId(headers);
  setForwardingHeaders(headers, socket.remoteAddress ?? '', 'http');
  ctx.upgrade = { socket, head };
  socket.once('close', () => {
    if (ctx.status === 0) {
      ctx.downstreamClosed = true;
      ctx.addFlag('DC');
    }
    deps.observe(ctx);
  });

  const answer = (res: ProxyResponse) => {
    ctx.status = res.status;
    if (ctx.details === '') ctx.details = 'via_upstream';
  };
  const refuse = (err: unknown) => {
    const res = rescue(ctx, err, deps.log);
    ctx.status = res.status;
    socket.end(serialize(res));
  };
  const refusal = checkHttp1(req, deps.current().limits) ?? (target.ok ? null : new SluiceError('BAD_REQUEST', target.reason));
  if (refusal !== null) {
    refuse(refusal);
    return;
  }
  let promise: Promise<ProxyResponse>;
  try {
    promise = deps.current().handler(ctx);
  } catch (err) {
    promise = Promise.reject(err);
  }
  promise.then((res) => {
    // A configured answer (a redirect), not a tunnel: write it and close.
    if (ctx.upstreamHost === null) socket.end(serialize(res));
    answer(res);
  }, refuse);
}

function serialize(res: ProxyResponse): string {
  let s = `HTTP/1.1 ${res.status} ${http.STATUS_CODES[res.status] ?? ''}\r\n`;
  for (const name in res.headers) {
    const v = res.headers[name];
    for (const one of Array.isArray(v) ? v : [v]) s += `${name}: ${one}\r\n`;
  }
  const body = typeof res.body === 'string' ? res.body : '';
  return `${s}connection: close\r\n\r\n${body}`;
}
