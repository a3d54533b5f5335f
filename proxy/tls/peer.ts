// Who is on the other end of an mTLS connection: the one SPIFFE ID in the URI SAN of the
// certificate the peer presented, after TLS has checked its chain against the bundle.
// Both directions use it: the inbound side to put the caller on the request, the outbound
// side to check the server is the workload the backend is expected to run as.
//
// TLS checks the chain only. The rest is the X.509-SVID standard's, and ours: the leaf is a
// workload's SVID (one SPIFFE ID, no CA: certs/svid-rules.ts) and its ID is in our trust
// domain. That the root vouching for it is our trust domain's is TLS's part again: the
// contexts trust only the bundle's roots of our trust domain (svid-store.ts), since Node
// does not show a server the client's chain.

import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Result } from '../../certs/result.ts';
import { leafSvidId } from '../../certs/svid-rules.ts';

/**
 * The workload SPIFFE ID of a peer whose chain TLS has verified, or why it is refused.
 * `trustDomain`: ours (undefined: any).
 */
export function peerIdentity(cert: X509Certificate | undefined, trustDomain: string | undefined): Result<string, string> {
  if (cert === undefined) return { ok: false, error: 'the peer presented no certificate' };
  const id = leafSvidId(cert);
  if (!id.ok) return { ok: false, error: `the peer's certificate is not a workload SVID: ${id.error}` };
  if (trustDomain !== undefined && id.value.trustDomain !== trustDomain) return { ok: false, error: `the peer ${id.value.uri} is not in our trust domain ${trustDomain}` };
  return { ok: true, value: id.value.uri };
}

/**
 * A `checkServerIdentity` for tls.connect: the server's certificate must keep to the rules
 * of `peerIdentity` and name one of `expected`. Host names play no part: a mesh peer is
 * who its SPIFFE ID says.
 */
export function expectIdentity(expected: readonly string[], trustDomain?: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const id = peerIdentity(cert.raw === undefined ? undefined : new X509Certificate(cert.raw), trustDomain);
    if (!id.ok) return Object.assign(new Error(id.error), { code: 'ERR_SLUICE_PEER_IDENTITY' });
    if (!expected.includes(id.value)) {
      // expected and seen: for sluicectl explain (telemetry/failure-notes.ts).
      return Object.assign(new Error(`the peer is ${id.value}, not ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}`), { code: 'ERR_SLUICE_PEER_IDENTITY', expected, seen: id.value });
    }
    return undefined;
  };
}
