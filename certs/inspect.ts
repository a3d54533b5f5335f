// What an operator (`sluicectl ca inspect`) and the admin API's /certs want to know about
// a certificate: whose it is, who vouches for it, and when it is valid.

import { X509Certificate } from 'node:crypto';
import { isCa, parseCertificates, uriSans } from './x509.ts';

export type CertificateInfo = {
  /** The SPIFFE ID (the URI SAN), or null when the certificate has none. */
  readonly identity: string | null;
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly fingerprintSha256: string;
};

/** One entry per certificate in the PEM text, in order. */
export function inspectCertificates(pem: string): CertificateInfo[] {
  return parseCertificates(pem).map((cert, i) => {
    const native = new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)![i]);
    const uris = uriSans(cert);
    return {
      identity: uris[0] ?? null,
      subject: native.subject.replace(/\n/g, ', '),
      issuer: native.issuer.replace(/\n/g, ', '),
      serial: native.serialNumber,
      notBefore: cert.validity.notBefore,
      notAfter: cert.validity.notAfter,
      isCa: isCa(cert),
      fingerprintSha256: native.fingerprint256,
    };
  });
}
