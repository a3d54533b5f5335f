// What makes a certificate a workload's X.509-SVID, and which trust domain a CA certificate
// speaks for (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md), read with
// node:crypto alone (no node-forge: the proxy checks every peer with this).
//
// A leaf SVID names exactly one SPIFFE ID, in a URI SAN, with a path (a bare trust domain
// names a CA); it is no CA: basicConstraints cA is false (or absent) and keyUsage sets
// neither keyCertSign nor cRLSign. TLS checks none of this: OpenSSL takes a CA certificate
// as a peer's leaf, and node:crypto's `X509Certificate#ca` is false for a certificate
// that says cA:TRUE but whose keyUsage lacks keyCertSign, so both extensions are read
// from the DER here.

import type { X509Certificate } from 'node:crypto';
import { tlv } from './der.ts';
import { uriNames } from './pem.ts';
import type { Result } from './result.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';

/** keyUsage bits (RFC 5280 §4.2.1.3) as the first byte of the BIT STRING holds them. */
const KEY_CERT_SIGN = 0x04;
const CRL_SIGN = 0x02;

/** The workload SPIFFE ID a leaf certificate names, or the X.509-SVID rule it breaks. */
export function leafSvidId(leaf: X509Certificate): Result<SpiffeId, string> {
  const uris = uriNames(leaf);
  if (uris.length !== 1) return { ok: false, error: `it must name exactly one SPIFFE ID in a URI SAN; it names ${uris.length}` };
  const id = parseSpiffeId(uris[0]);
  if (!id.ok) return { ok: false, error: `its URI SAN is not a SPIFFE ID: ${id.error}` };
  if (id.value.path === '') return { ok: false, error: `its SPIFFE ID ${id.value.uri} names a trust domain, not a workload` };
  let ext: LeafExtensions;
  try {
    ext = leafExtensions(leaf.raw);
  } catch (err) {
    return { ok: false, error: `its extensions cannot be read: ${(err as Error).message}` };
  }
  if (ext.ca) return { ok: false, error: `it is a CA certificate (basicConstraints cA:TRUE), which a workload's SVID may not be` };
  if (ext.keyUsage !== null && (ext.keyUsage & (KEY_CERT_SIGN | CRL_SIGN)) !== 0) {
    const bits = [ext.keyUsage & KEY_CERT_SIGN ? 'keyCertSign' : '', ext.keyUsage & CRL_SIGN ? 'cRLSign' : ''].filter((b) => b !== '');
    return { ok: false, error: `its keyUsage allows ${bits.join(' and ')}, which a workload's SVID may not` };
  }
  return { ok: true, value: id.value };
}

/**
 * The trust domains a CA certificate names (its `spiffe://<trust domain>` URI SANs, as
 * `sluicectl ca create` writes them): none for a CA made without one.
 */
export function caTrustDomains(ca: X509Certificate): string[] {
  const out: string[] = [];
  for (const uri of uriNames(ca)) {
    const id = parseSpiffeId(uri);
    if (id.ok && id.value.path === '' && !out.includes(id.value.trustDomain)) out.push(id.value.trustDomain);
  }
  return out;
}

type LeafExtensions = { ca: boolean; keyUsage: number | null };

const OID_BASIC_CONSTRAINTS = '551d13';
const OID_KEY_USAGE = '551d0f';

/** basicConstraints cA and the first byte of keyUsage, from a certificate's DER. Throws on DER it cannot follow. */
function leafExtensions(der: Buffer): LeafExtensions {
  const cert = tlv(der, 0, der.length, 0x30);
  const tbs = tlv(der, cert.start, cert.end, 0x30);
  const out: LeafExtensions = { ca: false, keyUsage: null };
  const seen = new Set<string>();
  for (let pos = tbs.start; pos < tbs.end; ) {
    const field = tlv(der, pos, tbs.end);
    pos = field.end;
    if (field.tag !== 0xa3) continue; // extensions [3] EXPLICIT
    const list = tlv(der, field.start, field.end, 0x30);
    for (let p = list.start; p < list.end; ) {
      const ext = tlv(der, p, list.end, 0x30);
      p = ext.end;
      const oid = tlv(der, ext.start, ext.end, 0x06);
      let next = tlv(der, oid.end, ext.end);
      if (next.tag === 0x01) next = tlv(der, next.end, ext.end); // critical
      if (next.tag !== 0x04) throw new Error('an extension value is not an OCTET STRING');
      const id = der.subarray(oid.start, oid.end).toString('hex');
      if (id !== OID_BASIC_CONSTRAINTS && id !== OID_KEY_USAGE) continue;
      if (seen.has(id)) throw new Error(`the ${id === OID_KEY_USAGE ? 'keyUsage' : 'basicConstraints'} extension appears twice`);
      seen.add(id);
      if (id === OID_BASIC_CONSTRAINTS) {
        const seq = tlv(der, next.start, next.end, 0x30);
        // cA BOOLEAN DEFAULT FALSE: present only when true (DER), but read whatever is there.
        if (seq.start < seq.end) {
          const first = tlv(der, seq.start, seq.end);
          if (first.tag === 0x01) out.ca = first.end > first.start && der[first.start] !== 0;
        }
      } else {
        const bits = tlv(der, next.start, next.end, 0x03);
        // The first content byte counts the unused bits; the next holds bits 0-7.
        out.keyUsage = bits.end - bits.start >= 2 ? der[bits.start + 1] : 0;
      }
    }
  }
  return out;
}
