// The inbound side of mTLS: a TLS server that never listens, handed connections the
// listener has already accepted (and peeked at). It asks for the client's certificate,
// checks the chain against the bundle's roots of our trust domain (OpenSSL, in the
// handshake), then that the leaf is a workload's SVID of our trust domain (peer.ts), and
// puts its SPIFFE ID on the socket for the request context to read. A peer that fails is
// dropped before a byte of it is read.
//
// The certificate is the SVID store's current one: when the store has a new one, the next
// connection swaps it in (setSecureContext), live connections keep theirs. Resumption is
// off, so every connection's peer is checked against the bundle current at its handshake:
// a session made under an old bundle can never be resumed past a rotation (CVE-2022-21654).

import { constants } from 'node:crypto';
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { peerIdentity } from '../tls/peer.ts';
import type { LoadedSvid } from '../tls/svid-store.ts';
import type { PeerInfo } from '../http/context.ts';

/** The verified mTLS peer, set on its TLSSocket. */
export const PEER = Symbol('sluice.peer');
export type WithPeer = { [PEER]?: PeerInfo };

/** A client that opens a connection and never finishes the handshake is dropped after this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export type InboundTlsHooks = {
  svid(): LoadedSvid | null;
  /** A handshake that completed with a verified peer. */
  secure(socket: TLSSocket): void;
  /** A connection dropped before it carried anything: why, and who. */
  refused(reason: string, remote: string): void;
};

export class InboundTls {
  #alpn: string[] | undefined;
  #hooks: InboundTlsHooks;
  #server: tls.Server | null = null;
  #inUse: LoadedSvid | null = null;

  /** `alpn`: protocols offered, in preference order; none for opaque TCP. */
  constructor(alpn: readonly string[] | null, hooks: InboundTlsHooks) {
    this.#alpn = alpn === null ? undefined : [...alpn];
    this.#hooks = hooks;
  }

  accept(socket: Socket): void {
    const svid = this.#hooks.svid();
    if (svid === null) {
      this.#hooks.refused('no certificate of our own is loaded yet', remoteOf(socket));
      socket.destroy();
      return;
    }
    this.#serverFor(svid).emit('connection', socket);
  }

  #serverFor(svid: LoadedSvid): tls.Server {
    if (this.#server !== null) {
      if (svid !== this.#inUse) this.#server.setSecureContext(contextOptions(svid));
      this.#inUse = svid;
      return this.#server;
    }
    const server = tls.createServer({
      ...contextOptions(svid),
      requestCert: true,
      // Node's own rejectUnauthorized drops an untrusted client at the same point (after the
      // handshake, before 'secureConnection') but says only "socket hang up"; the check below
      // drops it there too, with the reason.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(this.#alpn === undefined ? {} : { ALPNProtocols: this.#alpn }),
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const id = socket.authorized ? peerIdentity(socket.getPeerX509Certificate(), this.#inUse?.trustDomain) : ({ ok: false, error: untrusted(socket) } as const);
      if (!id.ok) {
        this.#hooks.refused(id.error, remoteOf(socket));
        socket.destroy();
        return;
      }
      (socket as TLSSocket & WithPeer)[PEER] = { identity: id.value, xfcc: `By=${this.#inUse?.identity ?? ''};URI=${id.value}` };
      this.#hooks.secure(socket);
    });
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.#hooks.refused(`TLS handshake failed: ${err.message}`, remoteOf(socket));
      socket.destroy();
    });
    this.#server = server;
    this.#inUse = svid;
    return server;
  }
}

function contextOptions(svid: LoadedSvid): tls.SecureContextOptions {
  return {
    cert: svid.pem.cert,
    key: svid.pem.key,
    // Only the roots of our trust domain: another trust domain's CA may not vouch for a peer.
    ca: svid.peerRoots,
    minVersion: 'TLSv1.2',
    // No tickets, and Node keeps no server session cache unless asked: no resumption at all.
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
}

/** Why TLS did not verify the client's certificate: none, or a chain that does not lead to a root we trust for peers. */
function untrusted(socket: TLSSocket): string {
  if (socket.getPeerX509Certificate() === undefined) return 'the peer presented no certificate';
  const code = String(socket.authorizationError ?? 'unknown');
  if (code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || code === 'UNABLE_TO_GET_ISSUER_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    return `the peer's certificate does not chain to a root of our trust domain in the bundle (${code})`;
  }
  return `the peer's certificate is not trusted (${code})`;
}

function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
}
