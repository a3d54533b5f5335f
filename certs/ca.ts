// A mesh CA: a self-signed root and an intermediate that signs workload certificates
// (X.509-SVIDs). The root's key is used once, to sign the intermediate, and never kept:
// the root exists to be trusted. A CA is rotated by overlap: a new CA's root joins the
// old one in the trust bundle, workloads move to certificates from the new CA, then the
// old root leaves the bundle. New CAs have ECDSA P-256 keys unless asked for RSA; a CA on
// disk with RSA keys (as every CA made before ECDSA) loads and signs as before.

import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { DEFAULT_KEY_TYPE, generateKeyPair, type KeyType } from './keys.ts';
import { certificateBlocks, uriNames } from './pem.ts';
import type { Result } from './result.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import { ext, keyIdentifier, keyProblem, name, signCertificate } from './x509.ts';

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

export type Ca = CaFiles & { readonly trustDomain: string; readonly caCert: X509Certificate; readonly signingKey: KeyObject };

export type CreateCaOptions = {
  readonly trustDomain: string;
  readonly now: number;
  readonly rootTtlMs?: number;
  readonly caTtlMs?: number;
  /** The root's and the intermediate's keys (default ECDSA P-256). */
  readonly keyType?: KeyType;
  /** Return the root's key too (`rootKey`): a global control plane keeps it to sign its zones' intermediates (certs/zone-ca.ts). */
  readonly keepRootKey?: boolean;
};

export function createCa(opts: CreateCaOptions): CaFiles & { readonly rootKey?: string } {
  const trustDomainId = [{ uri: `spiffe://${opts.trustDomain}` }];
  const keyType = opts.keyType ?? DEFAULT_KEY_TYPE;
  const rootKeys = generateKeyPair(keyType);
  const rootKey = createPrivateKey(rootKeys.privateKeyPem);
  const rootPublic = createPublicKey(rootKeys.publicKeyPem);
  const rootKeyId = keyIdentifier(rootPublic.export({ type: 'spki', format: 'der' }));
  const rootName = name(ORGANIZATION, `${opts.trustDomain} root CA`);
  const rootValidity = validity(opts.now, opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS);
  const root = signCertificate({
    ...rootValidity,
    issuer: rootName,
    subject: rootName,
    publicKey: rootPublic,
    extensions: [ext.basicConstraints(true), ext.keyUsage({ keyCertSign: true, cRLSign: true }), ext.subjectAltName(trustDomainId), ext.subjectKeyIdentifier(rootKeyId)],
    signingKey: rootKey,
  });

  const caKeys = generateKeyPair(keyType);
  const caPublic = createPublicKey(caKeys.publicKeyPem);
  const ca = signCertificate({
    // An intermediate never outlives the root that vouches for it.
    ...validity(opts.now, Math.min(opts.caTtlMs ?? DEFAULT_CA_TTL_MS, rootValidity.notAfter.getTime() - opts.now)),
    issuer: rootName,
    subject: name(ORGANIZATION, `${opts.trustDomain} intermediate CA`),
    publicKey: caPublic,
    // The intermediate signs workloads only, never another CA.
    extensions: [
      ext.basicConstraints(true, 0),
      ext.keyUsage({ keyCertSign: true, cRLSign: true }),
      ext.subjectAltName(trustDomainId),
      ext.subjectKeyIdentifier(keyIdentifier(caPublic.export({ type: 'spki', format: 'der' }))),
      ext.authorityKeyIdentifier(rootKeyId),
    ],
    signingKey: rootKey,
  });

  const rootPem = root.toString();
  return { root: rootPem, ca: ca.toString(), caKey: caKeys.privateKeyPem, bundle: rootPem, ...(opts.keepRootKey === true ? { rootKey: rootKeys.privateKeyPem } : {}) };
}

/** Reads a CA from its files (RSA or ECDSA); says what is wrong with them when they do not fit together. */
export function loadCa(files: CaFiles): Result<Ca, string> {
  let caCert: X509Certificate;
  let key: KeyObject;
  try {
    const blocks = certificateBlocks(files.ca);
    if (blocks.length === 0) return { ok: false, error: 'ca.pem holds no certificate' };
    caCert = new X509Certificate(blocks[0]);
    key = createPrivateKey(files.caKey);
  } catch (err) {
    return { ok: false, error: `cannot read the CA: ${(err as Error).message}` };
  }
  if (!caCert.ca) return { ok: false, error: 'ca.pem is not a CA certificate (basicConstraints CA is not set)' };
  if (key.asymmetricKeyType !== caCert.publicKey.asymmetricKeyType || !caCert.checkPrivateKey(key)) return { ok: false, error: 'ca-key.pem is not the key of the certificate in ca.pem' };
  const problem = keyProblem(key);
  if (problem !== null) return { ok: false, error: `ca-key.pem is ${problem}` };
  const id = uriNames(caCert).map(parseSpiffeId).find((r) => r.ok);
  if (id === undefined || !id.ok) return { ok: false, error: 'ca.pem has no spiffe:// trust domain URI, so its trust domain is unknown' };
  return { ok: true, value: { ...files, trustDomain: id.value.trustDomain, caCert, signingKey: key } };
}

/** A validity window starting slightly in the past, in whole seconds (what a certificate can hold). */
export function validity(now: number, ttlMs: number): { notBefore: Date; notAfter: Date } {
  const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  return { notBefore: second(now - BACKDATE_MS), notAfter: second(now + ttlMs) };
}
