// Protocol detection by peeking at the first bytes: a TLS handshake record (0x16) means
// TLS, the HTTP/2 connection preface means h2c with prior knowledge, anything else is
// HTTP/1. The bytes are put back before the connection is handed to the server that speaks it.

import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** The first byte of a TLS record of type handshake (a ClientHello); no HTTP request starts with it. */
const TLS_HANDSHAKE = 0x16;

export type Detected = 'tls' | 'h2' | 'http1';

/**
 * Calls `done` once with the protocol. If nothing usable arrives in time, calls `silent`
 * (default: destroy the socket): a server-speaks-first protocol is silent on purpose.
 */
export function detectProtocol(socket: Socket, timeoutMs: number, done: (kind: Detected) => void, silent?: () => void): void {
  let seen: Buffer | null = null;
  const timer = setTimeout(() => {
    cleanup();
    if (seen !== null) socket.unshift(seen);
    if (silent === undefined) socket.destroy();
    else silent();
  }, timeoutMs);
  const cleanup = () => {
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('close', cleanup);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
    if (seen === null) return;
    if (seen[0] === TLS_HANDSHAKE) {
      cleanup();
      socket.unshift(seen);
      done('tls');
      return;
    }
    const n = Math.min(seen.length, PREFACE.length);
    const matches = seen.compare(PREFACE, 0, n, 0, n) === 0;
    if (matches && seen.length < PREFACE.length) return; // a prefix of the preface: wait for more
    cleanup();
    socket.unshift(seen);
    done(matches ? 'h2' : 'http1');
  };
  socket.on('readable', onReadable);
  socket.once('close', cleanup);
}

const TOKEN_THEN_SPACE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20} /;
const TOKEN_SO_FAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{0,20}$/;
const NAMES_A_VERSION = / HTTP\/\d/;
/** A first line longer than this is not waited on further. */
const FIRST_LINE_MAX = 8192;

/**
 * Whether a plaintext connection that is not h2 speaks HTTP/1 (http_inspector's question,
 * on a port that tells HTTP from TCP): a request line starts with a method token and a
 * space, after any empty lines (RFC 9112 §2.2); a first line that names an HTTP version is
 * HTTP too, however broken its method, so a malformed request gets its 400 from the parser
 * instead of passing as TCP. Waits for more bytes while the answer is open (a client may
 * send a byte at a time), at most `timeoutMs`; then decides on what came. The bytes are put
 * back before `done`.
 */
export function sniffHttp1(socket: Socket, timeoutMs: number, done: (http: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const decide = (final: boolean): boolean | undefined => {
    const head = seen.subarray(0, FIRST_LINE_MAX).toString('latin1').replace(/^[\r\n]+/, '');
    if (TOKEN_THEN_SPACE.test(head)) return true;
    const eol = head.search(/[\r\n]/);
    if (eol >= 0) return NAMES_A_VERSION.test(head.slice(0, eol));
    if (final || seen.length >= FIRST_LINE_MAX) return NAMES_A_VERSION.test(head);
    // Still a method token being sent, or a line not yet ended: wait for more.
    return undefined;
  };
  const finish = (http: boolean) => {
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('close', onClose);
    if (seen.length > 0) socket.unshift(seen);
    done(http);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const http = decide(false);
    if (http !== undefined) finish(http);
  };
  const onClose = () => {
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
  };
  const timer = setTimeout(() => finish(decide(true) ?? false), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('close', onClose);
  onReadable();
}
