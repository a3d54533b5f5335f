// Certificate signing requests: the key never leaves the workload, so the workload sends
// its public key, signed by its private key (the proof it holds it), and the identity it
// asks for as a URI SAN in an extension request (PKCS#10, RFC 2986). Written and read with
// node:crypto and certs/der.ts; the key may be ECDSA (P-256, P-384) or RSA.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { children, context, oid, readOid, seq, set, smallInt, bits, tlv, TAG, whole, type Tlv } from './der.ts';
import type { Result } from './result.ts';
import { ext, name, signatureAlgorithm } from './x509.ts';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';
/** The signature algorithms a request may be signed with: the key type each needs and the digest it verifies with. */
const SIGNATURE_ALGORITHMS: Record<string, { key: string; digest: string }> = {
  '1.2.840.113549.1.1.11': { key: 'rsa', digest: 'sha256' }, // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': { key: 'rsa', digest: 'sha384' },
  '1.2.840.113549.1.1.13': { key: 'rsa', digest: 'sha512' },
  '1.2.840.10045.4.3.2': { key: 'ec', digest: 'sha256' }, // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': { key: 'ec', digest: 'sha384' },
  '1.2.840.10045.4.3.4': { key: 'ec', digest: 'sha512' },
};
const CSR_BLOCK = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/;

export function createCsr(privateKeyPem: string, publicKeyPem: string, spiffeId: string): string {
  const key = createPrivateKey(privateKeyPem);
  const alg = signatureAlgorithm(key);
  const info = seq(
    smallInt(0),
    name('Sluice'),
    createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }),
    context(0, true, seq(oid(EXTENSION_REQUEST), set(seq(ext.subjectAltName([{ uri: spiffeId }]))))),
  );
  const body = seq(info, alg.id, bits(sign(alg.digest, info, key))).toString('base64');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;
}

export type ReadCsr = {
  readonly publicKeyPem: string;
  /** The URI SANs the request asks for (an SVID request asks for exactly one). */
  readonly uris: readonly string[];
};

/** Parses a CSR and checks its self-signature; the caller decides about the identity. */
export function readCsr(pem: string): Result<ReadCsr, string> {
  const block = CSR_BLOCK.exec(pem);
  if (block === null) return { ok: false, error: 'not a PEM certificate request: no CERTIFICATE REQUEST block' };
  const data = Buffer.from(block[1].replace(/\s+/g, ''), 'base64');
  let info: Tlv;
  let publicKey: KeyObject;
  let algorithm: { key: string; digest: string } | undefined;
  let signature: Buffer;
  let uris: string[];
  try {
    const [infoTlv, algTlv, sigTlv] = children(data, tlv(data, 0, data.length, TAG.sequence));
    if (sigTlv === undefined || sigTlv.tag !== TAG.bitString) throw new Error('no signature');
    info = infoTlv;
    const fields = children(data, tlv(data, info.head, info.end, TAG.sequence));
    if (fields[2] === undefined) throw new Error('no public key');
    publicKey = createPublicKey({ key: whole(data, fields[2]), format: 'der', type: 'spki' });
    algorithm = SIGNATURE_ALGORITHMS[readOid(data, children(data, algTlv)[0])];
    signature = data.subarray(sigTlv.start + 1, sigTlv.end);
    uris = fields[3]?.tag === 0xa0 ? requestedUris(data, fields[3]) : [];
  } catch (err) {
    return { ok: false, error: `not a PEM certificate request: ${(err as Error).message}` };
  }
  if (algorithm === undefined) return { ok: false, error: 'the request is signed with an algorithm other than RSA or ECDSA with SHA-256, SHA-384 or SHA-512' };
  let signed = false;
  try {
    signed = algorithm.key === publicKey.asymmetricKeyType && verify(algorithm.digest, whole(data, info), publicKey, signature);
  } catch {
    signed = false;
  }
  if (!signed) return { ok: false, error: 'the request is not signed by the key it carries' };
  return { ok: true, value: { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, uris } };
}

/** The URI names of the subjectAltName in the request's extensionRequest attribute. */
function requestedUris(data: Buffer, attributes: Tlv): string[] {
  for (const attribute of children(data, attributes)) {
    const [type, values] = children(data, attribute);
    if (readOid(data, type) !== EXTENSION_REQUEST || values === undefined) continue;
    for (const extensions of children(data, values)) {
      for (const extension of children(data, extensions)) {
        const parts = children(data, extension);
        if (readOid(data, parts[0]) !== SUBJECT_ALT_NAME) continue;
        const value = parts[parts.length - 1];
        const names = tlv(data, value.start, value.end, TAG.sequence);
        // [6] uniformResourceIdentifier; every other kind of name is not asked for here.
        return children(data, names).filter((n) => n.tag === 0x86).map((n) => data.subarray(n.start, n.end).toString('latin1'));
      }
    }
  }
  return [];
}
