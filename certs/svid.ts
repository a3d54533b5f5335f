// X.509-SVIDs (the SPIFFE X.509-SVID standard): a workload's certificate, signed by the
// mesh CA's intermediate, naming the workload by exactly one spiffe:// URI SAN.

import forge from 'node-forge';
import { ORGANIZATION, setValidity, type Ca } from './ca.ts';
import type { Result } from './result.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { toPem } from './x509.ts';

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
  const caEnd = ca.caCert.validity.notAfter.getTime();
  if (caEnd <= opts.now) return { ok: false, error: `the CA expired at ${ca.caCert.validity.notAfter.toISOString()}` };
  const cert = forge.pki.createCertificate();
  try {
    cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  } catch (err) {
    return { ok: false, error: `the public key is not an RSA key node-forge can certify: ${(err as Error).message}` };
  }
  // Never past the CA's own end: a chain is only as valid as its shortest link.
  setValidity(cert, opts.now, Math.min(opts.ttlMs ?? DEFAULT_SVID_TTL_MS, caEnd - opts.now));
  cert.setSubject([{ name: 'organizationName', value: ORGANIZATION }]);
  cert.setIssuer(ca.caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    {
      name: 'subjectAltName',
      altNames: [{ type: 6, value: opts.spiffeId.uri }, ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.caKey), forge.md.sha256.create());
  return { ok: true, value: { certChain: toPem([cert, ca.caCert]), notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter } };
}
