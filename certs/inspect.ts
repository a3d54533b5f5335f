// What an operator (`sluicectl ca inspect`) and the admin API's /certs want to know about
// a certificate: whose it is, who vouches for it, and when it is valid.

import { X509Certificate } from 'node:crypto';
import { certificateBlocks, uriNames } from './pem.ts';

export type CertificateInfo = {
  /** The SPIFFE ID (the URI SAN), or null when the certificate has none. */
  readonly identity: string | null;
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  /** The certificate's key: 'ECDSA P-256', 'RSA 2048', ... */
  readonly key: string;
  readonly fingerprintSha256: string;
};

/** One entry per certificate in the PEM text, in order. node:crypto only: no node-forge. */
export function inspectCertificates(pem: string): CertificateInfo[] {
  return certificateBlocks(pem).map((block) => {
    const cert = new X509Certificate(block);
    return {
      identity: uriNames(cert)[0] ?? null,
      subject: cert.subject.replace(/\n/g, ', '),
      issuer: cert.issuer.replace(/\n/g, ', '),
      serial: cert.serialNumber,
      notBefore: cert.validFromDate,
      notAfter: cert.validToDate,
      isCa: cert.ca,
      key: keyName(cert),
      fingerprintSha256: cert.fingerprint256,
    };
  });
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function keyName(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${CURVES[details.namedCurve ?? ''] ?? details.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength}`;
  return String(key.asymmetricKeyType).toUpperCase();
}
