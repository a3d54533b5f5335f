// The node-forge parts every certificate shares: serials, names, extensions, PEM chains.

import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { certificateBlocks } from './pem.ts';

export type Certificate = forge.pki.Certificate;

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, not negative). */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString('hex');
}

export function subject(organization: string, commonName: string): forge.pki.CertificateField[] {
  return [
    { name: 'organizationName', value: organization },
    { name: 'commonName', value: commonName },
  ];
}

/** Every certificate in a PEM text, in order (a chain or a bundle). */
export function parseCertificates(pem: string): Certificate[] {
  return certificateBlocks(pem).map((b) => forge.pki.certificateFromPem(b));
}

export function toPem(certs: readonly Certificate[]): string {
  return certs.map((c) => forge.pki.certificateToPem(c).replace(/\r\n/g, '\n')).join('');
}

/** The URI subject alternative names of a certificate. */
export function uriSans(cert: Certificate): string[] {
  const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value: string }[] } | null;
  return (ext?.altNames ?? []).filter((n) => n.type === 6).map((n) => n.value);
}

export function isCa(cert: Certificate): boolean {
  const ext = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
  return ext?.cA === true;
}

export function commonName(name: forge.pki.Certificate['subject']): string {
  return String(name.getField('CN')?.value ?? '');
}
