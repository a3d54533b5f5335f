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

/**
 * Sends ctx's request to `endpoint` and resolves with the response head once it arrives.
 * Rejects with a SluiceError (UF, UC, UR, UT...) when no head arrives. The request counts
 * as active on the endpoint and on `backend` until its response body is over.
 */
export function forward(ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null = null): Promise<ProxyResponse> {
  if (ctx.aborted !== null) return Promise.reject(ctx.aborted);
  if (ctx.downstreamClosed) return Promise.reject(new SluiceError('DOWNSTREAM_DISCONNECT'));
  return new Promise((resolve, reject) => {
    const exchange = new UpstreamExchange(ctx, endpoint, backend, resolve, reject);
    ctx.cancelUpstream = (err) => exchange.cancel(err);
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
  });
}

const Phase = { waiting: 0, streaming: 1, done: 2 } as const;

class UpstreamExchange implements Dispatcher.DispatchHandler, ResponseBody {
  #ctx: RequestContext;
  #endpoint: EndpointState;
  #backend: InFlight | null;
  #resolve: (r: ProxyResponse) => void;
  #reject: (e: Error) => void;
  #controller: DispatchController | null = null;
  #state: number = Phase.waiting;
  #sink: BodySink | null = null;
  /** Chunks that arrived between the head and the exchange attaching a sink. */
  #pending: Buffer[] | null = null;
  #ended: { trailers: HeaderMap | null } | null = null;
  #error: Error | null = null;
  #cancelled: Error | null = null;

  constructor(ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null, resolve: (r: ProxyResponse) => void, reject: (e: Error) => void) {
    this.#ctx = ctx;
    this.#endpoint = endpoint;
    this.#backend = backend;
    this.#resolve = resolve;
    this.#reject = reject;
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
    this.#resolve({ status: statusCode, headers: forwardableHeaders(headers), body: this });
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    const sink = this.#sink;
    if (sink === null) {
      (this.#pending ??= []).push(chunk);
      controller.pause();
      return;
    }
    if (!sink.write(chunk)) {
      controller.pause();
      sink.onDrain(() => controller.resume());
    }
  }

  onResponseEnd(_controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.#finish();
    const t = trailers && Object.keys(trailers).length > 0 ? forwardableHeaders(trailers) : null;
    if (this.#sink !== null) this.#sink.end(t);
    else this.#ended = { trailers: t };
  }

  onResponseError(_controller: DispatchController, err: Error): void {
    const wasWaiting = this.#state === Phase.waiting;
    this.#finish();
    if (wasWaiting) {
      // Cancelled on purpose: the reason is the answer (a per-try timeout's UT, the client gone).
      const reason = this.#cancelled;
      this.#reject(reason === null ? classify(err, this.#endpoint) : isSluiceError(reason) ? reason : new SluiceError('DOWNSTREAM_DISCONNECT', undefined, { cause: err }));
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
    if (pending !== null) for (const chunk of pending) flowing = sink.write(chunk) && flowing;
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

const REFUSED_STREAM = 7; // RFC 9113 §7: the stream was not processed at all

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

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
  if (code.startsWith('HPE_')) return new SluiceError('UPSTREAM_PROTOCOL_ERROR', undefined, { cause: err });
  if (code === 'ERR_HTTP2_STREAM_ERROR' || (code === 'UND_ERR_INFO' && /stream/.test(err.message))) return new SluiceError('UPSTREAM_RESET', undefined, { cause: err });
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return new SluiceError('BAD_REQUEST', 'request body length does not match content-length', { cause: err });
  return new SluiceError('UPSTREAM_CONNECTION_TERMINATION', undefined, { cause: err });
}
