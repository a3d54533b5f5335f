// The outbound side of mTLS: connections to a peer proxy's mTLS listener. The proxy shows
// its SVID, TLS checks the server's chain against the bundle, and expectIdentity checks that
// the server's certificate is a workload SVID of our trust domain (peer.ts) and its SPIFFE
// ID one of the backend's. The SVID is read when each connection starts, so a rotated
// certificate is used from the next connection on.

import tls from 'node:tls';
import type { buildConnector } from 'undici';
import type { BackendTls } from '../config/model.ts';
import { expectIdentity } from '../tls/peer.ts';
import type { LoadedSvid } from '../tls/svid-store.ts';

/** Our code for every failure to set up mTLS: a connect failure (UF) to the rest of the proxy. */
export const MTLS_FAILURE = 'ERR_SLUICE_MTLS';

export type MeshConnectOptions = {
  readonly host: string;
  readonly port: number;
  readonly tls: BackendTls;
  readonly svid: LoadedSvid | null;
  /** ALPN to offer and require: ['h2'] for HTTP between proxies, ['http/1.1'] for an Upgrade tunnel, null for opaque TCP. */
  readonly alpn: readonly string[] | null;
  readonly timeoutMs: number;
  /** For byte streams: one side's end does not end the other (TCP half-close). */
  readonly halfOpen?: boolean;
};

/** Calls back once: with the verified TLS socket, or with an error whose code says what failed. */
export function connectMesh(o: MeshConnectOptions, callback: (err: Error | null, socket: tls.TLSSocket | null) => void): void {
  if (o.svid === null) {
    callback(mtlsError(`no certificate of our own is loaded, so no mTLS connection to ${o.host}:${o.port} can be made`), null);
    return;
  }
  const socket = tls.connect({
    // Documented for tls.connect, missing from @types/node.
    ...({ allowHalfOpen: o.halfOpen === true } as object),
    host: o.host,
    port: o.port,
    servername: o.tls.serverName,
    // The SVID's context: our chain and key, the bundle's roots of our trust domain as the only roots, TLS 1.2 at least.
    secureContext: o.svid.context,
    ...(o.alpn === null ? {} : { ALPNProtocols: [...o.alpn] }),
    checkServerIdentity: expectIdentity(o.tls.identities, o.svid.trustDomain),
  });
  let done = false;
  const finish = (err: Error | null) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.removeListener('error', onError);
    if (err === null) callback(null, socket);
    else {
      socket.on('error', () => {}).destroy();
      callback(err, null);
    }
  };
  const onError = (err: Error & { code?: string }) => {
    // Errors before the TCP connection stands keep their socket code (ECONNREFUSED...).
    if (socket.connecting) finish(err);
    else finish(mtlsError(`mTLS handshake with ${o.host}:${o.port} failed: ${err.message}`, err));
  };
  const timer = setTimeout(() => finish(Object.assign(new Error(`connect to ${o.host}:${o.port} timed out after ${o.timeoutMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' })), o.timeoutMs);
  socket.setNoDelay(true);
  socket.on('error', onError);
  socket.once('secureConnect', () => {
    if (o.alpn !== null && !o.alpn.includes(socket.alpnProtocol as string)) {
      finish(mtlsError(`${o.host}:${o.port} did not agree to ${o.alpn.join(' or ')} (ALPN); is it a Sluice mTLS listener?`));
    } else finish(null);
  });
}

/** An undici connector for a backend's pools: every connection is mTLS with ALPN h2. */
export function meshConnector(backendTls: BackendTls, svid: () => LoadedSvid | null, timeoutMs: number, onFailure: (err: Error) => void): buildConnector.connector {
  return (opts, callback) => {
    connectMesh({ host: opts.hostname, port: Number(opts.port), tls: backendTls, svid: svid(), alpn: ['h2'], timeoutMs }, (err, socket) => {
      if (err !== null) {
        if ((err as { code?: string }).code === MTLS_FAILURE) onFailure(err);
        callback(err, null);
      }
      else callback(null, socket!);
    });
  };
}

function mtlsError(message: string, cause?: Error): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code: MTLS_FAILURE });
}
