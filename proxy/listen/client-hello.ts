// The server name (SNI) of a TLS ClientHello, read without terminating TLS (Envoy's
// tls_inspector): a zone ingress forwards the connection by it, the bytes put back untouched.
// RFC 8446 §4.1.2 and RFC 6066 §3; the handshake message may span several records.

import type { Socket } from 'node:net';

/** A ClientHello larger than this is refused: real ones (post-quantum key shares included) are a few KiB. */
const MAX_HELLO = 64 * 1024;
/** RFC 8446 §5.1: a record's fragment is at most 2^14 bytes (plus 256 for the old protected forms). */
const MAX_RECORD = 16384 + 256;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;

export type HelloResult = Hello | { readonly kind: 'more' };
export type Hello =
  /** The host name, lower-cased; null when the ClientHello sends none. */
  | { readonly kind: 'hello'; readonly serverName: string | null }
  /** Not a ClientHello, or a malformed one: `why` says what is wrong. */
  | { readonly kind: 'invalid'; readonly why: string };
  // 'more' (HelloResult): a prefix of one, wait for more bytes.

const invalid = (why: string): Hello => ({ kind: 'invalid', why });

/** Reads the records at the start of `buf` until their handshake bytes hold a whole ClientHello. */
export function parseClientHello(buf: Buffer): HelloResult {
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1;
  for (let at = 0; ; ) {
    if (buf.length < at + 5) return { kind: 'more' };
    if (buf[at] !== HANDSHAKE) return invalid(at === 0 ? `not a TLS handshake record (first byte 0x${buf[0].toString(16).padStart(2, '0')})` : 'a record of another type inside the ClientHello');
    if (buf[at + 1] !== 3) return invalid(`record version ${buf[at + 1]}.${buf[at + 2]} is not TLS`);
    const length = buf.readUInt16BE(at + 3);
    if (length === 0 || length > MAX_RECORD) return invalid(`record length ${length} is out of bounds`);
    if (buf.length < at + 5 + length) return { kind: 'more' };
    fragments.push(buf.subarray(at + 5, at + 5 + length));
    have += length;
    at += 5 + length;
    if (need < 0 && have >= 4) {
      const head = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (head[0] !== CLIENT_HELLO) return invalid(`handshake message type ${head[0]} is not a ClientHello`);
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO) return invalid(`a ClientHello of ${need} bytes is larger than ${MAX_HELLO}`);
    }
    if (need >= 0 && have >= need) return helloBody(Buffer.concat(fragments).subarray(4, need));
  }
}

function helloBody(b: Buffer): Hello {
  let at = 2 + 32; // legacy_version, random
  const skip = (lengthBytes: 1 | 2, what: string): string | null => {
    if (b.length < at + lengthBytes) return `the ClientHello ends inside ${what}`;
    const n = lengthBytes === 1 ? b[at] : b.readUInt16BE(at);
    at += lengthBytes + n;
    return at > b.length ? `${what} runs past the end of the ClientHello` : null;
  };
  const problem = skip(1, 'legacy_session_id') ?? skip(2, 'cipher_suites') ?? skip(1, 'legacy_compression_methods');
  if (problem !== null) return invalid(problem);
  if (at === b.length) return { kind: 'hello', serverName: null }; // no extensions at all
  if (b.length < at + 2) return invalid('the ClientHello ends inside the extensions length');
  const end = at + 2 + b.readUInt16BE(at);
  if (end > b.length) return invalid('the extensions run past the end of the ClientHello');
  for (at += 2; at < end; ) {
    if (end < at + 4) return invalid('an extension header runs past the extensions');
    const type = b.readUInt16BE(at);
    const length = b.readUInt16BE(at + 2);
    const data = at + 4;
    at = data + length;
    if (at > end) return invalid(`extension ${type} runs past the extensions`);
    if (type === SERVER_NAME) return serverName(b.subarray(data, at));
  }
  return { kind: 'hello', serverName: null };
}

/** RFC 6066 §3: a list of (name_type, name); the host_name is the one a client sends. */
function serverName(ext: Buffer): Hello {
  if (ext.length < 2 || ext.readUInt16BE(0) !== ext.length - 2) return invalid('the server_name extension has a bad list length');
  for (let at = 2; at < ext.length; ) {
    if (ext.length < at + 3) return invalid('a server_name entry runs past the extension');
    const type = ext[at];
    const length = ext.readUInt16BE(at + 1);
    const name = ext.subarray(at + 3, at + 3 + length);
    at += 3 + length;
    if (at > ext.length) return invalid('a server_name entry runs past the extension');
    if (type !== HOST_NAME) continue;
    const text = name.toString('latin1');
    if (length === 0 || !/^[\x21-\x7e]+$/.test(text)) return invalid('the host_name is empty or not printable ASCII');
    return { kind: 'hello', serverName: text.toLowerCase() };
  }
  return { kind: 'hello', serverName: null };
}

/**
 * Reads from `socket` until its ClientHello is whole (or invalid, or `timeoutMs` passed),
 * then puts every byte read back (unshift) and calls `done` once: the socket is then as it
 * was accepted, for a tcp_proxy to forward byte for byte. Not called when the socket closes first.
 */
export function readClientHello(socket: Socket, timeoutMs: number, done: (r: Hello) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const finish = (r: Hello) => {
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('close', onClose);
    if (seen.length > 0) socket.unshift(seen);
    done(r);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const r = parseClientHello(seen);
    if (r.kind !== 'more') finish(r);
    else if (socket.readableEnded) finish(invalid('the connection ended before its ClientHello was whole'));
  };
  const onClose = () => {
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
  };
  const timer = setTimeout(() => finish(invalid(`no whole ClientHello within ${timeoutMs} ms`)), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('close', onClose);
}
