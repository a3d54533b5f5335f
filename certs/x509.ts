// Writing X.509 certificates (RFC 5280) with node:crypto: the TBSCertificate laid out in DER
// (certs/der.ts), signed by node:crypto's sign(), synchronously, with an ECDSA or an RSA
// key. Keys of either type are accepted as signers and as subjects, so a CA made with RSA
// keeps signing (ECDSA leaves too) and an RSA request from an older proxy is still served.

import { createHash, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { bits, boolTrue, children, context, namedBits, nul, octets, oid, seq, set, smallInt, tlv, TAG, time, unsigned, utf8, der, type Tlv } from './der.ts';
import type { Result } from './result.ts';

export type Certificate = X509Certificate;

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, not negative). */
export function newSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes;
}

/** A distinguished name: O, then CN when given (UTF8String: a trust domain may hold '_'). */
export function name(organization: string, commonName?: string): Buffer {
  const rdn = (type: string, value: string) => set(seq(oid(type), utf8(value)));
  return seq(rdn('2.5.4.10', organization), ...(commonName === undefined ? [] : [rdn('2.5.4.3', commonName)]));
}

// --- keys ---

/** Why a key may not be certified or sign here: RSA of 2048 bits or more, or ECDSA on P-256 or P-384. null when it may. */
export function keyProblem(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') return (details.modulusLength ?? 0) >= 2048 ? null : `an RSA key of ${details.modulusLength} bits; at least 2048 are needed`;
  if (type === 'ec') return details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1' ? null : `an EC key on ${details.namedCurve}; P-256 or P-384 is needed`;
  return `a${type === 'ed25519' || type === 'ed448' ? 'n' : ''} ${type} key; an ECDSA (P-256, P-384) or RSA key is needed`;
}

/** The signature algorithm a key signs with: its AlgorithmIdentifier and the digest node:crypto's sign() takes. */
export function signatureAlgorithm(key: KeyObject): { id: Buffer; digest: string } {
  if (key.asymmetricKeyType === 'ec') {
    return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? { id: seq(oid('1.2.840.10045.4.3.3')), digest: 'sha384' } : { id: seq(oid('1.2.840.10045.4.3.2')), digest: 'sha256' };
  }
  return { id: seq(oid('1.2.840.113549.1.1.11'), nul()), digest: 'sha256' };
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits, as node-forge computed it for the CAs it made. */
export function keyIdentifier(spki: Buffer): Buffer {
  const outer = tlv(spki, 0, spki.length, TAG.sequence);
  const [, key] = children(spki, outer);
  if (key === undefined || key.tag !== TAG.bitString) throw new Error('a SubjectPublicKeyInfo without its key');
  return createHash('sha1').update(spki.subarray(key.start + 1, key.end)).digest();
}

// --- extensions ---

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [boolTrue()] : []), octets(value));
}

export type KeyUsage = { readonly digitalSignature?: boolean; readonly keyEncipherment?: boolean; readonly keyCertSign?: boolean; readonly cRLSign?: boolean };
export type AltName = { readonly uri: string } | { readonly dns: string } | { readonly ip: string } | { readonly email: string };

export const ext = {
  /** Critical. pathLen only for a CA; cA:FALSE is the DEFAULT and so left out, as DER requires. */
  basicConstraints: (ca: boolean, pathLen?: number) => extension('2.5.29.19', true, seq(...(ca ? [boolTrue(), ...(pathLen === undefined ? [] : [smallInt(pathLen)])] : []))),
  /** Critical. */
  keyUsage: (u: KeyUsage) =>
    extension('2.5.29.15', true, namedBits([(u.digitalSignature ? 0x80 : 0) | (u.keyEncipherment ? 0x20 : 0) | (u.keyCertSign ? 0x04 : 0) | (u.cRLSign ? 0x02 : 0)])),
  /** serverAuth and clientAuth: every SVID is both. */
  tlsClientServer: () => extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))),
  subjectAltName: (names: readonly AltName[]) => extension('2.5.29.17', false, seq(...names.map(generalName))),
  subjectKeyIdentifier: (keyId: Buffer) => extension('2.5.29.14', false, octets(keyId)),
  authorityKeyIdentifier: (keyId: Buffer) => extension('2.5.29.35', false, seq(context(0, false, keyId))),
};

function generalName(n: AltName): Buffer {
  if ('uri' in n) return der(0x86, Buffer.from(n.uri, 'latin1'));
  if ('dns' in n) return der(0x82, Buffer.from(n.dns, 'latin1'));
  if ('email' in n) return der(0x81, Buffer.from(n.email, 'latin1'));
  return der(0x87, ipBytes(n.ip));
}

/** An IP address's 4 or 16 bytes. Throws on text that is neither. */
function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`'${ip}' is not an IP address`);
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

// --- signing ---

export type CertificateFields = {
  readonly serial?: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The issuer's subject, byte for byte (issuerName()), or the subject itself for a root. */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly publicKey: KeyObject;
  readonly extensions: readonly Buffer[];
  readonly signingKey: KeyObject;
};

/** A v3 certificate with these fields, signed by `signingKey`. */
export function signCertificate(f: CertificateFields): X509Certificate {
  const alg = signatureAlgorithm(f.signingKey);
  const tbs = seq(
    context(0, true, smallInt(2)),
    unsigned(f.serial ?? newSerial()),
    alg.id,
    f.issuer,
    seq(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.publicKey.export({ type: 'spki', format: 'der' }),
    context(3, true, seq(...f.extensions)),
  );
  return new X509Certificate(seq(tbs, alg.id, bits(sign(alg.digest, tbs, f.signingKey))));
}

/** The parts of an issuer's certificate a certificate it signs repeats: its subject (as the issuer) and its key identifier (as the AKI). */
export function issuerOf(cert: X509Certificate): Result<{ readonly name: Buffer; readonly keyId: Buffer }, string> {
  try {
    const raw = cert.raw;
    const tbs = tlv(raw, tlv(raw, 0, raw.length, TAG.sequence).start, raw.length, TAG.sequence);
    const fields = children(raw, tbs);
    const at = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version, present in every v3 certificate
    const subject = fields[at + 4];
    const spki = fields[at + 5];
    if (subject === undefined || spki === undefined) throw new Error('a TBSCertificate with too few fields');
    const keyId = subjectKeyId(raw, fields.slice(at + 6)) ?? keyIdentifier(raw.subarray(spki.head, spki.end));
    return { ok: true, value: { name: Buffer.from(raw.subarray(subject.head, subject.end)), keyId } };
  } catch (err) {
    return { ok: false, error: `the issuer's certificate cannot be read: ${(err as Error).message}` };
  }
}

/** The subjectKeyIdentifier extension's value, when the certificate has one. */
function subjectKeyId(raw: Buffer, trailing: readonly Tlv[]): Buffer | null {
  const extensions = trailing.find((t) => t.tag === 0xa3);
  if (extensions === undefined) return null;
  for (const e of children(raw, tlv(raw, extensions.start, extensions.end, TAG.sequence))) {
    const [id, ...rest] = children(raw, e);
    if (raw.subarray(id.start, id.end).toString('hex') !== '551d0e') continue;
    const value = rest[rest.length - 1];
    const keyId = tlv(raw, value.start, value.end, TAG.octetString);
    return Buffer.from(raw.subarray(keyId.start, keyId.end));
  }
  return null;
}
