// X.509-SVIDs (the SPIFFE X.509-SVID standard): a workload's certificate, signed by the
// mesh CA's intermediate, naming the workload by exactly one spiffe:// URI SAN. The
// workload's key may be ECDSA (P-256, what proxies make) or RSA (what older proxies make),
// whatever the CA's own key is.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { ORGANIZATION, validity, type Ca } from './ca.ts';
import type { Result } from './result.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { ext, issuerOf, keyIdentifier, keyProblem, name, signCertificate } from './x509.ts';

export const DEFAULT_SVID_TTL_MS = 86_400_000;

export type IssueOptions = {
  readonly spiffeId: SpiffeId;
  readonly publicKeyPem: string;
  readonly now: number;
  readonly ttlMs?: number;
  /**
   * Names a TLS client dials the holder by, beside its SPIFFE ID: the control plane's own
   * certificate serves sluicectl, which connects to a host name or an IP address.
   */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
};

export type IssuedSvid = {
  /** The SVID, then the intermediate: what a workload presents. */
  readonly certChain: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
};

/** Signs an X.509-SVID: one URI SAN, for TLS client and server use, never a CA. */
export function issueSvid(ca: Ca, opts: IssueOptions): Result<IssuedSvid, string> {
  if (opts.spiffeId.trustDomain !== ca.trustDomain) {
    return { ok: false, error: `the SPIFFE ID's trust domain '${opts.spiffeId.trustDomain}' is not this CA's ('${ca.trustDomain}')` };
  }
  if (opts.spiffeId.path === '') return { ok: false, error: 'a workload SPIFFE ID needs a path (spiffe://<trust domain>/<path>); the bare trust domain names the CA' };
  const caEnd = ca.caCert.validToDate.getTime();
  if (caEnd <= opts.now) return { ok: false, error: `the CA expired at ${ca.caCert.validToDate.toISOString()}` };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(opts.publicKeyPem);
  } catch (err) {
    return { ok: false, error: `the public key cannot be read: ${(err as Error).message}` };
  }
  const problem = keyProblem(publicKey);
  if (problem !== null) return { ok: false, error: `the public key is ${problem}` };
  const issuer = issuerOf(ca.caCert);
  if (!issuer.ok) return issuer;
  let cert;
  try {
    cert = signCertificate({
      // Never past the CA's own end: a chain is only as valid as its shortest link.
      ...validity(opts.now, Math.min(opts.ttlMs ?? DEFAULT_SVID_TTL_MS, caEnd - opts.now)),
      issuer: issuer.value.name,
      subject: name(ORGANIZATION),
      publicKey,
      extensions: [
        ext.basicConstraints(false),
        // keyEncipherment is RSA key transport; an ECDSA key only signs.
        ext.keyUsage({ digitalSignature: true, keyEncipherment: publicKey.asymmetricKeyType === 'rsa' }),
        ext.tlsClientServer(),
        ext.subjectAltName([{ uri: opts.spiffeId.uri }, ...(opts.dnsNames ?? []).map((dns) => ({ dns })), ...(opts.ipAddresses ?? []).map((ip) => ({ ip }))]),
        ext.subjectKeyIdentifier(keyIdentifier(publicKey.export({ type: 'spki', format: 'der' }))),
        ext.authorityKeyIdentifier(issuer.value.keyId),
      ],
      signingKey: ca.signingKey,
    });
  } catch (err) {
    return { ok: false, error: `cannot sign the SVID: ${(err as Error).message}` };
  }
  return { ok: true, value: { certChain: cert.toString() + ca.caCert.toString(), notBefore: cert.validFromDate, notAfter: cert.validToDate } };
}
