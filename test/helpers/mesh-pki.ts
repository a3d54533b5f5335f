// Certificates for tests, made by our own CA (certs/): a trust domain's CA, and identity
// folders laid out as `sluicectl ca issue` writes them (cert.pem, key.pem, bundle.pem).

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createCa, generateKeyPair, issueSvid, loadCa, parseSpiffeId, type Ca } from '../../certs/index.ts';

export type Svid = { readonly cert: string; readonly key: string };

export function newCa(trustDomain = 'mesh.example', now = Date.now()): Ca {
  const r = loadCa(createCa({ trustDomain, now }));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function issue(ca: Ca, spiffeId: string, opts: { now?: number; ttlMs?: number } = {}): Svid {
  const keys = generateKeyPair();
  const id = parseSpiffeId(spiffeId);
  if (!id.ok) throw new Error(id.error);
  const r = issueSvid(ca, { spiffeId: id.value, publicKeyPem: keys.publicKeyPem, now: opts.now ?? Date.now(), ...(opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }) });
  if (!r.ok) throw new Error(r.error);
  return { cert: r.value.certChain, key: keys.privateKeyPem };
}

/** Writes (or overwrites) an identity folder; returns its path. */
export function writeIdentity(dir: string, svid: Svid, bundle: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), svid.cert);
  writeFileSync(join(dir, 'key.pem'), svid.key, { mode: 0o600 });
  writeFileSync(join(dir, 'bundle.pem'), bundle);
  return dir;
}

export function tempDir(prefix = 'sluice-pki-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A client TLS context presenting `svid` and trusting `bundle`. */
export function clientContext(svid: Svid, bundle: string): tls.SecureContext {
  return tls.createSecureContext({ cert: svid.cert, key: svid.key, ca: bundle });
}
