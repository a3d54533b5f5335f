// HPACK's Huffman code (RFC 7541 Appendix B), decoding only. The code is canonical, so the
// 257 code lengths below determine every code; they are built once into a tree and then
// into a state machine that eats four bits at a time (nghttp2's approach): a state is an
// inner node of the tree, and no code is shorter than five bits, so one nibble completes
// at most one symbol.

/** Code length in bits of each symbol, 0..255, then 256 (EOS). RFC 7541 Appendix B. */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** The canonical codes: shorter codes first, equal lengths in symbol order. Exported for tests. */
export const HUFFMAN_CODES: readonly { readonly code: number; readonly bits: number }[] = (() => {
  const order = LENGTHS.map((bits, sym) => ({ sym, bits })).sort((a, b) => a.bits - b.bits || a.sym - b.sym);
  const codes = new Array<{ code: number; bits: number }>(LENGTHS.length);
  let code = 0;
  let prev = order[0].bits;
  for (let i = 0; i < order.length; i++) {
    const { sym, bits } = order[i];
    if (i > 0) code = (code + 1) * 2 ** (bits - prev);
    prev = bits;
    codes[sym] = { code, bits };
  }
  return codes;
})();

// --- the state machine ---

/** Per (state, nibble): the next state, and the symbol completed (-1 none, -2 EOS: an error). */
const NEXT = new Uint8Array(256 * 16);
const EMIT = new Int16Array(256 * 16);
/** States where the string may end: the bits since the last symbol are 0..7 ones (EOS's prefix). */
const ACCEPT = new Uint8Array(256);

(() => {
  // Inner nodes 0..255 (0 is the root); child >= 0 is an inner node, < 0 is leaf -(sym + 1).
  const child = new Int32Array(256 * 2).fill(0x7fffffff);
  let nodes = 1;
  HUFFMAN_CODES.forEach(({ code, bits }, sym) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = node * 2 + bit;
      if (i === 0) child[slot] = -(sym + 1);
      else {
        if (child[slot] === 0x7fffffff) child[slot] = nodes++;
        node = child[slot];
      }
    }
  });
  // The all-ones path: EOS is 30 ones, so its first seven inner nodes are the accepting ones.
  ACCEPT[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) ACCEPT[(node = child[node * 2 + 1])] = 1;
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emit = -1;
      for (let i = 3; i >= 0; i--) {
        const next = child[node * 2 + ((nibble >> i) & 1)];
        if (next >= 0) node = next;
        else {
          const sym = -next - 1;
          emit = sym === EOS ? -2 : sym;
          node = 0;
          if (sym === EOS) break;
        }
      }
      NEXT[state * 16 + nibble] = node;
      EMIT[state * 16 + nibble] = emit;
    }
  }
})();

/** Decodes a Huffman-coded string; null when it is not a valid encoding (EOS inside, bad padding). */
export function huffmanDecode(src: Uint8Array, start: number, end: number): Buffer | null {
  // The shortest code is five bits: at most 8/5 symbols per byte.
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    let t = state * 16 + (byte >> 4);
    let emit = EMIT[t];
    if (emit === -2) return null;
    if (emit >= 0) out[n++] = emit;
    state = NEXT[t];
    t = state * 16 + (byte & 0xf);
    emit = EMIT[t];
    if (emit === -2) return null;
    if (emit >= 0) out[n++] = emit;
    state = NEXT[t];
  }
  return ACCEPT[state] === 1 ? out.subarray(0, n) : null;
}
