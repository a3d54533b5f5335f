// One upstream request through undici's lowest-level API (dispatch + handler), so the
// response streams into the downstream with backpressure and nothing is buffered whole.

import type { Dispatcher } from 'undici';
import { isSluiceError, SluiceError } from '../errors.ts';
import type { BodySink, HeaderMap, ProxyResponse, RequestContext, ResponseBody } from '../http/context.ts';
import { forwardableHeaders } from '../http/headers.ts';
import type { EndpointState } from './endpoint.ts';
import { MTLS_FAILURE } from './mesh-connect.ts';

type DispatchController = Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestStart']>>[0];

/** Requests in flight to one backend, for its circuit breaker. */
export type InFlight = { activeRequests: number };

/** Who hears how a try ends: exactly one of the two, once. */
export interface TryOutcome {
  /** The response head arrived; its body streams once the exchange attaches a sink. */
  onHead(res: ProxyResponse): void;
  /** No valid head: a SluiceError (UF, UC, UR, UT, UPE...). */
  onFailure(err: Error): void;
}

/**
 * Sends ctx's request to `endpoint` and tells `outcome` how it went: no promise, no closure
 * per request. The request counts as active on the endpoint and on `backend` until its
 * response body is over.
 */
export function send(ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null, outcome: TryOutcome): void {
  if (ctx.aborted !== null) return outcome.onFailure(ctx.aborted);
  if (ctx.downstreamClosed) return outcome.onFailure(new SluiceError('DOWNSTREAM_DISCONNECT'));
  const exchange = new UpstreamExchange(ctx, endpoint, backend, outcome);
  ctx.upstreamTry = exchange;
  endpoint.activeRequests++;
  endpoint.totalRequests++;
  if (backend !== null) backend.activeRequests++;
  endpoint.dispatcher.dispatch(
    {
      path: ctx.target(),
      method: ctx.method,
      headers: ctx.headers,
      body: ctx.body as Dispatcher.DispatchOptions['body'],
      // Retrying is the resilience layer's call, never undici's.
      idempotent: false,
    },
    exchange,
  );
}

const Phase = { waiting: 0, streaming: 1, done: 2 } as const;

/** How much of a body may arrive before the downstream is ready for it, unpaused. */
const EARLY_BODY_BYTES = 64 * 1024;

function hasAny(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

class UpstreamExchange implements Dispatcher.DispatchHandler, ResponseBody {
  #ctx: RequestContext;
  #endpoint: EndpointState;
  #backend: InFlight | null;
  #outcome: TryOutcome;
  #controller: DispatchController | null = null;
  #state: number = Phase.waiting;
  #sink: BodySink | null = null;
  /** What arrived between the head and the exchange attaching a sink: most often one chunk. */
  #pending: Buffer | Buffer[] | null = null;
  #pendingBytes = 0;
  #ended: { trailers: HeaderMap | null } | null = null;
  #error: Error | null = null;
  #cancelled: Error | null = null;

  constructor(ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null, outcome: TryOutcome) {
    this.#ctx = ctx;
    this.#endpoint = endpoint;
    this.#backend = backend;
    this.#outcome = outcome;
  }

  // --- undici handler ---

  onRequestStart(controller: DispatchController): void {
    this.#controller = controller;
    if (this.#cancelled) controller.abort(this.#cancelled);
  }

  onBodySent(chunk: Buffer | string): void {
    this.#ctx.bytesReceived += chunk.length;
  }

  onResponseStart(controller: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx are hop-by-hop; Node already answered the client's Expect itself.
    if (statusCode < 200) return;
    this.#state = Phase.streaming;
    this.#outcome.onHead({ status: statusCode, headers: forwardableHeaders(headers), body: this });
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    const sink = this.#sink;
    if (sink === null) {
      // The head resolved a promise; the exchange attaches its sink a microtask later, and
      // the rest of a small response is usually in the same read. Held without pausing
      // undici (a pause and resume per response cost more than the copy), up to a bound.
      const held = this.#pending;
      if (held === null) this.#pending = chunk;
      else if (Buffer.isBuffer(held)) this.#pending = [held, chunk];
      else held.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes > EARLY_BODY_BYTES) controller.pause();
      return;
    }
    if (!sink.write(chunk)) {
      controller.pause();
      sink.onDrain(() => controller.resume());
    }
  }

  onResponseEnd(_controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.#finish();
    const t = trailers && hasAny(trailers) ? forwardableHeaders(trailers) : null;
    if (this.#sink !== null) this.#sink.end(t);
    else this.#ended = { trailers: t };
  }

  onResponseError(_controller: DispatchController, err: Error): void {
    const wasWaiting = this.#state === Phase.waiting;
    this.#finish();
    if (wasWaiting) {
      // Cancelled on purpose: the reason is the answer (a per-try timeout's UT, the client gone).
      const reason = this.#cancelled;
      this.#outcome.onFailure(reason === null ? classify(err, this.#endpoint) : isSluiceError(reason) ? reason : new SluiceError('DOWNSTREAM_DISCONNECT', undefined, { cause: err }));
      return;
    }
    if (this.#sink !== null) this.#sink.abort(err);
    else this.#error = err;
  }

  // --- ResponseBody, driven by the exchange on the downstream side ---

  start(sink: BodySink): void {
    this.#sink = sink;
    const pending = this.#pending;
    this.#pending = null;
    let flowing = true;
    if (Buffer.isBuffer(pending)) flowing = sink.write(pending);
    else if (pending !== null) for (const chunk of pending) flowing = sink.write(chunk) && flowing;
    if (this.#ended !== null) sink.end(this.#ended.trailers);
    else if (this.#error !== null) sink.abort(this.#error);
    else if (this.#controller !== null && this.#controller.paused) {
      const controller = this.#controller;
      if (flowing) controller.resume();
      else sink.onDrain(() => controller.resume());
    }
  }

  cancel(reason: Error): void {
    this.#cancelled = reason;
    if (this.#state === Phase.done) return;
    this.#controller?.abort(reason);
  }

  #finish(): void {
    if (this.#state === Phase.done) return;
    this.#state = Phase.done;
    this.#endpoint.activeRequests--;
    if (this.#backend !== null) this.#backend.activeRequests--;
  }
}

const PROTOCOL_ERROR = 1; // RFC 9113 §7
const REFUSED_STREAM = 7; // RFC 9113 §7: the stream was not processed at all

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

/**
 * nghttp2's library errors (NghttpError.errno, code ERR_HTTP2_ERROR) for a connection our
 * HTTP/2 session tore down because of what the peer sent: PROTO, FRAME_SIZE_ERROR,
 * HEADER_COMP, FLOW_CONTROL, HTTP_HEADER, HTTP_MESSAGING, SETTINGS_EXPECTED, FLOODED,
 * TOO_MANY_CONTINUATIONS.
 */
const NGHTTP2_PEER_ERRORS = new Set([-505, -522, -523, -524, -531, -532, -536, -904, -905]);

/** Maps an undici / socket error before any response head to the local reply it means. */
function classify(err: Error, endpoint: EndpointState): SluiceError {
  const code = (err as { code?: string }).code ?? '';
  if (code === MTLS_FAILURE) {
    endpoint.connectFailures++;
    return new SluiceError('UPSTREAM_CONNECT_FAILURE', `could not connect to ${endpoint.key}: ${err.message}`, { cause: err });
  }
  if (CONNECT_ERRORS.has(code)) {
    endpoint.connectFailures++;
    return new SluiceError('UPSTREAM_CONNECT_FAILURE', `could not connect to ${endpoint.key}: ${code}`, { cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new SluiceError('UPSTREAM_TIMEOUT', undefined, { cause: err });
  if ((err as { http2ErrorCode?: number }).http2ErrorCode === REFUSED_STREAM) return new SluiceError('UPSTREAM_REFUSED_STREAM', undefined, { cause: err });
  const invalid = invalidResponse(err, code);
  if (invalid !== null) return new SluiceError('UPSTREAM_PROTOCOL_ERROR', `the upstream ${endpoint.key} sent a response that is not valid HTTP: ${invalid}`, { cause: err });
  if (code === 'ERR_HTTP2_STREAM_ERROR' || (code === 'UND_ERR_INFO' && /stream/.test(err.message))) return new SluiceError('UPSTREAM_RESET', undefined, { cause: err });
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return new SluiceError('BAD_REQUEST', 'request body length does not match content-length', { cause: err });
  return new SluiceError('UPSTREAM_CONNECTION_TERMINATION', undefined, { cause: err });
}

/**
 * Why the upstream's answer, before any head was accepted, was not valid HTTP, or null when
 * it was some other failure. undici says so in several ways, none of them a closed socket:
 * - HTTP/1, llhttp refused it (a bad status line, a NUL or CTL in a field, obs-fold...):
 *   an HTTPParserError whose `code` undici 8 leaves undefined (it looks llhttp's error
 *   number up in a table of numbers by name), hence the name test beside HPE_*;
 * - HTTP/1, llhttp refused it after a Content-Length had been read (Content-Length with
 *   Transfer-Encoding, two Content-Lengths): undici reports a response Content-Length
 *   mismatch instead of the parser's error, and before a head that is its only cause;
 * - HTTP/1, a head over the pool's maxHeaderSize; a 101 to a request that asked for none;
 * - HTTP/2, our nghttp2 reset the stream with PROTOCOL_ERROR (an invalid or missing
 *   :status, an upper-case or connection-specific field, a pseudo-header after a regular
 *   one), or tore down the session (NGHTTP2_PEER_ERRORS). Node does not tell our reset
 *   from a peer's RST_STREAM(PROTOCOL_ERROR); that one says our request broke the
 *   protocol, which a retry would not mend either.
 */
function invalidResponse(err: Error, code: string): string | null {
  if (code.startsWith('HPE_') || err.name === 'HTTPParserError') return err.message;
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'conflicting or invalid Content-Length';
  if (code === 'UND_ERR_HEADERS_OVERFLOW') return 'response head too large';
  if (code === 'UND_ERR_SOCKET') return err.message === 'bad upgrade' ? 'it switched protocols unasked' : null;
  if (code === 'ERR_HTTP2_STREAM_ERROR') return (err as { http2ErrorCode?: number }).http2ErrorCode === PROTOCOL_ERROR ? err.message : null;
  if (code === 'ERR_HTTP2_ERROR') return NGHTTP2_PEER_ERRORS.has((err as { errno?: number }).errno ?? 0) ? `HTTP/2 ${err.message.toLowerCase()}` : null;
  return null;
}
