// Reading certificates with node:crypto alone (no node-forge, which only signing needs):
// PEM text -> the certificate blocks in it, and a certificate's URI SANs.

import type { X509Certificate } from 'node:crypto';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificate blocks of a PEM text, in order (a chain or a bundle). */
export function certificateBlocks(pem: string): string[] {
  return pem.match(CERTIFICATE_BLOCK) ?? [];
}

/** The URI subject alternative names (SPIFFE IDs) of a certificate, in order. */
export function uriNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('URI:'))
    .map((n) => n.slice(4));
}
