// Certificates our own CA would never issue, signed with its real key: the same chain and
// extensions as an X.509-SVID (certs/svid.ts), with whatever subject alternative names the
// test asks for. For SAN type confusion tests (CVE-2022-21656): a DNS or email name spelled
// like a SPIFFE ID must not pass for one. And for the X.509-SVID rules: a leaf that is a CA
// (basicConstraints cA, keyUsage keyCertSign / cRLSign) must not pass for a workload.

import forge from 'node-forge';
import { generateKeyPair, type Ca } from '../../certs/index.ts';
import { ORGANIZATION, setValidity } from '../../certs/ca.ts';
import { toPem } from '../../certs/x509.ts';
import type { Svid } from './mesh-pki.ts';

/** X.509 GeneralName tags as node-forge numbers them. */
export const SAN = { email: 1, dns: 2, uri: 6 } as const;
export type AltName = { readonly type: (typeof SAN)[keyof typeof SAN]; readonly value: string };

export type ForgeOptions = {
  /** Empty: the certificate has no subjectAltName extension at all. */
  readonly altNames: readonly AltName[];
  readonly commonName?: string;
  readonly now?: number;
  /** basicConstraints cA (default false). */
  readonly ca?: boolean;
  /** keyUsage bits (default digitalSignature and keyEncipherment), as node-forge names them. */
  readonly keyUsage?: { readonly digitalSignature?: boolean; readonly keyEncipherment?: boolean; readonly keyCertSign?: boolean; readonly cRLSign?: boolean };
};

/** A leaf certificate signed by `ca`'s intermediate, presented with the intermediate, as an SVID is. */
export function forgeCertificate(ca: Ca, opts: ForgeOptions): Svid {
  const keys = generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  setValidity(cert, opts.now ?? Date.now(), 3_600_000);
  cert.setSubject([{ name: 'organizationName', value: ORGANIZATION }, ...(opts.commonName === undefined ? [] : [{ name: 'commonName', value: opts.commonName }])]);
  cert.setIssuer(ca.caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: opts.ca ?? false, critical: true },
    { name: 'keyUsage', ...(opts.keyUsage ?? { digitalSignature: true, keyEncipherment: true }), critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ...(opts.altNames.length === 0 ? [] : [{ name: 'subjectAltName', altNames: opts.altNames.map((n) => ({ ...n })) }]),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.caKey), forge.md.sha256.create());
  return { cert: toPem([cert, ca.caCert]), key: keys.privateKeyPem };
}
