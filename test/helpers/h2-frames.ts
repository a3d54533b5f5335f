// Hand-built HTTP/2 frames, for abuse no real client library will produce.

import net from 'node:net';
import { HUFFMAN_CODES } from '../../proxy/listen/hpack-huffman.ts';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal without indexing, new name (0x00 prefix), short strings only, one octet per char (latin1). */
export function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

/** GET / on http, authority "a": static-table entries plus one literal. */
export function getRequestBlock(path = '/'): Buffer {
  const pathPart = path === '/' ? Buffer.from([0x84]) : Buffer.concat([Buffer.from([0x44, path.length]), Buffer.from(path)]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), pathPart, Buffer.from([0x41, 1]), Buffer.from('a')]);
}

export function rstStream(streamId: number, code = 8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

/** Frames in `data` (whole ones only): type and, for GOAWAY, the error code. */
export function parseFrames(data: Buffer): { type: number; flags: number; streamId: number; errorCode?: number }[] {
  const out = [];
  for (let off = 0; off + 9 <= data.length; ) {
    const len = data.readUIntBE(off, 3);
    if (off + 9 + len > data.length) break;
    const type = data[off + 3];
    const f = { type, flags: data[off + 4], streamId: data.readUInt32BE(off + 5) & 0x7fffffff } as { type: number; flags: number; streamId: number; errorCode?: number };
    if (type === FrameType.GOAWAY) f.errorCode = data.readUInt32BE(off + 9 + 4);
    if (type === FrameType.RST_STREAM) f.errorCode = data.readUInt32BE(off + 9);
    out.push(f);
    off += 9 + len;
  }
  return out;
}

export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, ENHANCE_YOUR_CALM: 0xb } as const;

// --- header blocks ---

/** An HPACK string literal, raw (H bit clear); lengths under 127. */
export function hpackString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  if (b.length >= 127) throw new Error('hpackString: short strings only');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** An HPACK literal with a new name and incremental indexing (it enters the dynamic table). */
export function indexedLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
}

/** An HPACK string literal, Huffman-coded (RFC 7541 §5.2), padded with EOS's leading ones. */
export function huffmanString(s: string): Buffer {
  let bits = '';
  for (const c of Buffer.from(s, 'latin1')) bits += HUFFMAN_CODES[c].code.toString(2).padStart(HUFFMAN_CODES[c].bits, '0');
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '1');
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  if (out.length >= 127) throw new Error('huffmanString: short strings only');
  return Buffer.concat([Buffer.from([0x80 | out.length]), out]);
}

/** An HPACK literal without indexing, new name, name and value Huffman-coded. */
export function huffmanLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), huffmanString(name), huffmanString(value)]);
}

/** The request pseudo-headers (static-table method, scheme http, authority "a") and any fields after them. */
export function requestBlock(method: 'GET' | 'POST', path: string, fields: Buffer[] = []): Buffer {
  return Buffer.concat([Buffer.from([method === 'GET' ? 0x82 : 0x83, 0x86, 0x04]), hpackString(path), Buffer.from([0x01]), hpackString('a'), ...fields]);
}

export function dataFrame(streamId: number, data: string, flags = 0): Buffer {
  return frame(FrameType.DATA, flags, streamId, Buffer.from(data));
}

// --- a raw h2 connection ---

export type ParsedFrame = ReturnType<typeof parseFrames>[number];

export type RawH2 = {
  write(bytes: Buffer): void;
  /** Every whole frame the server sent so far. */
  frames(): ParsedFrame[];
  /** The first frame (so far or to come) matching `pred`; null after `timeoutMs` or when the connection closes. */
  waitFor(pred: (f: ParsedFrame) => boolean, timeoutMs?: number): Promise<ParsedFrame | null>;
  readonly closed: boolean;
  close(): void;
};

/**
 * Connects, sends the preface and SETTINGS, and resolves once the server's SETTINGS came
 * back: what is written after that reaches the server as reads of an established session,
 * not in the first chunk the protocol detection peeks at.
 */
export function openH2(port: number): Promise<RawH2> {
  const socket = net.connect(port, '127.0.0.1');
  let data = Buffer.alloc(0);
  let frames: ParsedFrame[] = [];
  let closed = false;
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (d: Buffer) => {
    data = Buffer.concat([data, d]);
    frames = parseFrames(data);
    changed();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    changed();
  });
  const conn: RawH2 = {
    write: (bytes) => void socket.write(bytes),
    frames: () => frames,
    waitFor: (pred, timeoutMs = 3000) =>
      new Promise((resolve) => {
        const check = () => {
          const f = frames.find(pred);
          if (f !== undefined || closed) finish(f ?? null);
        };
        const finish = (f: ParsedFrame | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(f);
        };
        const timer = setTimeout(() => finish(null), timeoutMs);
        waiters.add(check);
        check();
      }),
    get closed() {
      return closed;
    },
    close: () => socket.destroy(),
  };
  socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
  return conn.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0).then((settings) => {
    if (settings === null) throw new Error('no SETTINGS from the server');
    socket.write(frame(FrameType.SETTINGS, Flags.ACK, 0));
    return conn;
  });
}
