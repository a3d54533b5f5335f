// HTTP/2 abuse Node does not handle for us.
//
// Rapid Reset (CVE-2023-44487), a client that opens and cancels streams faster than we can
// serve them, gets GOAWAY. (A stream reset in the same read that opened it is never
// dispatched at all: see run() in exchange.ts.) CONTINUATION floods are bounded by nghttp2
// itself and by the header-list limits set on the server (maxHeaderListSize,
// maxHeaderListPairs); the tests hold both to that.
//
// Malformed fields (RFC 9113 §8.2.1), which nghttp2 drops and Node lets through without
// them, refuse their stream with RST_STREAM PROTOCOL_ERROR; the field tap
// (h2-field-tap.ts) finds them before nghttp2 reads the block.

import assert from 'node:assert/strict';
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { fieldTapOf } from './h2-field-tap.ts';

/** Streams refused here: the listener never dispatches them, the reset guard does not count them. */
const refused = new WeakSet<ServerHttp2Stream>();

/** True for a stream guardFields refused (its request must not be handled). */
export function isRefusedStream(stream: ServerHttp2Stream): boolean {
  return refused.has(stream);
}

export type ResetGuardLimits = { readonly maxResets: number; readonly windowMs: number };

/** Watches one session; returns nothing, acts by GOAWAY + close when the limit is crossed. */
export function guardResets(session: ServerHttp2Session, limits: ResetGuardLimits, onAbuse: (reason: string) => void): void {
  let windowStart = 0;
  let resets = 0;
  let tripped = false;
  session.on('stream', (stream: ServerHttp2Stream) => {
    // A stream reset before we sent a response head: what Rapid Reset is made of. ('aborted'
    // is not emitted for streams whose request side had already ended, so read rstCode.)
    stream.once('close', () => {
      if (tripped || stream.rstCode === constants.NGHTTP2_NO_ERROR || stream.headersSent || refused.has(stream)) return;
      const now = Date.now();
      if (now - windowStart > limits.windowMs) {
        windowStart = now;
        resets = 0;
      }
      if (++resets <= limits.maxResets) return;
      tripped = true;
      onAbuse('rapid_reset');
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      // Give the GOAWAY a moment on the wire, then drop whatever the client still sends.
      setTimeout(() => session.destroy(), 100).unref();
    });
  });
}

/**
 * More streams found malformed before nghttp2 opened them than any client has in flight:
 * streams it never opens (refused, past a GOAWAY) are forgotten at the next stream, so
 * only a connection sending nothing but malformed blocks gets here, and is closed.
 */
const MAX_PENDING = 1000;

/**
 * Refuses every stream of the session whose header block or trailers hold a malformed
 * field: RST_STREAM PROTOCOL_ERROR, before its request is dispatched (or, for trailers,
 * before they end its body), and `onRefused` once per stream. A connection whose frames
 * the tap cannot follow is closed with GOAWAY PROTOCOL_ERROR (nghttp2 would close it too).
 * Call from the server's 'session' event, before the session reads a byte.
 */
export function guardFields(session: ServerHttp2Session, onRefused: (reason: string) => void): void {
  const tap = fieldTapOf(session);
  assert.ok(tap !== undefined, 'an h2 session without a field tap: tapH2Connections() was not called on its server');
  const open = new Map<number, ServerHttp2Stream>();
  /** Malformed blocks of streams nghttp2 has not opened yet (they open in the read being inspected). */
  const pending = new Map<number, string>();
  const refuse = (stream: ServerHttp2Stream, reason: string) => {
    if (refused.has(stream) || stream.closed) return;
    refused.add(stream);
    onRefused(reason);
    stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
  };
  // Before the server's own listener, which turns the stream into a request.
  session.prependListener('stream', (stream: ServerHttp2Stream) => {
    const id = stream.id;
    if (id === undefined) return; // a server's streams always have one
    if (pending.size > 0) {
      const reason = pending.get(id);
      // Stream ids only grow: the lower ones were never opened, and never will be.
      for (const p of pending.keys()) if (p <= id) pending.delete(p);
      if (reason !== undefined) return refuse(stream, reason);
    }
    open.set(id, stream);
    stream.once('close', () => open.delete(id));
  });
  const lost = (reason: string) => {
    onRefused(`h2 frames not followed: ${reason}`);
    session.destroy(undefined, constants.NGHTTP2_PROTOCOL_ERROR);
  };
  tap.verdicts = {
    malformed(id, reason) {
      const stream = open.get(id);
      if (stream !== undefined) refuse(stream, reason);
      else if (pending.size < MAX_PENDING) pending.set(id, reason);
      else lost('too many malformed header blocks');
    },
    lost,
  };
}
