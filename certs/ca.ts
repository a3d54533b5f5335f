// A mesh CA: a self-signed root and an intermediate that signs workload certificates
// (X.509-SVIDs). The root's key is used once, to sign the intermediate, and never kept:
// the root exists to be trusted. A CA is rotated by overlap: a new CA's root joins the
// old one in the trust bundle, workloads move to certificates from the new CA, then the
// old root leaves the bundle.

import forge from 'node-forge';
import type { Result } from './result.ts';
import { generateKeyPair } from './keys.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import { isCa, newSerial, parseCertificates, subject, toPem, uriSans, type Certificate } from './x509.ts';

export const ORGANIZATION = 'Sluice';
/** Certificates start a little in the past, so a peer whose clock is behind accepts them. */
const BACKDATE_MS = 60_000;
const DAY = 86_400_000;
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * DAY;
export const DEFAULT_CA_TTL_MS = 5 * 365 * DAY;

/** The CA as files hold it: everything PEM. */
export type CaFiles = {
  /** The root certificate. */
  readonly root: string;
  /** The intermediate certificate that signs SVIDs. */
  readonly ca: string;
  readonly caKey: string;
  /** The roots workloads trust: this root, plus any still trusted during a rotation. */
  readonly bundle: string;
};

export type Ca = CaFiles & { readonly trustDomain: string; readonly caCert: Certificate };

export type CreateCaOptions = {
  readonly trustDomain: string;
  readonly now: number;
  readonly rootTtlMs?: number;
  readonly caTtlMs?: number;
  /** Return the root's key too (`rootKey`): a global control plane keeps it to sign its zones' intermediates (certs/zone-ca.ts). */
  readonly keepRootKey?: boolean;
};

export function createCa(opts: CreateCaOptions): CaFiles & { readonly rootKey?: string } {
  const trustDomainId = `spiffe://${opts.trustDomain}`;
  const rootKeys = generateKeyPair();
  const rootKey = forge.pki.privateKeyFromPem(rootKeys.privateKeyPem);
  const root = forge.pki.createCertificate();
  root.publicKey = forge.pki.publicKeyFromPem(rootKeys.publicKeyPem);
  setValidity(root, opts.now, opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS);
  const rootName = subject(ORGANIZATION, `${opts.trustDomain} root CA`);
  root.setSubject(rootName);
  root.setIssuer(rootName);
  root.setExtensions(caExtensions(trustDomainId, null));
  root.sign(rootKey, forge.md.sha256.create());

  const caKeys = generateKeyPair();
  const ca = forge.pki.createCertificate();
  ca.publicKey = forge.pki.publicKeyFromPem(caKeys.publicKeyPem);
  // An intermediate never outlives the root that vouches for it.
  setValidity(ca, opts.now, Math.min(opts.caTtlMs ?? DEFAULT_CA_TTL_MS, root.validity.notAfter.getTime() - opts.now));
  ca.setSubject(subject(ORGANIZATION, `${opts.trustDomain} intermediate CA`));
  ca.setIssuer(rootName);
  ca.setExtensions(caExtensions(trustDomainId, root));
  ca.sign(rootKey, forge.md.sha256.create());

  const rootPem = toPem([root]);
  return { root: rootPem, ca: toPem([ca]), caKey: caKeys.privateKeyPem, bundle: rootPem, ...(opts.keepRootKey === true ? { rootKey: rootKeys.privateKeyPem } : {}) };
}

/** Reads a CA from its files; says what is wrong with them when they do not fit together. */
export function loadCa(files: CaFiles): Result<Ca, string> {
  let caCert: Certificate;
  let key: forge.pki.rsa.PrivateKey;
  try {
    const certs = parseCertificates(files.ca);
    if (certs.length === 0) return { ok: false, error: 'ca.pem holds no certificate' };
    caCert = certs[0];
    key = forge.pki.privateKeyFromPem(files.caKey) as forge.pki.rsa.PrivateKey;
  } catch (err) {
    return { ok: false, error: `cannot read the CA: ${(err as Error).message}` };
  }
  if (!isCa(caCert)) return { ok: false, error: 'ca.pem is not a CA certificate (basicConstraints CA is not set)' };
  const pub = caCert.publicKey as forge.pki.rsa.PublicKey;
  if (pub.n.compareTo(key.n) !== 0) return { ok: false, error: 'ca-key.pem is not the key of the certificate in ca.pem' };
  const id = uriSans(caCert).map(parseSpiffeId).find((r) => r.ok);
  if (id === undefined || !id.ok) return { ok: false, error: 'ca.pem has no spiffe:// trust domain URI, so its trust domain is unknown' };
  return { ok: true, value: { ...files, trustDomain: id.value.trustDomain, caCert } };
}

/** A fresh serial and a validity window starting slightly in the past. */
export function setValidity(cert: Certificate, now: number, ttlMs: number): void {
  cert.serialNumber = newSerial();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + ttlMs);
}

function caExtensions(trustDomainId: string, issuer: Certificate | null): object[] {
  return [
    // The intermediate signs workloads only, never another CA.
    issuer === null ? { name: 'basicConstraints', cA: true, critical: true } : { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: trustDomainId }] },
    { name: 'subjectKeyIdentifier' },
    ...(issuer === null ? [] : [{ name: 'authorityKeyIdentifier', keyIdentifier: issuer.generateSubjectKeyIdentifier().getBytes() }]),
  ];
}

