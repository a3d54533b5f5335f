// DER (X.690), the little of it certificates and certificate requests use: a writer for the
// structures certs/ signs and a bounds-checked reader for the ones it reads. node:crypto
// signs and verifies; this only lays out the bytes, synchronously and without a library
// (node-forge writes RSA keys only; @peculiar/x509 signs through the asynchronous WebCrypto).

// --- writer ---

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One TLV: `tag`, its length, then the contents. */
export function der(tag: number, ...contents: readonly Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let head: Buffer;
  if (n < 0x80) head = Buffer.from([tag, n]);
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    head = Buffer.from([tag, 0x80 | len.length, ...len]);
  }
  return Buffer.concat([head, body]);
}

export const seq = (...items: readonly Buffer[]): Buffer => der(TAG.sequence, ...items);
export const set = (...items: readonly Buffer[]): Buffer => der(TAG.set, ...items);
/** A context-specific tag [n]: constructed (EXPLICIT, or IMPLICIT over a constructed type) or primitive. */
export const context = (n: number, constructed: boolean, ...contents: readonly Buffer[]): Buffer => der((constructed ? 0xa0 : 0x80) | n, ...contents);
export const octets = (bytes: Buffer): Buffer => der(TAG.octetString, bytes);
export const utf8 = (text: string): Buffer => der(TAG.utf8String, Buffer.from(text, 'utf8'));
export const boolTrue = (): Buffer => der(TAG.boolean, Buffer.from([0xff]));
export const nul = (): Buffer => der(TAG.null);

/** A non-negative INTEGER from its big-endian bytes (a leading zero is added when the top bit is set). */
export function unsigned(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && bytes[i + 1] < 0x80) i++;
  const trimmed = bytes.subarray(i);
  return der(TAG.integer, trimmed[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export const smallInt = (n: number): Buffer => unsigned(Buffer.from([n]));

/** A BIT STRING of whole bytes (a signature, a public key). */
export const bits = (bytes: Buffer): Buffer => der(TAG.bitString, Buffer.from([0]), bytes);

/** A named-bit BIT STRING (keyUsage): trailing zero bits dropped, as DER requires. */
export function namedBits(bytes: readonly number[]): Buffer {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0) return der(TAG.bitString, Buffer.from([0]));
  const last = bytes[end - 1];
  let unused = 0;
  while (((last >> unused) & 1) === 0) unused++;
  return der(TAG.bitString, Buffer.from([unused, ...bytes.slice(0, end)]));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const base128: number[] = [];
    for (let v = part; ; v = Math.floor(v / 128)) {
      base128.unshift((v & 0x7f) | (base128.length === 0 ? 0 : 0x80));
      if (v < 128) break;
    }
    out.push(...base128);
  }
  return der(TAG.oid, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5); whole seconds. */
export function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return date.getUTCFullYear() < 2050 ? der(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`)) : der(TAG.generalizedTime, Buffer.from(`${digits}Z`));
}

// --- reader ---

export type Tlv = { readonly tag: number; readonly start: number; readonly end: number; readonly head: number };

/** One TLV at `pos` (low tag numbers, definite lengths: all a certificate uses), bounds-checked against `limit`. Throws on DER it cannot follow. */
export function tlv(data: Buffer, pos: number, limit: number, expected?: number): Tlv {
  if (pos + 2 > limit) throw new Error('truncated DER');
  const tag = data[pos];
  if (expected !== undefined && tag !== expected) throw new Error(`expected DER tag 0x${expected.toString(16)}, found 0x${tag.toString(16)}`);
  let len = data[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('a DER length this reader does not follow');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + data[start + i];
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start, end, head: pos };
}

/** The TLVs inside a constructed TLV, in order. */
export function children(data: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const child = tlv(data, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** A TLV's whole encoding, tag and length included. */
export const whole = (data: Buffer, t: Tlv): Buffer => data.subarray(t.head, t.end);

/** An OID's dotted form. */
export function readOid(data: Buffer, t: Tlv): string {
  const bytes = data.subarray(t.start, t.end);
  if (bytes.length === 0) throw new Error('an empty OID');
  const parts = [Math.min(2, Math.floor(bytes[0] / 40)), bytes[0] - Math.min(2, Math.floor(bytes[0] / 40)) * 40];
  let v = 0;
  for (const b of bytes.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}
