// The access log: one JSON object per line, Envoy's JSON field names. Lines are batched and
// written once per batch: process.stdout to a pipe or file writes synchronously on Linux, and
// one write(2) per request costs more than the rest of the logging put together.

import type { HttpProtocol } from '../http/context.ts';

/** One finished request. Field names and order are the log's public format. */
export type AccessLogEntry = {
  /** ISO-8601; stamped by `log()` from the clock, whatever the caller put here. */
  time: string;
  request_id: string;
  method: string;
  authority: string;
  path: string;
  protocol: HttpProtocol;
  status: number;
  /** Envoy response flags, comma-joined ("UF" or "UF,URX"); "-" when none. */
  flags: string;
  /** Response-code details: "via_upstream", "no_healthy_upstream", ... */
  details: string;
  route: string;
  /** Backend name, or null when the request never got that far. */
  upstream: string | null;
  /** "ip:port" of the endpoint that answered, or null. */
  upstream_host: string | null;
  bytes_received: number;
  bytes_sent: number;
  /** Rounded to at most 3 decimals by `log()`. */
  duration_ms: number;
  /** "ip:port" of the client. */
  downstream_remote: string;
  /** The client's verified SPIFFE ID on an mTLS connection, else null (Envoy's DOWNSTREAM_PEER_URI_SAN). */
  downstream_peer: string | null;
  listener: string;
  /** The request's trace (32 hex digits) when it is part of a recorded one, else null (trace-context.ts, accessLogTraceId). */
  trace_id: string | null;
  /** This proxy's span of the request (16 hex digits) when it was recorded, else null. */
  span_id: string | null;
};

export type AccessLog = {
  /** False when logging is off: a caller may skip building the entry at all. */
  readonly on: boolean;
  /** Queues one line; cheap, never writes synchronously unless the buffer is full. No-op when off or closed. */
  log(entry: AccessLogEntry): void;
  /** Writes whatever is queued now, in one write. */
  flush(): void;
  /** Flushes; later `log()` calls are dropped. Safe to call twice. */
  close(): void;
};

export type AccessLogOptions = {
  /** Batch window. 0 (default): flush on the next setImmediate, i.e. once per event-loop turn. */
  flushIntervalMs?: number;
  /** Flush at once when the queued text passes this many UTF-16 code units. Default 64 KiB. */
  maxBufferBytes?: number;
  /** Epoch milliseconds for the `time` field. Default Date.now. */
  clock?: () => number;
};

const DEFAULT_MAX_BUFFER = 64 * 1024;

const OFF: AccessLog = Object.freeze({ on: false, log() {}, flush() {}, close() {} });

/** `out` null turns logging off: every method is a no-op and nothing is allocated per request. */
export function createAccessLog(out: { write(s: string): unknown } | null, opts: AccessLogOptions = {}): AccessLog {
  if (out === null) return OFF;
  const intervalMs = opts.flushIntervalMs ?? 0;
  const maxBuffer = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER;
  const clock = opts.clock ?? Date.now;
  let buffer = '';
  let closed = false;
  let pending: NodeJS.Immediate | NodeJS.Timeout | null = null;

  const flush = (): void => {
    if (pending !== null) {
      if (intervalMs > 0) clearTimeout(pending as NodeJS.Timeout);
      else clearImmediate(pending as NodeJS.Immediate);
      pending = null;
    }
    if (buffer === '') return;
    const batch = buffer;
    buffer = '';
    try {
      out.write(batch);
    } catch {
      // A broken log sink loses lines, never requests: the proxy keeps serving.
    }
  };

  // Unref'd: a queued log line must not keep an otherwise finished process alive; close()
  // is what guarantees the last batch is written.
  const schedule = (): void => {
    pending = intervalMs > 0 ? setTimeout(flush, intervalMs) : setImmediate(flush);
    pending.unref();
  };

  return {
    on: true,
    log(e) {
      if (closed) return;
      // A literal in fixed key order: the line's field order does not depend on the caller.
      buffer += `${JSON.stringify({
        time: new Date(clock()).toISOString(),
        request_id: e.request_id,
        method: e.method,
        authority: e.authority,
        path: e.path,
        protocol: e.protocol,
        status: e.status,
        flags: e.flags === '' ? '-' : e.flags,
        details: e.details,
        route: e.route,
        upstream: e.upstream,
        upstream_host: e.upstream_host,
        bytes_received: e.bytes_received,
        bytes_sent: e.bytes_sent,
        duration_ms: Math.round(e.duration_ms * 1000) / 1000,
        downstream_remote: e.downstream_remote,
        downstream_peer: e.downstream_peer,
        listener: e.listener,
        trace_id: e.trace_id,
        span_id: e.span_id,
      })}\n`;
      if (buffer.length >= maxBuffer) flush();
      else if (pending === null) schedule();
    },
    flush,
    close() {
      flush();
      closed = true;
    },
  };
}
