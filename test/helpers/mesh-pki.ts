// Certificates for tests, made by our own CA (certs/): a trust domain's CA, and identity
// folders laid out as `sluicectl ca issue` writes them (cert.pem, key.pem, bundle.pem).

import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { certificateBlocks, createCa, generateKeyPair, issueSvid, loadCa, parseSpiffeId, type Ca, type KeyType } from '../../certs/index.ts';

export type Svid = { readonly cert: string; readonly key: string };

/** A CA with ECDSA P-256 keys, or `keyType`'s. */
export function newCa(trustDomain = 'mesh.example', now = Date.now(), keyType?: KeyType): Ca {
  const r = loadCa(createCa({ trustDomain, now, ...(keyType === undefined ? {} : { keyType }) }));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function issue(ca: Ca, spiffeId: string, opts: { now?: number; ttlMs?: number; keyType?: KeyType } = {}): Svid {
  const keys = generateKeyPair(opts.keyType);
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

/**
 * Writes an identity folder the way a writer that is not atomic does: cert.pem, key.pem and
 * bundle.pem one after another, `gapMs` apart, so a watcher sees the half-written sets.
 */
export async function writeIdentityInSteps(dir: string, svid: Svid, bundle: string, gapMs: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), svid.cert);
  await sleep(gapMs);
  writeFileSync(join(dir, 'key.pem'), svid.key, { mode: 0o600 });
  await sleep(gapMs);
  writeFileSync(join(dir, 'bundle.pem'), bundle);
}

/** The SHA-256 fingerprint of the SVID's leaf, as X509Certificate#fingerprint256 and /certs spell it. */
export function fingerprintOf(svid: Svid): string {
  return new X509Certificate(certificateBlocks(svid.cert)[0]).fingerprint256;
}

export function tempDir(prefix = 'sluice-pki-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A client TLS context presenting `svid` and trusting `bundle`. */
export function clientContext(svid: Svid, bundle: string): tls.SecureContext {
  return tls.createSecureContext({ cert: svid.cert, key: svid.key, ca: bundle });
}
