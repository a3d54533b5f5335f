// The certificate each connected xDS client proved itself with: the SVID a Sluice proxy
// (or a proxyless client with one) presented in the TLS handshake on :15012, read from the
// live stream. What `sluicectl check` needs to see a proxy's certificate run out, or name
// another trust domain, without asking each proxy's admin. Clients on the plaintext port,
// or without a client certificate, have none and are not listed.

import { X509Certificate } from 'node:crypto';
import { uriNames } from '../../certs/pem.ts';
import type { AdsServer } from './ads-server.ts';

export type PeerCertificate = {
  /** The node id of the client on that stream. */
  readonly node: string;
  readonly kind: 'proxy' | 'generic';
  readonly peer: string;
  /** The certificate's SPIFFE ID (its URI SAN), or null when it has none. */
  readonly identity: string | null;
  readonly notBefore: string;
  readonly notAfter: string;
};

export function peerCertificates(ads: AdsServer): PeerCertificate[] {
  const out: PeerCertificate[] = [];
  for (const s of ads.streams.values()) {
    if (s.node === null) continue;
    let raw: Buffer | undefined;
    try {
      raw = s.call.getAuthContext().sslPeerCertificate?.raw;
    } catch {
      raw = undefined; // the stream is ending: its socket is gone
    }
    if (raw === undefined) continue;
    const cert = new X509Certificate(raw);
    out.push({ node: s.node.id, kind: s.node.kind, peer: s.peer, identity: uriNames(cert)[0] ?? null, notBefore: cert.validFromDate.toISOString(), notAfter: cert.validToDate.toISOString() });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
