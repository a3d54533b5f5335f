// The h2 field tap: reads the frames of every h2 connection on their way into Node, so the
// fields nghttp2 would silently drop (h2-fields.ts) refuse their request instead.
//
// Node gives an h2 session's socket handle to nghttp2 in C++, and no JS ever sees the
// bytes; neither Node nor nghttp2 tells us which fields were dropped. So the server is
// handed a FieldTap instead of the socket: an object with just the stream surface Node
// wraps non-native streams in (JSStreamSocket), passing every chunk through. Before a chunk
// goes on to nghttp2, the tap walks its frames (skipping over DATA and the rest), decodes
// each header block with its own HPACK decoder, as nghttp2 will, and reports the streams
// whose blocks hold a malformed field. Those reports arrive before nghttp2 reads the block,
// so a stream is refused before it is dispatched, and trailers before they end a body.
//
// The cost is Node's wrapper more than ours: every h2 byte crosses into JS and back (a copy
// per write, one write in flight per event-loop turn), where nghttp2 had the socket to
// itself. Measured on a shared 2-vCPU machine (undici h2 requests through the proxy): about
// 10-20 % more proxy CPU per small request and 40-50 us more latency; for bulk bodies about
// 1.7x the proxy CPU (64 MiB downloads at ~0.7x the throughput). Decoding a header block
// costs about 1 us of that. Node has no option to refuse these fields (it installs an
// nghttp2 invalid-header callback that returns "ignore"); one would make this file moot.

import { EventEmitter } from 'node:events';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fieldProblem } from './h2-fields.ts';
import { HpackDecoder } from './hpack.ts';
import { PEER, type WithPeer } from './inbound-tls.ts';

/** The SETTINGS_HEADER_TABLE_SIZE the listener advertises (Node's default, stated): the decoder's limit. */
export const H2_HEADER_TABLE_SIZE = 4096;

/** What a tap reports. Set by the session's guard before any byte is read. */
export type FieldVerdicts = {
  /** A header block of stream `id` holds a field that makes its request malformed. */
  malformed(id: number, reason: string): void;
  /** The frames cannot be followed any further (an HPACK error, a broken frame sequence). */
  lost(reason: string): void;
};

const sessions = new WeakMap<ServerHttp2Session, FieldTap>();

/** The tap a session reads through (every session of a tapped server has one). */
export function fieldTapOf(session: ServerHttp2Session): FieldTap | undefined {
  return sessions.get(session);
}

/**
 * Puts a FieldTap between the server and every connection it is given: Node's own
 * connection listener gets the tap instead of the socket. Call once, right after creating
 * the server; the taps' sessions are found with fieldTapOf() from a 'session' listener.
 */
export function tapH2Connections(server: Http2Server): void {
  const builtin = server.listeners('connection') as ((socket: unknown) => void)[];
  server.removeAllListeners('connection');
  let accepting: FieldTap | null = null;
  // Emitted from inside the builtin listener, before the session reads anything.
  server.prependListener('session', (session: ServerHttp2Session) => {
    const tap = accepting;
    if (tap === null) return;
    accepting = null;
    sessions.set(session, tap);
    // session.socket is Node's wrapper around the tap, which has no peer of its own: it reads
    // the peer from _peername (net.Socket's cache), and the mTLS identity from PEER.
    const wrapper = session.socket as unknown as Record<PropertyKey, unknown>;
    wrapper._peername = { address: tap.socket.remoteAddress, port: tap.socket.remotePort, family: tap.socket.remoteFamily };
    wrapper[PEER] = (tap.socket as WithPeer)[PEER];
  });
  server.on('connection', (socket: Socket) => {
    const tap = new FieldTap(socket);
    accepting = tap;
    try {
      for (const l of builtin) l.call(server, tap);
    } finally {
      accepting = null;
    }
  });
}

/**
 * The stream surface Node's JSStreamSocket uses, over the real socket, with the frame reader
 * on the way in. It has no alpnProtocol: the listener has already chosen h2, by ALPN or by
 * the preface, so Node's server no longer turns away a TLS client that offered no ALPN.
 */
export class FieldTap extends EventEmitter {
  readonly socket: Socket;
  verdicts: FieldVerdicts | null = null;
  readonly readable = true;
  readonly writable = true;
  readonly readableObjectMode = false;
  #reader = new FrameReader(this);
  #lost = false;

  constructor(socket: Socket) {
    super();
    this.socket = socket;
    // What Node does to the sockets it is given (its wrapper around the tap has no handle to do it on).
    socket.setNoDelay(true);
    (socket as Partial<TLSSocket>).disableRenegotiation?.();
    socket.on('data', (chunk: Buffer) => {
      if (this.#lost) return;
      this.#reader.push(chunk);
      if (!this.#lost) this.emit('data', chunk);
    });
    socket.pause(); // until Node's wrapper starts reading
    socket.on('end', () => this.emit('end'));
    socket.on('close', () => this.emit('close'));
    socket.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Called by the reader: nothing more is forwarded, and the guard is told. */
  lose(reason: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.verdicts?.lost(reason);
  }

  pause(): this {
    this.socket.pause();
    return this;
  }
  resume(): this {
    this.socket.resume();
    return this;
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    return this.socket.write(chunk, cb);
  }
  end(cb?: () => void): this {
    this.socket.end(cb);
    return this;
  }
  destroy(err?: Error): this {
    this.socket.destroy(err);
    return this;
  }
}

// --- the frame reader ---

const PREFACE_LENGTH = 24;
const HEADERS = 0x1;
const PUSH_PROMISE = 0x5;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/**
 * Past any header block nghttp2 accepts: it takes at most 8 CONTINUATIONs, and no frame
 * over our SETTINGS_MAX_FRAME_SIZE (16 KiB). Bounds what a block may hold in memory.
 */
const MAX_BLOCK_BYTES = 256 * 1024;

/** Follows the client's frames across chunks; decodes header blocks, skips everything else. */
class FrameReader {
  readonly #tap: FieldTap;
  readonly #hpack = new HpackDecoder(H2_HEADER_TABLE_SIZE);
  /** Bytes to pass over: the connection preface, then payloads we do not read. */
  #skip = PREFACE_LENGTH;
  readonly #head = Buffer.alloc(9);
  #headBytes = 0;
  /** The HEADERS or CONTINUATION frame being collected: its payload bytes still to come. */
  #want = 0;
  #type = 0;
  #flags = 0;
  #stream = 0;
  #payload: Buffer[] = [];
  /** A header block waiting for its CONTINUATIONs. */
  #block: { stream: number; parts: Buffer[]; bytes: number } | null = null;
  #problem: string | null = null;
  readonly #check = (name: Buffer, value: Buffer): void => {
    if (this.#problem === null) this.#problem = fieldProblem(name, value);
  };

  constructor(tap: FieldTap) {
    this.#tap = tap;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - pos);
        this.#skip -= n;
        pos += n;
      } else if (this.#want > 0) {
        const n = Math.min(this.#want, chunk.length - pos);
        this.#payload.push(chunk.subarray(pos, pos + n));
        this.#want -= n;
        pos += n;
        if (this.#want === 0 && !this.#frameDone()) return;
      } else {
        const n = Math.min(9 - this.#headBytes, chunk.length - pos);
        chunk.copy(this.#head, this.#headBytes, pos, pos + n);
        this.#headBytes += n;
        pos += n;
        if (this.#headBytes < 9) return;
        this.#headBytes = 0;
        const length = this.#head.readUIntBE(0, 3);
        this.#type = this.#head[3];
        this.#flags = this.#head[4];
        this.#stream = this.#head.readUInt32BE(5) & 0x7fffffff;
        if (this.#type === PUSH_PROMISE) return this.#tap.lose('PUSH_PROMISE from a client');
        if (this.#type !== HEADERS && this.#type !== CONTINUATION) {
          if (this.#block !== null) return this.#tap.lose('a header block interrupted by another frame');
          this.#skip = length;
        } else if (length > MAX_BLOCK_BYTES) {
          return this.#tap.lose('header block too large');
        } else {
          this.#want = length;
          if (length === 0 && !this.#frameDone()) return;
        }
      }
    }
  }

  /** A HEADERS or CONTINUATION frame is complete; false when the reader gave up. */
  #frameDone(): boolean {
    const payload = this.#payload.length === 1 ? this.#payload[0] : Buffer.concat(this.#payload);
    this.#payload = [];
    let fragment = payload;
    if (this.#type === HEADERS) {
      if (this.#block !== null) return this.#lose('HEADERS inside a header block');
      let start = 0;
      let end = payload.length;
      if (this.#flags & PADDED) {
        if (payload.length < 1) return this.#lose('bad padding');
        end -= payload[0];
        start = 1;
      }
      if (this.#flags & PRIORITY) start += 5;
      if (start > end) return this.#lose('bad padding');
      fragment = payload.subarray(start, end);
      this.#block = { stream: this.#stream, parts: [], bytes: 0 };
    } else if (this.#block === null || this.#block.stream !== this.#stream) {
      return this.#lose('CONTINUATION outside a header block');
    }
    const block = this.#block;
    block.parts.push(fragment);
    block.bytes += fragment.length;
    if (block.bytes > MAX_BLOCK_BYTES) return this.#lose('header block too large');
    if ((this.#flags & END_HEADERS) === 0) return true;
    this.#block = null;
    this.#problem = null;
    const err = this.#hpack.decode(block.parts.length === 1 ? block.parts[0] : Buffer.concat(block.parts), this.#check);
    if (err !== null) return this.#lose(`HPACK: ${err}`);
    if (this.#problem !== null) this.#tap.verdicts?.malformed(block.stream, this.#problem);
    return true;
  }

  #lose(reason: string): false {
    this.#tap.lose(reason);
    return false;
  }
}
