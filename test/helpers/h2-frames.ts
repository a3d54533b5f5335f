// Hand-built HTTP/2 frames, for abuse no real client library will produce.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal without indexing, new name (0x00 prefix), short strings only. */
export function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
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
