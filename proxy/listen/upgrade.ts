// HTTP/1.1 Upgrade requests (WebSocket): the same checks, context and filter chain as any
// request; the router then tunnels (upstream/tunnel.ts). A local reply is written raw,
// because after 'upgrade' Node hands us the socket, not a response object.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SluiceError } from '../errors.ts';
import { http } from '../node-http.ts';
import { RequestContext, type ProxyResponse } from '../http/context.ts';
import { rescue } from '../http/rescue.ts';
import { PEER, type WithPeer } from './inbound-tls.ts';
import { callHandler, checkHttp1, parseTarget, prepareUpstreamRequest, type ExchangeDeps } from './exchange.ts';

export function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, deps: ExchangeDeps): void {
  socket.on('error', () => {});
  const remote = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
  const ctx = new RequestContext(deps.listener, 'HTTP/1.1', remote, performance.now(), req.method ?? 'GET', '', req.url ?? '', '', {}, null, '-');
  ctx.upgrade = { socket, head };
  ctx.peer = (socket as WithPeer)[PEER] ?? null;
  ctx.rawHeaders = req.rawHeaders;
  socket.once('close', () => {
    if (ctx.status === 0) {
      ctx.downstreamClosed = true;
      ctx.addFlag('DC');
    }
    deps.observe(ctx);
  });
  const refuse = (err: unknown) => {
    const res = rescue(ctx, err, deps.log);
    ctx.status = res.status;
    socket.end(serialize(res));
  };

  const state = deps.current();
  const refusal = checkHttp1(req, state.limits);
  const target = refusal === null ? parseTarget(req.url ?? '', typeof req.headers.host === 'string' ? req.headers.host : '', state) : null;
  if (refusal !== null || target === null || !target.ok) {
    refuse(refusal ?? new SluiceError('BAD_REQUEST', target !== null && !target.ok ? target.reason : 'bad request target'));
    return;
  }
  prepareUpstreamRequest(ctx, req, target, true);
  callHandler(state.handler, ctx).then((res) => {
    // A configured answer (a redirect), not a tunnel: write it and close.
    if (ctx.upstreamHost === null) socket.end(serialize(res));
    ctx.status = res.status;
    if (ctx.details === '') ctx.details = 'via_upstream';
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
