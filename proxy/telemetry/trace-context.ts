// The trace context a request carries in its headers: W3C Trace Context (`traceparent`,
// `tracestate`) and Zipkin's B3, single (`b3`) and multi (`x-b3-*`) header. Pure string
// work with no SDK: the access log reads a caller's trace id with tracing off, and the
// tracer reads and rewrites the headers with it on.

import type { Span } from '@opentelemetry/api';
import type { HeaderMap, RequestContext } from '../http/context.ts';

/** The proxy's span of one request (RequestContext.span), started by tracing.ts. */
export type TraceSpan = {
  readonly span: Span;
  readonly kind: 'server' | 'client';
  readonly traceId: string;
  readonly spanId: string;
  /** Whether the span is recorded and exported (the sampler's decision, or the caller's). */
  readonly sampled: boolean;
};

export type B3Format = 'none' | 'single' | 'multi';

/** A caller's span as its headers name it. */
export type IncomingTrace = {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits: the caller's span, the parent of ours. */
  readonly spanId: string;
  readonly sampled: boolean;
  /** W3C tracestate, passed on unchanged; '' when none. */
  readonly traceState: string;
  /** Which B3 form the request came in: the same form goes on upstream. */
  readonly b3: B3Format;
};

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/**
 * The trace context of the request's headers: `traceparent` first (W3C), then `b3`, then
 * `x-b3-traceid`/`x-b3-spanid`; null when none is there or valid. Allocates only when a
 * trace header is present.
 */
export function readTraceContext(headers: HeaderMap): IncomingTrace | null {
  const tp = headers.traceparent;
  if (tp !== undefined) {
    const parsed = parseTraceparent(typeof tp === 'string' ? tp : tp[0], headers.tracestate, b3FormOf(headers));
    if (parsed !== null) return parsed;
  }
  const single = headers.b3;
  if (single !== undefined) {
    const parsed = parseB3Single(typeof single === 'string' ? single : single[0]);
    if (parsed !== null) return parsed;
  }
  if (headers['x-b3-traceid'] !== undefined) return parseB3Multi(headers);
  return null;
}

function b3FormOf(headers: HeaderMap): B3Format {
  return headers.b3 !== undefined ? 'single' : headers['x-b3-traceid'] !== undefined ? 'multi' : 'none';
}

/** W3C Trace Context §3.2: version ff is invalid, an all-zero id is invalid; a later version may carry more fields after ours. */
export function parseTraceparent(value: string, tracestate: string | string[] | undefined, b3: B3Format): IncomingTrace | null {
  const m = TRACEPARENT.exec(value.trim());
  if (m === null || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined) || m[2] === ZERO_TRACE || m[3] === ZERO_SPAN) return null;
  const state = tracestate === undefined ? '' : typeof tracestate === 'string' ? tracestate : tracestate.join(',');
  return { traceId: m[2], spanId: m[3], sampled: (parseInt(m[4], 16) & 1) === 1, traceState: state, b3 };
}

/** `{TraceId}-{SpanId}-{SamplingState}-{ParentSpanId}`; a 64-bit trace id is left-padded to 128 bits. A bare sampling state ("0") carries no ids. */
export function parseB3Single(value: string): IncomingTrace | null {
  const parts = value.trim().toLowerCase().split('-');
  if (parts.length < 2) return null;
  const traceId = b3TraceId(parts[0]);
  const spanId = parts[1];
  if (traceId === null || !validSpanId(spanId)) return null;
  const flag = parts[2];
  return { traceId, spanId, sampled: flag === undefined || flag === '1' || flag === 'd', traceState: '', b3: 'single' };
}

export function parseB3Multi(headers: HeaderMap): IncomingTrace | null {
  const traceId = b3TraceId(first(headers['x-b3-traceid']).toLowerCase());
  const spanId = first(headers['x-b3-spanid']).toLowerCase();
  if (traceId === null || !validSpanId(spanId)) return null;
  const s = headers['x-b3-sampled'];
  const sampled = s === undefined ? true : first(s) === '1' || first(s).toLowerCase() === 'true' || first(headers['x-b3-flags']) === '1';
  return { traceId, spanId, sampled, traceState: '', b3: 'multi' };
}

function first(v: string | string[] | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v.trim() : (v[0] ?? '').trim();
}

function b3TraceId(id: string): string | null {
  if ((id.length !== 16 && id.length !== 32) || !HEX.test(id)) return null;
  const full = id.length === 16 ? `0000000000000000${id}` : id;
  return full === ZERO_TRACE ? null : full;
}

function validSpanId(id: string | undefined): id is string {
  return id !== undefined && id.length === 16 && HEX.test(id) && id !== ZERO_SPAN;
}

/**
 * Names the proxy's span as the parent of what goes upstream: `traceparent` (and the
 * caller's `tracestate`, unchanged) always, and B3 in the form the caller used, with the
 * caller's span as X-B3-ParentSpanId.
 */
export function writeTraceContext(headers: HeaderMap, traceId: string, spanId: string, sampled: boolean, incoming: IncomingTrace | null): void {
  headers.traceparent = `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
  if (incoming === null) return;
  if (incoming.traceState !== '') headers.tracestate = incoming.traceState;
  if (incoming.b3 === 'single') headers.b3 = `${traceId}-${spanId}-${sampled ? '1' : '0'}-${incoming.spanId}`;
  else if (incoming.b3 === 'multi') {
    headers['x-b3-traceid'] = traceId;
    headers['x-b3-spanid'] = spanId;
    headers['x-b3-parentspanid'] = incoming.spanId;
    headers['x-b3-sampled'] = sampled ? '1' : '0';
    delete headers['x-b3-flags'];
  }
}

// --- the access log's trace_id and span_id ---

/**
 * The trace a request's access-log line names: the proxy's span's when it was sampled; with
 * tracing off, a sampled trace the caller sent (so a log line still joins its trace); null
 * when the request is not part of a recorded trace. No allocation without a trace header.
 */
export function accessLogTraceId(ctx: RequestContext): string | null {
  if (ctx.span !== null) return ctx.span.sampled ? ctx.span.traceId : null;
  const h = ctx.headers;
  if (h.traceparent === undefined && h.b3 === undefined && h['x-b3-traceid'] === undefined) return null;
  const incoming = readTraceContext(h);
  return incoming !== null && incoming.sampled ? incoming.traceId : null;
}

/** The proxy's own sampled span; null otherwise (with tracing off the proxy has no span: the caller's is not logged as its own). */
export function accessLogSpanId(ctx: RequestContext): string | null {
  return ctx.span !== null && ctx.span.sampled ? ctx.span.spanId : null;
}
