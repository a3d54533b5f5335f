// The control plane's certificate authority: its CA on disk, its own serving certificate,
// the :15012 TLS credentials, join tokens, and the CSR-in, SVID-out certificate service.

export { ensureCa, servingCertificate } from './ca-dir.ts';
export { controlPlaneCredentials, type ControlPlaneCredentials } from './grpc-credentials.ts';
export { addCertificateService, type CertificateServiceDeps } from './certificate-service.ts';
export { DEFAULT_TOKEN_TTL_MS, JOIN_TOKEN_TYPE, joinTokens, MAX_TOKEN_TTL_MS, parseTokenTtl, type JoinTokenInfo, type JoinTokens, type JoinTokensDeps, type TokenError, type TokenErrorCode, type TokenState } from './join-tokens.ts';
export { IssuedSvids, type IssuedSvid } from './issued-svids.ts';
