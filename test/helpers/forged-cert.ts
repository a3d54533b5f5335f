// Certificates our own CA would never issue, signed with its real key: the same chain and
// extensions as an X.509-SVID (certs/svid.ts), with whatever subject alternative names the
// test asks for. For SAN type confusion tests (CVE-2022-21656): a DNS or email name spelled
// like a SPIFFE ID must not pass for one. And for the X.509-SVID rules: a leaf that is a CA
// (basicConstraints cA, keyUsage keyCertSign / cRLSign) must not pass for a workload.

import { createPublicKey } from 'node:crypto';
import { generateKeyPair, type Ca } from '../../certs/index.ts';
import { ORGANIZATION, validity } from '../../certs/ca.ts';
import { ext, issuerOf, keyIdentifier, name, signCertificate, type KeyUsage } from '../../certs/x509.ts';
import type { Svid } from './mesh-pki.ts';

/** X.509 GeneralName tags (RFC 5280 §4.2.1.6). */
export const SAN = { email: 1, dns: 2, uri: 6 } as const;
export type AltName = { readonly type: (typeof SAN)[keyof typeof SAN]; readonly value: string };
const KIND = { 1: 'email', 2: 'dns', 6: 'uri' } as const;

export type ForgeOptions = {
  /** Empty: the certificate has no subjectAltName extension at all. */
  readonly altNames: readonly AltName[];
  readonly commonName?: string;
  readonly now?: number;
  /** basicConstraints cA (default false). */
  readonly ca?: boolean;
  /** keyUsage bits (default digitalSignature and keyEncipherment). */
  readonly keyUsage?: KeyUsage;
};

/** A leaf certificate signed by `ca`'s intermediate, presented with the intermediate, as an SVID is. */
export function forgeCertificate(ca: Ca, opts: ForgeOptions): Svid {
  const keys = generateKeyPair();
  const publicKey = createPublicKey(keys.publicKeyPem);
  const issuer = issuerOf(ca.caCert);
  if (!issuer.ok) throw new Error(issuer.error);
  const cert = signCertificate({
    ...validity(opts.now ?? Date.now(), 3_600_000),
    issuer: issuer.value.name,
    subject: name(ORGANIZATION, opts.commonName),
    publicKey,
    extensions: [
      ext.basicConstraints(opts.ca ?? false),
      ext.keyUsage(opts.keyUsage ?? { digitalSignature: true, keyEncipherment: true }),
      ext.tlsClientServer(),
      ...(opts.altNames.length === 0 ? [] : [ext.subjectAltName(opts.altNames.map((n) => ({ [KIND[n.type]]: n.value }) as { uri: string }))]),
      ext.subjectKeyIdentifier(keyIdentifier(publicKey.export({ type: 'spki', format: 'der' }))),
      ext.authorityKeyIdentifier(issuer.value.keyId),
    ],
    signingKey: ca.signingKey,
  });
  return { cert: cert.toString() + ca.caCert.toString(), key: keys.privateKeyPem };
}
