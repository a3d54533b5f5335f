// certs/: the PKI both the proxy and the control plane use. Pure functions; the clock and
// randomness are passed in.

export { createCa, loadCa, type Ca, type CaFiles } from './ca.ts';
export { DEFAULT_SVID_TTL_MS, issueSvid, type IssuedSvid, type IssueOptions } from './svid.ts';
export { mergeBundles, readBundle } from './bundle.ts';
export { caTrustDomains, leafSvidId } from './svid-rules.ts';
export { certificateBlocks } from './pem.ts';
export { createCsr, readCsr } from './csr.ts';
export { inspectCertificates, type CertificateInfo } from './inspect.ts';
export { DEFAULT_KEY_TYPE, generateKeyPair, isKeyType, KEY_TYPES, type KeyPairPem, type KeyType } from './keys.ts';
export { renewalDelay, renewalTime } from './rotation.ts';
export type { Result } from './result.ts';
export { parseSpiffeId, parseTrustDomain, workloadId, workloadOf, type SpiffeId } from './spiffe-id.ts';
