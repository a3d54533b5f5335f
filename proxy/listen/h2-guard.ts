// HTTP/2 abuse limits Node does not enforce for us: Rapid Reset (CVE-2023-44487), a client
// that opens and cancels streams faster than we can serve them, gets GOAWAY.
// CONTINUATION floods are bounded by nghttp2 itself and by the header-list limits set on
// the server (maxHeaderListSize, maxHeaderListPairs); the tests hold both to that.

import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';

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
      if (tripped || stream.rstCode === constants.NGHTTP2_NO_ERROR || stream.headersSent) return;
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
