// An HTTP/1.1 Upgrade (WebSocket) after routing. The request goes to the chosen endpoint
// through Node's own HTTP client over a stream we open (plain or mTLS), so the upstream's
// answer is parsed by llhttp, not guessed at. The protocol switches only on a 101 that
// names the protocol asked for (RFC 9110 §7.8); only then do we stop being an HTTP proxy
// and copy bytes both ways, with backpressure, until either side closes.
//
// Until that 101, nothing the client sends after its request head reaches the upstream:
// those bytes may be a second request (DELETE /secret) hoping to ride an unrouted tunnel.
// Any other answer (200, 426, 4xx...) is relayed as an HTTP response with
// `connection: close`, and the connection ends there, so a further request has to come
// on a new connection, through routing and authorization like any other.

import { http } from '../node-http.ts';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { SluiceError } from '../errors.ts';
import type { ProxyResponse, RequestContext } from '../http/context.ts';
import { forwardableHeaders } from '../http/headers.ts';
import type { EndpointState } from './endpoint.ts';
import { MTLS_FAILURE } from './mesh-connect.ts';

/** The upgrades a listener tunnels. */
export const TUNNELLED_UPGRADES: ReadonlySet<string> = new Set(['websocket']);

/**
 * Whether an HTTP/1.1 request with Upgrade is taken as one: it offers a protocol we
 * tunnel and carries no body (whose end we would have to find before the switch). Every
 * other one (h2c with HTTP2-Settings, an unknown protocol, an upgrade with a body) is
 * served as the plain request it also is, its Upgrade dropped as the hop-by-hop field it is.
 */
export function takesUpgrade(headers: Record<string, string | string[] | undefined>): boolean {
  const offered = headers.upgrade;
  if (offered === undefined || !tokens(offered).some((t) => TUNNELLED_UPGRADES.has(t))) return false;
  const cl = headers['content-length'];
  return headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0');
}

export function tunnel(ctx: RequestContext, endpoint: EndpointState): Promise<ProxyResponse> {
  const downstream = ctx.upgrade!.socket;
  return new Promise((resolve, reject) => {
    endpoint.activeRequests++;
    endpoint.totalRequests++;
    // Between proxies the tunnel is mTLS too, with ALPN http/1.1: an Upgrade is HTTP/1.1's.
    endpoint.openStream(['http/1.1'], (err, upstream) => {
      if (err !== null || upstream === null) {
        endpoint.connectFailures++;
        endpoint.activeRequests--;
        const why = (err as { code?: string } | null)?.code === MTLS_FAILURE ? err!.message : (err as { code?: string } | null)?.code;
        reject(new SluiceError('UPSTREAM_CONNECT_FAILURE', `could not connect to ${endpoint.key}: ${why}`, { cause: err }));
        return;
      }
      if (ctx.downstreamClosed || downstream.destroyed) {
        endpoint.activeRequests--;
        upstream.destroy();
        reject(new SluiceError('DOWNSTREAM_DISCONNECT'));
        return;
      }
      handshake(ctx, endpoint, downstream, upstream, resolve, reject);
    });
  });
}

function handshake(
  ctx: RequestContext,
  endpoint: EndpointState,
  downstream: Socket,
  upstream: Socket,
  resolve: (r: ProxyResponse) => void,
  reject: (e: Error) => void,
): void {
  let settled = false;
  const settle = () => {
    if (settled) return false;
    settled = true;
    endpoint.activeRequests--;
    downstream.removeListener('close', onDownstreamClose);
    return true;
  };
  const fail = (err: SluiceError) => {
    if (!settle()) return;
    upstream.destroy();
    reject(err);
  };
  // Only the protocols a listener tunnels are offered upstream, whatever else the client listed.
  const upgrade = tokens(ctx.headers.upgrade ?? '').filter((t) => TUNNELLED_UPGRADES.has(t));
  const headers: Record<string, string | string[]> = { ...ctx.headers, connection: 'upgrade', upgrade: upgrade.join(', ') };
  const req = http.request({ createConnection: () => upstream, method: ctx.method, path: ctx.target(), headers, setHost: false });
  const onDownstreamClose = () => {
    req.destroy();
    fail(new SluiceError('DOWNSTREAM_DISCONNECT'));
  };
  downstream.once('close', onDownstreamClose);
  req.on('error', (err: Error & { code?: string }) => {
    const code = err.code ?? '';
    fail(code.startsWith('HPE_') ? new SluiceError('UPSTREAM_PROTOCOL_ERROR', `invalid response to an upgrade from ${endpoint.key}: ${err.message}`, { cause: err }) : new SluiceError('UPSTREAM_CONNECTION_TERMINATION', undefined, { cause: err }));
  });
  req.on('upgrade', (res: IncomingMessage, socket: Socket, upHead: Buffer) => {
    if (res.statusCode !== 101 || !offersOnly(res.headers.upgrade, upgrade)) {
      socket.destroy();
      fail(new SluiceError('UPSTREAM_PROTOCOL_ERROR', `the upstream switched to '${res.headers.upgrade ?? ''}', which was not asked for`));
      return;
    }
    if (!settle()) return;
    splice(ctx, downstream, socket, upHead, res);
    resolve({ status: 101, headers: {}, body: null });
  });
  // Not a 101: the upgrade was declined. The answer goes back as HTTP, and the connection ends with it.
  req.on('response', (res: IncomingMessage) => {
    if ((res.statusCode ?? 0) < 200) {
      // A 101 without the Upgrade field it must carry: neither a switch nor an answer.
      res.destroy();
      fail(new SluiceError('UPSTREAM_PROTOCOL_ERROR', `a ${res.statusCode} from ${endpoint.key} that names no protocol`));
      return;
    }
    if (!settle()) return;
    relayDeclined(ctx, downstream, upstream, res);
    resolve({ status: res.statusCode ?? 0, headers: {}, body: null });
  });
  req.end();
}

/** After the 101: the head of the switch goes down, then both directions flow, each with backpressure. */
function splice(ctx: RequestContext, downstream: Socket, upstream: Socket, upHead: Buffer, res: IncomingMessage): void {
  const done = () => {
    downstream.destroy();
    upstream.destroy();
  };
  downstream.write(`HTTP/1.1 101 Switching Protocols\r\n${headerLines(forwardableHeaders(res.headers, true))}connection: upgrade\r\n\r\n`);
  if (upHead.length > 0) downstream.write(upHead);
  // The bytes that came with the request head belong to the new protocol: they go now.
  const head = ctx.upgrade!.head;
  if (head.length > 0) upstream.write(head);
  upstream.pipe(downstream);
  downstream.pipe(upstream);
  upstream.on('error', done);
  upstream.once('close', done);
  downstream.once('close', done);
  downstream.on('error', () => {});
}

/**
 * The upstream answered the upgrade with a plain response: it goes to the client as it
 * came (hop-by-hop fields dropped), delimited by the connection's close, and nothing the
 * client sent after its request head is ever read.
 */
function relayDeclined(ctx: RequestContext, downstream: Socket, upstream: Socket, res: IncomingMessage): void {
  downstream.write(`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n${headerLines(forwardableHeaders(res.headers))}connection: close\r\n\r\n`);
  const end = () => {
    downstream.end();
    upstream.destroy();
  };
  res.on('data', (chunk: Buffer) => {
    ctx.bytesSent += chunk.length;
    if (!downstream.write(chunk)) {
      res.pause();
      downstream.once('drain', () => res.resume());
    }
  });
  res.once('end', end);
  // A body cut short must not look whole: the client sees the connection reset.
  res.once('close', () => {
    if (!res.complete) downstream.destroy();
  });
  res.on('error', () => downstream.destroy());
}

/** True when the 101's Upgrade names exactly the protocols the request asked for, a subset of them. */
function offersOnly(answered: string | undefined, asked: string | string[] | undefined): boolean {
  if (answered === undefined || asked === undefined) return false;
  const wanted = new Set(tokens(asked));
  const got = tokens(answered);
  return got.length > 0 && got.every((t) => wanted.has(t));
}

/** The protocol names of an Upgrade field, lower-cased, without versions ("websocket", "h2c"). */
export function tokens(value: string | string[]): string[] {
  const out: string[] = [];
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const part of v.split(',')) {
      const name = part.trim().split('/')[0].toLowerCase();
      if (name !== '') out.push(name);
    }
  }
  return out;
}

function headerLines(headers: Record<string, string | string[]>): string {
  let s = '';
  for (const name in headers) {
    const v = headers[name];
    if (Array.isArray(v)) for (const one of v) s += `${name}: ${one}\r\n`;
    else s += `${name}: ${v}\r\n`;
  }
  return s;
}
