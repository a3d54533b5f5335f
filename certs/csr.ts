// Certificate signing requests: the key never leaves the workload, so the workload sends
// its public key, signed by its private key (the proof it holds it), and the identity it
// asks for as a URI SAN in an extension request (PKCS#10, RFC 2986).

import forge from 'node-forge';
import type { Result } from './result.ts';

export function createCsr(privateKeyPem: string, publicKeyPem: string, spiffeId: string): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject([{ name: 'organizationName', value: 'Sluice' }]);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: spiffeId }] }] }]);
  csr.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr).replace(/\r\n/g, '\n');
}

export type ReadCsr = {
  readonly publicKeyPem: string;
  /** The URI SANs the request asks for (an SVID request asks for exactly one). */
  readonly uris: readonly string[];
};

/** Parses a CSR and checks its self-signature; the caller decides about the identity. */
export function readCsr(pem: string): Result<ReadCsr, string> {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (err) {
    return { ok: false, error: `not a PEM certificate request: ${(err as Error).message}` };
  }
  let signed = false;
  try {
    signed = csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) return { ok: false, error: 'the request is not signed by the key it carries' };
  const ext = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name: string; altNames?: { type: number; value: string }[] }[] } | null;
  const san = ext?.extensions?.find((e) => e.name === 'subjectAltName');
  const uris = (san?.altNames ?? []).filter((n) => n.type === 6).map((n) => n.value);
  return { ok: true, value: { publicKeyPem: forge.pki.publicKeyToPem(csr.publicKey as forge.pki.PublicKey).replace(/\r\n/g, '\n'), uris } };
}

