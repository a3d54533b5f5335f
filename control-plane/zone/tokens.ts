// Zone tokens: how a zone's control plane proves, on its first contact with the global,
// which zone it is. Minted on the global (`sluicectl zone token create NAME`), bound to the
// zone's name, single use, expiring: the join tokens' rules (ca/join-tokens.ts) for a zone
// instead of a Workload. The store keeps only sha256(secret); a use is a compare-and-swap.
// A used token still passes for the key it was used for until it expires, so a zone that
// lost the answer to its first contact finishes it with the same key.

import { createHash, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { readBundle } from '../../certs/bundle.ts';
import type { Result } from '../../certs/result.ts';
import type { Resource } from '../api/resource.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';
import { ZONE_NAME } from './model.ts';

export const ZONE_TOKEN_TYPE = 'zonetokens.ca.sluice.dev';
const NAMESPACE = 'sluice-system';
const TOKEN = /^sluice-zt\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export type ZoneTokenInfo = { readonly id: string; readonly zone: string; readonly createdAt: string; readonly expiresAt: string; readonly usedAt?: string; readonly state: 'active' | 'used' | 'expired' };
export type ZoneTokenError = { readonly code: 'TOKEN_MALFORMED' | 'TOKEN_UNKNOWN' | 'TOKEN_EXPIRED' | 'TOKEN_USED' | 'TOKEN_WRONG_ZONE'; readonly message: string };

type Spec = { zone: string; secretSha256: string; createdAt: string; expiresAt: string };
type TokenRecord = Resource<Spec> & { status?: { usedAt?: string; usedKeySha256?: string } };

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest();
const keySha256 = (pem: string) => sha256(createPublicKey(pem).export({ type: 'spki', format: 'der' })).toString('hex');
const fail = (code: ZoneTokenError['code'], message: string): Result<never, ZoneTokenError> => ({ ok: false, error: { code, message } });

export type ZoneTokens = {
  mint(zone: string, ttlMs: number): Promise<{ token: string; info: ZoneTokenInfo }>;
  /** Checks the token for `zone` and uses it for this key (compare-and-swap: one key ever wins). */
  consume(text: string, zone: string, publicKeyPem: string): Promise<Result<ZoneTokenInfo, ZoneTokenError>>;
};

export function zoneTokens(store: ResourceStore, now: () => number): ZoneTokens {
  const infoOf = (r: TokenRecord): ZoneTokenInfo => {
    const usedAt = r.status?.usedAt;
    const state = usedAt !== undefined ? 'used' : Date.parse(r.spec!.expiresAt) <= now() ? 'expired' : 'active';
    return { id: r.metadata.name, zone: r.spec!.zone, createdAt: r.spec!.createdAt, expiresAt: r.spec!.expiresAt, ...(usedAt === undefined ? {} : { usedAt }), state };
  };
  const check = async (text: string, zone: string, key: string): Promise<Result<TokenRecord, ZoneTokenError>> => {
    const m = TOKEN.exec(text.trim());
    if (m === null) return fail('TOKEN_MALFORMED', 'the zone token is malformed: expected sluice-zt.<id>.<secret>, as sluicectl zone token create prints it');
    const unknown = fail('TOKEN_UNKNOWN', `zone token ${m[1]} is not known to this global control plane: it was never minted here, or its secret is wrong`);
    let r: TokenRecord;
    try {
      r = (await store.get(ZONE_TOKEN_TYPE, NAMESPACE, m[1])) as TokenRecord;
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return unknown;
      throw err;
    }
    const want = Buffer.from(r.spec!.secretSha256, 'hex');
    const given = sha256(m[2]);
    if (want.length !== given.length || !timingSafeEqual(want, given)) return unknown;
    if (r.spec!.zone !== zone) return fail('TOKEN_WRONG_ZONE', `zone token ${m[1]} is for zone ${r.spec!.zone}, but this control plane runs as zone ${zone} (--zone); mint one for ${zone} with sluicectl zone token create ${zone}`);
    const info = infoOf(r);
    if (Date.parse(info.expiresAt) <= now()) return fail('TOKEN_EXPIRED', `zone token ${m[1]} expired at ${info.expiresAt}; mint a new one with sluicectl zone token create ${zone}`);
    if (info.state === 'used' && r.status?.usedKeySha256 !== key) return fail('TOKEN_USED', `zone token ${m[1]} was already used at ${info.usedAt}; a token is single use: mint a new one with sluicectl zone token create ${zone}`);
    return { ok: true, value: r };
  };
  return {
    async mint(zone, ttlMs) {
      if (!ZONE_NAME.test(zone)) throw new Error(`zone name '${zone}' is not a DNS label (lower-case letters, digits and '-', at most 63)`);
      const id = randomBytes(6).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      const at = now();
      const record: TokenRecord = {
        apiVersion: 'ca.sluice.dev/v1',
        kind: 'ZoneToken',
        metadata: { name: id, namespace: NAMESPACE },
        spec: { zone, secretSha256: sha256(secret).toString('hex'), createdAt: new Date(at).toISOString(), expiresAt: new Date(at + ttlMs).toISOString() },
      };
      const stored = (await store.create(ZONE_TOKEN_TYPE, record)) as TokenRecord;
      return { token: `sluice-zt.${id}.${secret}`, info: infoOf(stored) };
    },
    async consume(text, zone, publicKeyPem) {
      const key = keySha256(publicKeyPem);
      for (;;) {
        const r = await check(text, zone, key);
        if (!r.ok) return r;
        if (r.value.status?.usedAt !== undefined) return { ok: true, value: infoOf(r.value) };
        try {
          const used = (await store.update(ZONE_TOKEN_TYPE, { ...r.value, status: { usedAt: new Date(now()).toISOString(), usedKeySha256: key } })) as TokenRecord;
          return { ok: true, value: infoOf(used) };
        } catch (err) {
          if (!isStoreError(err, 'CONFLICT')) throw err;
        }
      }
    },
  };
}

export type ZoneTokenFile = { readonly token: string; readonly zone: string; readonly bundle: string };

/** The file `sluicectl zone token create` writes and `sluice-cp --role zone --zone-token FILE` reads. */
export function formatZoneTokenFile(f: ZoneTokenFile, expiresAt: string): string {
  return `# Sluice zone token for zone ${f.zone}\n# expires ${expiresAt}; single use; keep this file secret (mode 0600)\ntoken: ${f.token}\nzone: ${f.zone}\n${f.bundle.replace(/\n*$/, '\n')}`;
}

/** Reads a zone token file; the error names the file and line. */
export function parseZoneTokenFile(text: string, where: string): Result<ZoneTokenFile, string> {
  const at = text.indexOf('-----BEGIN CERTIFICATE-----');
  const head = (at < 0 ? text : text.slice(0, at)).split(/\r?\n/);
  const values: Record<string, string> = {};
  for (const [i, raw] of head.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(token|zone):\s*(\S+)$/.exec(line);
    if (m === null) return { ok: false, error: `${where}: line ${i + 1}: expected 'token: sluice-zt...', 'zone: NAME', a '#' comment or the trust bundle` };
    values[m[1]] = m[2];
  }
  if (values.token === undefined || !TOKEN.test(values.token)) return { ok: false, error: `${where}: no 'token: sluice-zt.<id>.<secret>' line; copy the file sluicectl zone token create wrote` };
  if (values.zone === undefined) return { ok: false, error: `${where}: no 'zone: NAME' line` };
  if (at < 0) return { ok: false, error: `${where}: no trust bundle (the global's roots, PEM, after the token and zone lines)` };
  const bundle = readBundle(text.slice(at));
  if (!bundle.ok) return { ok: false, error: `${where}: trust bundle: ${bundle.error}` };
  return { ok: true, value: { token: values.token, zone: values.zone, bundle: bundle.value.join('') } };
}
