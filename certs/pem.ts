// Reading certificates with node:crypto alone:
// PEM text -> the certificate blocks in it, and a certificate's URI SANs.

import type { X509Certificate } from 'node:crypto';

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificate blocks of a PEM text, in order (a chain or a bundle). */
export function certificateBlocks(pem: string): string[] {
  return pem.match(CERTIFICATE_BLOCK) ?? [];
}

/**
 * The URI subject alternative names (SPIFFE IDs) of a certificate, in order. Only entries
 * of type URI count: a DNS or email name spelled like a SPIFFE ID is not one (SAN type
 * confusion, CVE-2022-21656). Splitting at ", " is safe because Node quotes any name that
 * holds a comma or a quote and escapes the comma inside (\u002c), so no name can forge an
 * entry of its own; a quoted URI is unquoted as the JSON string it is.
 */
export function uriNames(cert: X509Certificate): string[] {
  const out: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (!entry.startsWith('URI:')) continue;
    const value = entry.slice(4);
    if (!value.startsWith('"')) out.push(value);
    else {
      try {
        out.push(JSON.parse(value) as string);
      } catch {
        out.push(value);
      }
    }
  }
  return out;
}
