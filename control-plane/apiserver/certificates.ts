// GET /debug/certificates: what the control plane knows of the mesh's certificates, read
// only, for `sluicectl check`: its CA (the intermediate that signs SVIDs and the roots of
// the trust bundle) with their validity, and the SVID each connected xDS client presented.
//
//   { "ca": { "trustDomain": "...", "certificates": [{ "role": "intermediate" | "root", ... }] },
//     "clients": [{ "node", "kind", "peer", "identity", "notBefore", "notAfter", "source" }] }
//
// A client's certificate is the last SVID the CA issued to it (`source: issued`), or, when
// none was issued since the control plane started, the one it opened its ADS stream with
// (`source: handshake`): a proxy renews without reconnecting (ca/issued-svids.ts).

import { inspectCertificates } from '../../certs/index.ts';
import type { IssuedSvid } from '../ca/issued-svids.ts';
import type { PeerCertificate } from '../xds/peer-certificates.ts';

export const CERTIFICATES_PATH = '/debug/certificates';

export type CertificatesOptions = {
  readonly trustDomain: string;
  /** The intermediate's PEM (ca.pem). */
  readonly caPem: string;
  /** The trust bundle's roots (bundle.pem). */
  readonly bundlePem: string;
  /** The SVID of every connected client that presented one. */
  readonly clients: () => readonly PeerCertificate[];
  /** The last SVID issued to a node id, if any since the start. */
  readonly issued: (nodeId: string) => IssuedSvid | undefined;
};

export type ClientCertificate = PeerCertificate & { readonly source: 'issued' | 'handshake' };

export type CaCertificate = { readonly role: 'intermediate' | 'root'; readonly subject: string; readonly identity: string | null; readonly notBefore: string; readonly notAfter: string; readonly fingerprintSha256: string };

export type CertificatesReport = {
  readonly ca: { readonly trustDomain: string; readonly certificates: readonly CaCertificate[] };
  readonly clients: readonly ClientCertificate[];
};

export function certificatesReport(opts: CertificatesOptions): CertificatesReport {
  const view = (role: CaCertificate['role']) => (pem: string) =>
    inspectCertificates(pem).map((c): CaCertificate => ({ role, subject: c.subject, identity: c.identity, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), fingerprintSha256: c.fingerprintSha256 }));
  // The intermediate alone: ca.pem may carry its chain, and the roots are listed from the bundle.
  const certificates = [...view('intermediate')(opts.caPem).slice(0, 1), ...view('root')(opts.bundlePem)];
  const clients = opts.clients().map((c): ClientCertificate => {
    const svid = opts.issued(c.node);
    return svid === undefined ? { ...c, source: 'handshake' } : { ...c, identity: svid.identity, notBefore: svid.notBefore, notAfter: svid.notAfter, source: 'issued' };
  });
  return { ca: { trustDomain: opts.trustDomain, certificates }, clients };
}
