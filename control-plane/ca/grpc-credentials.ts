// The TLS side of :15012 (xDS, certificate service, zone sync): the control plane's own
// certificate, and client certificates REQUESTED but not required. A VM's first contact
// has no certificate yet (it brings a join token); every later one presents its SVID,
// which the certificate service reads back as the stream's proof (getAuthContext).
//
// grpc.ServerCredentials.createSsl cannot say that: with checkClientCertificate false it
// does not even ask for a certificate (requestCert: false), with true it refuses a
// handshake without one (rejectUnauthorized). The certificate-provider credentials grpc-js
// builds for xDS (experimental.createCertificateProviderServerCredentials) ask without
// requiring (requestCert: true, rejectUnauthorized: false); grpc-js then hands the peer
// certificate to handlers only when it chained to our roots (socket.authorized). They
// also let the serving certificate and roots change without a restart.

import * as grpc from '@grpc/grpc-js';
import type { Ca } from '../../certs/index.ts';
import { servingCertificate } from './ca-dir.ts';

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

/** A certificate provider holding values in memory; `set` pushes new ones to every server using it. */
class StaticProvider {
  #roots: Buffer;
  #identity: { certificate: Buffer; privateKey: Buffer };
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();

  constructor(roots: string, cert: string, key: string) {
    this.#roots = Buffer.from(roots);
    this.#identity = { certificate: Buffer.from(cert), privateKey: Buffer.from(key) };
  }

  set(roots: string, cert: string, key: string): void {
    this.#roots = Buffer.from(roots);
    this.#identity = { certificate: Buffer.from(cert), privateKey: Buffer.from(key) };
    for (const l of this.#caListeners) l({ caCertificate: this.#roots });
    for (const l of this.#identityListeners) l(this.#identity);
  }

  // grpc-js subscribes before it registers the server that waits for the values, so a
  // value given synchronously would be lost: hand it over on the next microtask.
  addCaCertificateListener(l: CaListener): void {
    this.#caListeners.add(l);
    queueMicrotask(() => this.#caListeners.has(l) && l({ caCertificate: this.#roots }));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.#caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.#identityListeners.add(l);
    queueMicrotask(() => this.#identityListeners.has(l) && l(this.#identity));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.#identityListeners.delete(l);
  }
}

export type ControlPlaneCredentials = {
  /** For `server.bindAsync(addr, credentials, ...)`; one object may serve several binds. */
  readonly credentials: grpc.ServerCredentials;
  /**
   * Issues a fresh serving certificate from `ca` and trusts `ca.bundle`, for new handshakes
   * (live connections keep theirs). Call it before the serving certificate expires (30 d)
   * and after the CA's bundle changes.
   */
  renew(ca: Ca, now: number): void;
};

/**
 * The :15012 server credentials: a serving certificate from `ca` for `host` (the address
 * bound; see servingCertificate for the names it carries), client certificates checked
 * against `ca.bundle`.
 */
export function controlPlaneCredentials(ca: Ca, host: string, now: number): ControlPlaneCredentials {
  const serving = servingCertificate(ca, host, now);
  const provider = new StaticProvider(ca.bundle, serving.cert, serving.key);
  // grpc-js names the first parameter caCertificateProvider, but passes it on as the
  // identity provider (server-credentials.js); one provider serves both here anyway.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  return {
    credentials,
    renew(next, at) {
      const s = servingCertificate(next, host, at);
      provider.set(next.bundle, s.cert, s.key);
    },
  };
}
