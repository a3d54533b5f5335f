// An HPACK decoder (RFC 7541): what the h2 field tap (h2-field-tap.ts) uses to read each
// request's header block as nghttp2 reads it, because Node never shows us the fields
// nghttp2 drops (see h2-fields.ts).
//
// Why our own: npm's HPACK decoders are built for another era (hpack.js sits on
// readable-stream 2 and four dependencies, and decodes through stream objects), and one
// decoder per connection on the request path must be small and allocation-light. This one
// is the whole of RFC 7541's decoding side: integers (§5.1), string literals, raw or Huffman
// (§5.2, hpack-huffman.ts), the static table (Appendix A), the dynamic table with its size
// accounting, eviction and size updates (§4, §6.3). It is checked against every example of
// Appendix C, and against Node's own encoder (test/proxy/listen/hpack.test.ts).
//
// Fields come out as Buffers (raw literals are views into the block, not copies); only
// entries entering the dynamic table are copied, so a table never pins a read buffer.

import { huffmanDecode } from './hpack-huffman.ts';

/** RFC 7541 Appendix A. Index 1 is STATIC[0]. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

type Entry = { readonly name: Buffer; readonly value: Buffer };

const STATIC_ENTRIES: readonly Entry[] = STATIC.map(([n, v]) => ({ name: Buffer.from(n, 'latin1'), value: Buffer.from(v, 'latin1') }));

/** RFC 7541 §4.1: an entry's size counts 32 octets of overhead. */
const ENTRY_OVERHEAD = 32;

/** Receives each field of a block, in order. The buffers are only valid during the call. */
export type FieldSink = (name: Buffer, value: Buffer) => void;

/** A decoding error: the block (and with it the connection) is unusable (COMPRESSION_ERROR). */
export type HpackError = string;

export class HpackDecoder {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertised: the most a size update may ask for. */
  readonly #limit: number;
  /** The table's current maximum size (the last size update's, or the limit). */
  #capacity: number;
  #size = 0;
  /** Oldest first: dynamic index 1 (the newest) is the last element. */
  #entries: Entry[] = [];

  constructor(limit = 4096) {
    this.#limit = limit;
    this.#capacity = limit;
  }

  /** The dynamic table, newest first, and its size (for tests). */
  get table(): { readonly entries: readonly [string, string][]; readonly size: number } {
    const entries = this.#entries.map((e): [string, string] => [e.name.toString('latin1'), e.value.toString('latin1')]).reverse();
    return { entries, size: this.#size };
  }

  /**
   * Decodes one complete header block (HEADERS plus its CONTINUATIONs, padding and priority
   * removed), calling `sink` per field; returns null, or the error that makes the block
   * undecodable. After an error the table is in no defined state: the connection is done.
   */
  decode(block: Buffer, sink: FieldSink): HpackError | null {
    let pos = 0;
    let fields = 0;
    while (pos < block.length) {
      const b = block[pos];
      if (b & 0x80) {
        // §6.1 indexed field
        const idx = readInt(block, pos, 7);
        if (idx === null) return 'bad integer';
        pos = idx.next;
        const e = this.#at(idx.value);
        if (e === null) return `index ${idx.value} out of range`;
        sink(e.name, e.value);
        fields++;
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        // §6.3 dynamic table size update: only before the block's first field
        if (fields > 0) return 'table size update after a field';
        const size = readInt(block, pos, 5);
        if (size === null) return 'bad integer';
        if (size.value > this.#limit) return `table size update ${size.value} over the limit ${this.#limit}`;
        pos = size.next;
        this.#capacity = size.value;
        this.#evict(0);
        continue;
      }
      // §6.2 literals: with incremental indexing (01), without (0000) or never indexed (0001)
      const indexing = (b & 0xc0) === 0x40;
      const idx = readInt(block, pos, indexing ? 6 : 4);
      if (idx === null) return 'bad integer';
      pos = idx.next;
      let name: Buffer;
      if (idx.value === 0) {
        const s = readString(block, pos);
        if (typeof s === 'string') return s;
        name = s.str;
        pos = s.next;
      } else {
        const e = this.#at(idx.value);
        if (e === null) return `index ${idx.value} out of range`;
        name = e.name;
      }
      const v = readString(block, pos);
      if (typeof v === 'string') return v;
      pos = v.next;
      sink(name, v.str);
      fields++;
      if (indexing) this.#add(name, v.str);
    }
    return null;
  }

  #at(index: number): Entry | null {
    if (index === 0) return null;
    if (index <= STATIC_ENTRIES.length) return STATIC_ENTRIES[index - 1];
    const i = this.#entries.length - (index - STATIC_ENTRIES.length);
    return i >= 0 ? this.#entries[i] : null;
  }

  /** §4.4: make room, then add; an entry larger than the table empties it and is not added. */
  #add(name: Buffer, value: Buffer): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.#capacity) {
      this.#entries = [];
      this.#size = 0;
      return;
    }
    this.#evict(size);
    this.#entries.push({ name: Buffer.from(name), value: Buffer.from(value) });
    this.#size += size;
  }

  /** Evicts oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size + room > this.#capacity && drop < this.#entries.length) {
      const e = this.#entries[drop++];
      this.#size -= e.name.length + e.value.length + ENTRY_OVERHEAD;
    }
    if (drop > 0) this.#entries.splice(0, drop);
  }
}

// --- primitives ---

/** Beyond this an integer cannot be a length or an index in any block we accept. */
const MAX_INT = 2 ** 31 - 1;

/** §5.1: an integer with an N-bit prefix starting at block[pos]. */
function readInt(block: Buffer, pos: number, prefixBits: number): { value: number; next: number } | null {
  const max = (1 << prefixBits) - 1;
  let value = block[pos++] & max;
  if (value < max) return { value, next: pos };
  for (let shift = 0; ; shift += 7) {
    if (pos >= block.length || shift > 28) return null;
    const b = block[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_INT) return null;
    if ((b & 0x80) === 0) return { value, next: pos };
  }
}

/** §5.2: a string literal (H bit, then length, then octets) starting at block[pos]. */
function readString(block: Buffer, pos: number): { str: Buffer; next: number } | HpackError {
  if (pos >= block.length) return 'truncated block';
  const huffman = (block[pos] & 0x80) !== 0;
  const len = readInt(block, pos, 7);
  if (len === null) return 'bad integer';
  const end = len.next + len.value;
  if (end > block.length) return 'string runs past the block';
  if (!huffman) return { str: block.subarray(len.next, end), next: end };
  const str = huffmanDecode(block, len.next, end);
  return str === null ? 'invalid Huffman string' : { str, next: end };
}
