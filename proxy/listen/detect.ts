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
