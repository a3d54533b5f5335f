// A zone's intermediate CA (issue 18): the zone makes the key and a CSR, the global's root
// signs it. CA:true with pathlen 0, so it signs workload SVIDs and never another CA; one URI
// SAN, spiffe://TD/sluice/zone/NAME, so the same certificate is also the zone's client
// identity to the global (hence digitalSignature beside keyCertSign: a TLS client signs the
// handshake with it). Its SVIDs chain leaf, zone intermediate, and verify against the
// global's root like every other SVID of the mesh.

import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { ORGANIZATION, setValidity } from './ca.ts';
import type { Result } from './result.ts';
import { subject, toPem } from './x509.ts';

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

/** The zone's intermediate certificate (PEM), signed by the root. */
export function signZoneIntermediate(opts: SignZoneOptions): Result<string, string> {
  let root: forge.pki.Certificate;
  let rootKey: forge.pki.PrivateKey;
  const cert = forge.pki.createCertificate();
  try {
    root = forge.pki.certificateFromPem(opts.rootPem);
    rootKey = forge.pki.privateKeyFromPem(opts.rootKeyPem);
    cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  } catch (err) {
    return { ok: false, error: `cannot sign the zone's intermediate: ${(err as Error).message}` };
  }
  const rootEnd = root.validity.notAfter.getTime();
  if (rootEnd <= opts.now) return { ok: false, error: `the root expired at ${root.validity.notAfter.toISOString()}` };
  setValidity(cert, opts.now, Math.min(opts.ttlMs ?? DEFAULT_ZONE_CA_TTL_MS, rootEnd - opts.now));
  cert.setSubject(subject(ORGANIZATION, `zone ${opts.zone} intermediate CA`));
  cert.setIssuer(root.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: zoneId(opts.trustDomain, opts.zone) }] },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: root.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(rootKey, forge.md.sha256.create());
  return { ok: true, value: toPem([cert]) };
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
