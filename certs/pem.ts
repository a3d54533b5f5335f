// PEM text -> the certificate blocks in it, in order (a chain or a bundle). node:crypto's
// X509Certificate reads one block at a time; this is the one place that splits them.

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function certificateBlocks(pem: string): string[] {
  return pem.match(CERTIFICATE_BLOCK) ?? [];
}
