// A zone's intermediate CA (issue 18): the zone makes the key and a CSR, the global's root
// signs it. CA:true with pathlen 0, so it signs workload SVIDs and never another CA; one URI
// SAN, spiffe://TD/sluice/zone/NAME, so the same certificate is also the zone's client
// identity to the global (hence digitalSignature beside keyCertSign: a TLS client signs the
// handshake with it). Its SVIDs chain leaf, zone intermediate, and verify against the
// global's root like every other SVID of the mesh.

import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { ORGANIZATION, validity } from './ca.ts';
import type { Result } from './result.ts';
import { ext, issuerOf, keyIdentifier, keyProblem, name, signCertificate } from './x509.ts';

const DAY = 86_400_000;
/** A zone's intermediate lives a year; the zone asks for a new one over its link before then. */
export const DEFAULT_ZONE_CA_TTL_MS = 365 * DAY;
const ZONE_PATH = /^spiffe:\/\/([^/]+)\/sluice\/zone\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/;

/** The SPIFFE ID a zone's intermediate (and the zone, on its link to the global) carries. */
export function zoneId(trustDomain: string, zone: string): string {
  return `spiffe://${trustDomain}/sluice/zone/${zone}`;
}

export type SignZoneOptions = {
  readonly rootPem: string;
  readonly rootKeyPem: string;
  readonly publicKeyPem: string;
  readonly trustDomain: string;
  readonly zone: string;
  readonly now: number;
  readonly ttlMs?: number;
};

/** The zone's intermediate certificate (PEM), signed by the root (either of ECDSA or RSA, as the zone's key). */
export function signZoneIntermediate(opts: SignZoneOptions): Result<string, string> {
  let cert: string;
  try {
    const root = new X509Certificate(opts.rootPem);
    const rootKey = createPrivateKey(opts.rootKeyPem);
    const publicKey = createPublicKey(opts.publicKeyPem);
    const problem = keyProblem(publicKey);
    if (problem !== null) return { ok: false, error: `cannot sign the zone's intermediate: its key is ${problem}` };
    const rootEnd = root.validToDate.getTime();
    if (rootEnd <= opts.now) return { ok: false, error: `the root expired at ${root.validToDate.toISOString()}` };
    const issuer = issuerOf(root);
    if (!issuer.ok) return issuer;
    cert = signCertificate({
      ...validity(opts.now, Math.min(opts.ttlMs ?? DEFAULT_ZONE_CA_TTL_MS, rootEnd - opts.now)),
      issuer: issuer.value.name,
      subject: name(ORGANIZATION, `zone ${opts.zone} intermediate CA`),
      publicKey,
      extensions: [
        ext.basicConstraints(true, 0),
        ext.keyUsage({ keyCertSign: true, cRLSign: true, digitalSignature: true }),
        ext.subjectAltName([{ uri: zoneId(opts.trustDomain, opts.zone) }]),
        ext.subjectKeyIdentifier(keyIdentifier(publicKey.export({ type: 'spki', format: 'der' }))),
        ext.authorityKeyIdentifier(issuer.value.keyId),
      ],
      signingKey: rootKey,
    }).toString();
  } catch (err) {
    return { ok: false, error: `cannot sign the zone's intermediate: ${(err as Error).message}` };
  }
  return { ok: true, value: cert };
}

/** The zone a certificate is the intermediate of, in `trustDomain`; the reason when it is none. */
export function zoneOfCertificate(cert: X509Certificate, trustDomain: string): Result<string, string> {
  if (!cert.ca) return { ok: false, error: 'it is not a CA certificate (a zone presents its intermediate)' };
  const uris = (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  const m = uris.length === 1 ? ZONE_PATH.exec(uris[0]) : null;
  if (m === null) return { ok: false, error: `it names ${uris.join(', ') || 'no URI'}, not one spiffe://${trustDomain}/sluice/zone/NAME` };
  if (m[1] !== trustDomain) return { ok: false, error: `it is of trust domain ${m[1]}, not ${trustDomain}` };
  return { ok: true, value: m[2] };
}
