// Who is on the other end of an mTLS connection: the one SPIFFE ID in the URI SAN of the
// certificate the peer presented, after TLS has checked its chain against the bundle.
// Both directions use it: the inbound side to put the caller on the request, the outbound
// side to check the server is the workload the backend is expected to run as.

import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { uriNames } from '../../certs/pem.ts';
import type { Result } from '../../certs/result.ts';
import { parseSpiffeId } from '../../certs/spiffe-id.ts';

/** The workload SPIFFE ID a certificate names, or why it names none. */
export function spiffeIdOf(cert: X509Certificate): Result<string, string> {
  const uris = uriNames(cert);
  if (uris.length !== 1) return { ok: false, error: `the peer's certificate must name exactly one SPIFFE ID in a URI SAN; it names ${uris.length}` };
  const id = parseSpiffeId(uris[0]);
  if (!id.ok) return { ok: false, error: `the peer's URI SAN is not a SPIFFE ID: ${id.error}` };
  if (id.value.path === '') return { ok: false, error: `the peer's SPIFFE ID ${id.value.uri} names a trust domain, not a workload` };
  return { ok: true, value: id.value.uri };
}

/**
 * A `checkServerIdentity` for tls.connect: the server's certificate must name one of
 * `expected`. Host names play no part: a mesh peer is who its SPIFFE ID says.
 */
export function expectIdentity(expected: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const id = spiffeIdOf(new X509Certificate(cert.raw));
    if (!id.ok) return Object.assign(new Error(id.error), { code: 'ERR_SLUICE_PEER_IDENTITY' });
    if (!expected.includes(id.value)) {
      return Object.assign(new Error(`the peer is ${id.value}, not ${expected.length === 1 ? expected[0] : `one of ${expected.join(', ')}`}`), { code: 'ERR_SLUICE_PEER_IDENTITY' });
    }
    return undefined;
  };
}
