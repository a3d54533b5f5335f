// Key pairs come from node:crypto (native, milliseconds) rather than node-forge's
// JavaScript RSA key generation (hundreds of milliseconds); forge only signs with them.

import { generateKeyPairSync } from 'node:crypto';

export type KeyPairPem = { readonly privateKeyPem: string; readonly publicKeyPem: string };

/** RSA 2048, the key type node-forge can put in and sign X.509 certificates with. */
export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}
