// The control plane's CA on disk: DATADIR/ca in the layout `sluicectl ca create` writes
// (root.pem, ca.pem, ca-key.pem 0600, bundle.pem), made at first start and loaded after,
// so an operator can also bring their own by writing those files before the first start.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createCa, generateKeyPair, issueSvid, loadCa, parseSpiffeId, workloadId, type Ca, type CaFiles } from '../../certs/index.ts';

const FILES: Record<keyof CaFiles, { name: string; mode: number }> = {
  root: { name: 'root.pem', mode: 0o644 },
  ca: { name: 'ca.pem', mode: 0o644 },
  caKey: { name: 'ca-key.pem', mode: 0o600 },
  bundle: { name: 'bundle.pem', mode: 0o644 },
};

/** Where a global control plane keeps its root's key (it signs the zones' intermediates). */
export const ROOT_KEY_FILE = 'root-key.pem';

/**
 * Loads DIR's CA, or creates one for `trustDomain` when DIR holds none. With `keepRootKey`
 * (sluice-cp --role global) a CA made here keeps its root's key in DIR/root-key.pem (0600).
 */
export function ensureCa(dir: string, trustDomain: string, now: number, opts: { keepRootKey?: boolean } = {}): { ca: Ca; created: boolean } {
  let created = false;
  if (!existsSync(join(dir, FILES.caKey.name))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = createCa({ trustDomain, now, keepRootKey: opts.keepRootKey });
    if (files.rootKey !== undefined) writeFileSync(join(dir, ROOT_KEY_FILE), files.rootKey, { mode: 0o600 });
    // The key last: a crash part-way leaves no key, so the next start makes the CA again.
    for (const key of ['root', 'ca', 'bundle', 'caKey'] as const) writeFileSync(join(dir, FILES[key].name), files[key], { mode: FILES[key].mode });
    created = true;
  }
  const read = (key: keyof CaFiles) => readFileSync(join(dir, FILES[key].name), 'utf8');
  const ca = loadCa({ root: read('root'), ca: read('ca'), caKey: read('caKey'), bundle: read('bundle') });
  if (!ca.ok) throw new Error(`${dir}: ${ca.error}`);
  return { ca: ca.value, created };
}

/** Writes a zone's CA into DIR in the same layout: the global's roots, the zone's intermediate and its key. */
export function writeZoneCa(dir: string, files: { bundle: string; intermediate: string; key: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (key: keyof CaFiles, text: string) => writeFileSync(join(dir, FILES[key].name), text, { mode: FILES[key].mode });
  write('root', files.bundle);
  write('bundle', files.bundle);
  write('ca', files.intermediate);
  // The key last: a crash part-way leaves no key, so the next start enrolls again.
  write('caKey', files.key);
}

/**
 * The control plane's serving certificate for `host` (the address it listens on): its
 * SPIFFE ID plus the names a client dials. Made fresh at each start, from the CA, with
 * the key kept in memory only.
 */
export function servingCertificate(ca: Ca, host: string, now: number, ttlMs = 30 * 86_400_000): { cert: string; key: string } {
  const id = parseSpiffeId(workloadId(ca.trustDomain, 'sluice-system', 'sluice-cp'));
  if (!id.ok) throw new Error(id.error);
  const ips = new Set(['127.0.0.1', '::1']);
  const names = new Set(['localhost', hostname()]);
  if (isIP(host) !== 0) ips.add(host);
  else if (host !== '' && host !== '0.0.0.0' && host !== '::') names.add(host);
  const keys = generateKeyPair();
  const svid = issueSvid(ca, { spiffeId: id.value, publicKeyPem: keys.publicKeyPem, now, ttlMs, dnsNames: [...names], ipAddresses: [...ips].filter((ip) => ip !== '0.0.0.0' && ip !== '::') });
  if (!svid.ok) throw new Error(`cannot issue the control plane's certificate: ${svid.error}`);
  return { cert: svid.value.certChain, key: keys.privateKeyPem };
}
