// The ADS server's DiscoveryResponse serializer. The resources are packed already (each an
// Any of bytes, shared by every stream that is sent it), so the response is written as bytes
// straight into one buffer, in the order and form protobufjs writes it (field numbers
// ascending; the same bytes, held by a test), instead of fromObject, encode and finish per
// response, which at 1 000 proxies of 40 KB each was most of a push's serialization.
//
// The buffer is reused from one response to the next: @grpc/grpc-js frames each message by
// copying it into a new buffer before its serialize function is called again
// (server-interceptors.js serializeMessage), so it never holds on to this one; a test sends
// responses back to back on one stream and reads each back whole. Fresh memory for every
// 40 KB response (twice, with grpc's copy) was the other half of the cost.

import type { PackedAny } from '../../xds/index.ts';

export type DiscoveryResponse = { readonly version_info: string; readonly resources: readonly PackedAny[]; readonly type_url: string; readonly nonce: string };

let scratch = Buffer.allocUnsafe(1 << 16);

/** Bytes of a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

const fieldSize = (bytes: number) => 1 + varintSize(bytes) + bytes;

function writeField(buf: Buffer, at: number, tag: number, length: number): number {
  buf[at++] = tag;
  return writeVarint(buf, at, length);
}

/**
 * The response's wire bytes: a view into a buffer the next call overwrites, so only for a
 * caller that copies them at once (grpc-js's message framing does).
 */
export function encodeDiscoveryResponse(r: DiscoveryResponse): Buffer {
  const version = Buffer.byteLength(r.version_info);
  const typeUrl = Buffer.byteLength(r.type_url);
  const nonce = Buffer.byteLength(r.nonce);
  const anySizes = r.resources.map((a) => fieldSize(Buffer.byteLength(a.type_url)) + fieldSize(a.value.length));
  let total = fieldSize(version) + fieldSize(typeUrl) + fieldSize(nonce);
  for (const s of anySizes) total += fieldSize(s);
  if (scratch.length < total) scratch = Buffer.allocUnsafe(Math.max(total, scratch.length * 2));
  const buf = scratch;
  let at = writeField(buf, 0, 0x0a, version); // version_info = 1
  at += buf.write(r.version_info, at);
  r.resources.forEach((a, i) => {
    at = writeField(buf, at, 0x12, anySizes[i]); // resources = 2
    at = writeField(buf, at, 0x0a, Buffer.byteLength(a.type_url)); // Any.type_url = 1
    at += buf.write(a.type_url, at);
    at = writeField(buf, at, 0x12, a.value.length); // Any.value = 2
    at += a.value.copy(buf, at);
  });
  at = writeField(buf, at, 0x22, typeUrl); // type_url = 4
  at += buf.write(r.type_url, at);
  at = writeField(buf, at, 0x2a, nonce); // nonce = 5
  at += buf.write(r.nonce, at);
  if (at !== total) throw new Error(`DiscoveryResponse encoded to ${at} bytes, ${total} expected`);
  return buf.subarray(0, total);
}

/** Whether `value` is exactly what encodeDiscoveryResponse writes: the ADS server's own responses. Anything else goes to the generated serializer. */
export function isPlainResponse(value: unknown): value is DiscoveryResponse {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  const r = value as Record<string, unknown>;
  return (
    keys.length === 4 &&
    typeof r.version_info === 'string' &&
    typeof r.type_url === 'string' &&
    typeof r.nonce === 'string' &&
    Array.isArray(r.resources) &&
    r.resources.every((a: { type_url?: unknown; value?: unknown }) => typeof a?.type_url === 'string' && Buffer.isBuffer(a.value) && Object.keys(a).length === 2)
  );
}
