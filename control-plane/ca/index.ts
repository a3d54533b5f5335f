// The control plane's certificate authority: its CA on disk and its own serving certificate.
// (The CSR-in, SVID-out certificate service for workloads builds on this.)

export { ensureCa, servingCertificate } from './ca-dir.ts';
