// Key pairs come from node:crypto (native). Workloads get ECDSA P-256 by default: a TLS
// handshake signs with the leaf's key, and a P-256 signature costs a small fraction of an
// RSA 2048 one. RSA 2048 stays for whoever needs it (an older peer, a policy that names it).

import { generateKeyPairSync } from 'node:crypto';

export type KeyPairPem = { readonly privateKeyPem: string; readonly publicKeyPem: string };

/** The key types certs/ makes, as flags spell them. */
export const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';

export function isKeyType(text: string): text is KeyType {
  return (KEY_TYPES as readonly string[]).includes(text);
}

/** A fresh key pair, PKCS#8 and SPKI PEM. */
export function generateKeyPair(type: KeyType = DEFAULT_KEY_TYPE): KeyPairPem {
  if (type === 'rsa-2048') {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    return { privateKeyPem: privateKey, publicKeyPem: publicKey };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}
