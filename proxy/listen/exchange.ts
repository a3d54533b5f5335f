// One request/response exchange on the downstream side, for HTTP/1 and HTTP/2 alike:
// check what Node's parser let through, build the context, run the listener's handler,
// write the answer with backpressure, and report the request once it is over.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { EscapedSlashes, HttpLimits, PathParameters } from '../config/model.ts';
import { SluiceError } from '../errors.ts';
import { releaseBody, RequestContext, type BodySink, type HeaderMap, type HttpProtocol, type ProxyResponse } from '../http/context.ts';
import type { Handler } from '../http/filter.ts';
import { ensureRequestId, forwardableHeaders, PEER_METADATA_HEADER, setForwardingHeaders } from '../http/headers.ts';
import { normalizePath } from '../../kinds/normalize-path.ts';
import { authorityProblem } from '../http/authority.ts';
import { DETAILS_HEADER, rescue, type Logger } from '../http/rescue.ts';
import { PEER, type WithPeer } from './inbound-tls.ts';

/** What a listener's exchanges read; the listener swaps it on reload. */
export type ListenerState = {
  readonly handler: Handler;
  readonly limits: HttpLimits;
  readonly escapedSlashes: EscapedSlashes;
  readonly pathParameters: PathParameters;
  /**
   * An mTLS listener (STRICT or PERMISSIVE) faces other proxies: only a caller with a
   * verified identity is told why the proxy answered itself (x-sluice-details).
   */
  readonly mtls: boolean;
};

export type ExchangeDeps = {
  readonly listener: string;
  current(): ListenerState;
  /** Called exactly once per request, when its response is over (or abandoned). */
  observe(ctx: RequestContext): void;
  draining(): boolean;
  readonly log: Logger;
};

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** Marks a connection whose last request was refused: nothing more from it is forwarded. */
export const REFUSED = Symbol('sluice.refused');
/** The connection's "ip:port", made once for all the requests it carries. */
const REMOTE = Symbol('sluice.remote');

type ExchangeSocket = Socket & { [REFUSED]?: boolean; [REMOTE]?: string };

export function handleExchange(req: AnyRequest, res: AnyResponse, protocol: HttpProtocol, deps: ExchangeDeps): void {
  const socket = req.socket as ExchangeSocket;
  if (protocol !== 'HTTP/2' && socket[REFUSED]) {
    // A request pipelined behind one we refused: the stream cannot be trusted any more.
    socket.destroy();
    return;
  }
  const start = performance.now();
  const state = deps.current();
  const rawTarget = req.url ?? '';
  const remote = (socket[REMOTE] ??= `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`);
  const ctx = new RequestContext(deps.listener, protocol, remote, start, req.method ?? '', '', rawTarget, '', {}, null, '');
  ctx.peer = (socket as WithPeer)[PEER] ?? null;
  ctx.rawHeaders = req.rawHeaders;

  // `on`, not `once` (which wraps the listener per request); the flag keeps observe to one call.
  let over = false;
  res.on('close', () => {
    if (over) return;
    over = true;
    if (!res.writableFinished && !ctx.downstreamClosed) {
      ctx.downstreamClosed = true;
      if (ctx.status === 0) ctx.addFlag('DC');
      ctx.abort(new SluiceError('DOWNSTREAM_DISCONNECT'));
    }
    deps.observe(ctx);
  });

  const refusal = protocol === 'HTTP/2' ? checkHttp2(req as Http2ServerRequest) : checkHttp1(req as IncomingMessage, state.limits);
  const target = refusal === null ? parseTarget(rawTarget, authorityOf(req, protocol), state) : null;
  if (refusal !== null || target === null || !target.ok) {
    const err = refusal ?? new SluiceError('BAD_REQUEST', target !== null && !target.ok ? target.reason : 'bad request target');
    ctx.requestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : '-';
    if (protocol !== 'HTTP/2') {
      socket[REFUSED] = true;
      (res as ServerResponse).shouldKeepAlive = false;
    }
    respond(ctx, res, rescue(ctx, err, deps.log), state, deps);
    return;
  }

  prepareUpstreamRequest(ctx, req, target, false);
  // An Upgrade the listener did not take (h2c, an unknown protocol, one with a body) is
  // served as a plain request, but Node's parser stopped at it and drops whatever was
  // pipelined behind: this answer is the connection's last, so the client knows to resend.
  if (protocol !== 'HTTP/2' && req.headers.upgrade !== undefined) (res as ServerResponse).shouldKeepAlive = false;
  ctx.body = hasBody(req, protocol) ? req : null;
  // An h2 stream reset before its END_STREAM (RST_STREAM, malformed trailers) ends Node's
  // compat request just as a whole body would: turn it into an error first, so the upstream
  // sees an aborted request (connection reset, no last-chunk), never a complete one.
  if (protocol === 'HTTP/2' && ctx.body !== null) req.once('aborted', () => req.destroy(new SluiceError('DOWNSTREAM_DISCONNECT', 'the client reset the stream before its body ended')));
  run(ctx, res, state, deps);
}

/** Fills in what goes upstream: the normalized target, and headers fit to forward. */
export function prepareUpstreamRequest(ctx: RequestContext, req: AnyRequest, target: ParsedTarget, keepUpgrade: boolean): void {
  const headers = forwardableHeaders(req.headers, keepUpgrade);
  headers.host = target.authority;
  ctx.authority = target.authority;
  ctx.path = target.path;
  ctx.query = target.query;
  ctx.headers = headers;
  ctx.requestId = ensureRequestId(headers);
  setForwardingHeaders(headers, req.socket.remoteAddress ?? '', ctx.peer === null ? 'http' : 'https');
  if (ctx.peer !== null) headers['x-forwarded-client-cert'] = ctx.peer.xfcc;
  if (ctx.peer !== null && typeof req.headers[PEER_METADATA_HEADER] === 'string') ctx.peerMetadata = req.headers[PEER_METADATA_HEADER];
}

/** Runs the listener's handler; a synchronous throw becomes a rejection like any other. */
export function callHandler(handler: ListenerState['handler'], ctx: RequestContext): Promise<ProxyResponse> {
  try {
    return handler(ctx);
  } catch (err) {
    return Promise.reject(err);
  }
}

function run(ctx: RequestContext, res: AnyResponse, state: ListenerState, deps: ExchangeDeps, deferred = false): void {
  const stream = ctx.protocol === 'HTTP/2' ? (res as Http2ServerResponse).stream : null;
  // Rapid Reset: a stream the client resets in the same read that opened it must never be
  // dispatched. nghttp2 hands the stream over as soon as it has read its HEADERS, and Node
  // then runs the microtasks the 'request' handler queued, so the filter chain would reach
  // undici before nghttp2 reads the RST_STREAM right behind. setImmediate runs once the
  // read is processed, when such a stream is closed.
  if (stream !== null && !deferred) {
    setImmediate(run, ctx, res, state, deps, true);
    return;
  }
  if (ctx.downstreamClosed || (stream !== null && (stream.closed || stream.destroyed))) {
    ctx.downstreamClosed = true;
    ctx.addFlag('DC');
    return;
  }
  callHandler(state.handler, ctx).then(
    (response) => respond(ctx, res, response, state, deps),
    (err) => respond(ctx, res, rescue(ctx, err, deps.log), state, deps),
  );
}

// --- checks Node's parser leaves to us (each found by sending raw bytes, see tests) ---

export function checkHttp1(req: IncomingMessage, limits: HttpLimits): SluiceError | null {
  const v = req.httpVersion;
  if (v !== '1.1' && v !== '1.0') return new SluiceError('BAD_REQUEST', `HTTP/${v} is not spoken on an HTTP/1 connection`);
  // Node keeps at most maxHeaders + 1 fields, so seeing one more than the limit means "too many".
  if (req.rawHeaders.length > limits.maxHeaders * 2) return new SluiceError('HEADERS_TOO_LARGE', `more than ${limits.maxHeaders} header fields`);
  if ((req.url?.length ?? 0) > limits.maxUrlBytes) return new SluiceError('URI_TOO_LONG', `request target longer than ${limits.maxUrlBytes} bytes`);
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.toLowerCase() !== 'chunked') {
    return new SluiceError('TRANSFER_ENCODING_NOT_IMPLEMENTED', `transfer-encoding '${te}' is not supported`);
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].length === 4 && req.rawHeaders[i].toLowerCase() === 'host') hosts++;
  if (hosts > 1) return new SluiceError('BAD_REQUEST', 'more than one Host header');
  if (req.method === 'CONNECT') return new SluiceError('BAD_REQUEST', 'CONNECT is not supported');
  return null;
}

function checkHttp2(req: Http2ServerRequest): SluiceError | null {
  if (req.method === 'CONNECT') return new SluiceError('BAD_REQUEST', 'CONNECT is not supported');
  // RFC 9113 §8.3.1: a Host beside :authority must name the same thing; we take it to mean the same bytes.
  const host = req.headers.host;
  const authority = req.headers[':authority'];
  if (host !== undefined && (typeof host !== 'string' || (authority !== undefined && host.toLowerCase() !== authority.toLowerCase()))) {
    return new SluiceError('BAD_REQUEST', 'the host field differs from :authority, or is repeated');
  }
  // HTTP/1's parser knows upper-case methods only; h2 takes any token. "delete" is not
  // DELETE to a policy but may be to a backend that folds case: refuse it on both.
  if (LOWER_CASE.test(req.method)) return new SluiceError('BAD_REQUEST', `method '${req.method}' is not upper-case`);
  return null;
}

const LOWER_CASE = /[a-z]/;

function authorityOf(req: AnyRequest, protocol: HttpProtocol): string {
  const h = req.headers;
  const authority = protocol === 'HTTP/2' ? (h[':authority'] ?? h.host) : h.host;
  return typeof authority === 'string' ? authority : '';
}

type ParsedTarget = { readonly authority: string; readonly path: string; readonly query: string };
type Target = ({ ok: true } & ParsedTarget) | { ok: false; reason: string };

/** Origin-form, or absolute-form (RFC 9112 §3.2.2: a server MUST accept it), normalized once. */
export function parseTarget(raw: string, authority: string, rules: Pick<ListenerState, 'escapedSlashes' | 'pathParameters'>): Target {
  // The Host field is checked even when an absolute-form target overrides it (RFC 9112 §3.2).
  const bad = authorityProblem(authority);
  if (bad !== null) return { ok: false, reason: `invalid Host / :authority: ${bad}` };
  let originForm = raw;
  if (raw.charCodeAt(0) !== 47 /* '/' */) {
    const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(raw);
    if (m === null) return { ok: false, reason: 'the request target must be a path or an absolute http(s) URL' };
    authority = m[1];
    if (authority.includes('@')) return { ok: false, reason: 'userinfo in the request target is not allowed (RFC 9110 §4.2.4)' };
    const wrong = authority === '' ? 'an absolute-form target without a host' : authorityProblem(authority);
    if (wrong !== null) return { ok: false, reason: `invalid authority in the request target: ${wrong}` };
    originForm = m[2] === '' ? '/' : m[2];
  }
  const n = normalizePath(originForm, rules.escapedSlashes, rules.pathParameters);
  if (!n.ok) return n;
  return { ok: true, authority, path: n.path, query: n.query };
}

function hasBody(req: AnyRequest, protocol: HttpProtocol): boolean {
  if (protocol === 'HTTP/2') return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

// --- writing the answer ---

/** `state`: the listener's state as the exchange read it when the request came (a reload meanwhile does not change how this one is answered). */
function respond(ctx: RequestContext, res: AnyResponse, response: ProxyResponse, state: ListenerState, deps: ExchangeDeps): void {
  const body = response.body;
  if (ctx.downstreamClosed || res.destroyed) {
    releaseBody(response, new SluiceError('DOWNSTREAM_DISCONNECT'));
    return;
  }
  if (ctx.details === '') ctx.details = 'via_upstream';
  if (ctx.peer === null && state.mtls) delete response.headers[DETAILS_HEADER];
  if (deps.draining() && ctx.protocol !== 'HTTP/2') (res as ServerResponse).shouldKeepAlive = false;
  try {
    (res as ServerResponse).writeHead(response.status, response.headers);
  } catch (err) {
    // The upstream sent a header Node will not write (invalid characters): never pass it on.
    releaseBody(response, err as Error);
    const reply = rescue(ctx, new SluiceError('UPSTREAM_PROTOCOL_ERROR', `invalid response header from upstream: ${(err as Error).message}`), deps.log);
    respond(ctx, res, reply, state, deps);
    return;
  }
  ctx.status = response.status;
  if (body === null) {
    res.end();
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    ctx.bytesSent += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    res.end(body);
  } else {
    body.start(new DownstreamSink(ctx, res));
  }
}

/** Where a streamed response body goes: the client's response. One object per response, no closures. */
class DownstreamSink implements BodySink {
  readonly #ctx: RequestContext;
  readonly #res: AnyResponse;

  constructor(ctx: RequestContext, res: AnyResponse) {
    this.#ctx = ctx;
    this.#res = res;
  }

  write(chunk: Buffer): boolean {
    this.#ctx.bytesSent += chunk.length;
    return (this.#res as ServerResponse).write(chunk);
  }

  onDrain(resume: () => void): void {
    this.#res.once('drain', resume);
  }

  end(trailers: HeaderMap | null): void {
    if (trailers !== null) this.#res.addTrailers(trailers as Record<string, string>);
    this.#res.end();
  }

  abort(err: Error): void {
    const ctx = this.#ctx;
    ctx.addFlag(ctx.protocol === 'HTTP/2' || (err as { code?: string }).code === 'UND_ERR_INFO' ? 'UR' : 'UC');
    ctx.details = 'upstream_reset_after_response_started';
    // A reset, never a clean end: the client must not take a cut body for a whole one.
    this.#res.destroy(err);
  }
}
