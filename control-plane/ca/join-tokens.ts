// Join tokens: how a VM proves who it is on its first contact (SPIRE's join-token node
// attestor, kubeadm's bootstrap tokens). A token is minted for one Workload and bound, at
// mint time, to that Workload's SPIFFE ID; it is single use, expires, and can be revoked.
// The store keeps only sha256(secret), so neither a copy of the store nor `list` can
// give a token away. Using a token is a compare-and-swap on the record's resourceVersion:
// of two uses racing, the store lets exactly one through.

import { createHash, createPublicKey, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { workloadId } from '../../certs/index.ts';
import { splitJoinToken } from '../../xds/token-file.ts';
import type { Resource } from '../api/resource.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../api/kind-names.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';

/** Not a kind of the API (descriptors.ts): only the token API and the certificate service reach it. */
export const JOIN_TOKEN_TYPE = 'jointokens.ca.sluice.dev';
export const JOIN_TOKEN_API_VERSION = 'ca.sluice.dev/v1';
const WORKLOAD_TYPE = 'workloads.mesh.sluice.dev';
export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
export const MAX_TOKEN_TTL_MS = 7 * 86_400_000;
/** Expired records stay this long, so `list` shows them and a late use hears "expired", not "unknown". */
const EXPIRED_KEPT_MS = 3_600_000;

export type TokenState = 'active' | 'used' | 'revoked' | 'expired';

/** What a token record says, without its hash: what `list` and the API show. */
export type JoinTokenInfo = {
  readonly id: string;
  readonly namespace: string;
  readonly workload: string;
  readonly spiffeId: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly usedAt?: string;
  readonly revokedAt?: string;
  readonly state: TokenState;
};

export type TokenErrorCode = 'TOKEN_MALFORMED' | 'TOKEN_UNKNOWN' | 'TOKEN_EXPIRED' | 'TOKEN_USED' | 'TOKEN_REVOKED' | 'TOKEN_WORKLOAD_GONE' | 'WORKLOAD_NOT_FOUND';
export type TokenError = { readonly code: TokenErrorCode; readonly message: string };
export type TokenResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TokenError };

type Spec = { workload: string; spiffeId: string; secretSha256: string; createdAt: string; expiresAt: string };
/** `usedKeySha256`: the SHA-256 of the DER SubjectPublicKeyInfo the token was used for (see `check`). */
type Status = { usedAt?: string; usedKeySha256?: string; revokedAt?: string };
type TokenRecord = Resource<Spec> & { status?: Status };

export type JoinTokensDeps = {
  readonly store: ResourceStore;
  readonly trustDomain: string;
  readonly now: () => number;
  readonly randomBytes?: (n: number) => Buffer;
};

export type JoinTokens = {
  /** Mints a token for an existing Workload; the text is returned here once and never stored. */
  mint(namespace: string, workload: string, ttlMs: number): Promise<TokenResult<{ token: string; info: JoinTokenInfo }>>;
  /** Every token of a namespace (all when undefined); expired ones past their grace are removed on the way. */
  list(namespace?: string): Promise<JoinTokenInfo[]>;
  get(namespace: string, id: string): Promise<JoinTokenInfo | undefined>;
  /** Marks a token revoked; the record stays until it expires. Revoking twice is not an error. */
  revoke(namespace: string, id: string): Promise<JoinTokenInfo | undefined>;
  /**
   * Checks a token's text without using it: the secret, then revoked, used, expired, then
   * that its Workload still exists with the identity the token is bound to.
   *
   * A used token still passes for the public key it was used for, until it expires: a
   * proxy that sent its CSR and lost the answer (stopped, crashed, a full disk) finishes
   * its join on the next start with the same key and token, instead of holding a spent
   * token and no certificate. Only the holder of that private key can sign such a CSR.
   */
  check(text: string, publicKeyPem?: string): Promise<TokenResult<JoinTokenInfo>>;
  /** Uses the token for this key: checks it again and marks it used with a compare-and-swap; only one key ever wins. */
  consume(text: string, publicKeyPem: string): Promise<TokenResult<JoinTokenInfo>>;
};

const fail = (code: TokenErrorCode, message: string): { ok: false; error: TokenError } => ({ ok: false, error: { code, message } });
const sha256 = (s: string) => createHash('sha256').update(s).digest();
/** Of the key's DER form: the same key in any PEM spelling is the same key. */
const keySha256 = (publicKeyPem: string) => createHash('sha256').update(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

export function joinTokens(deps: JoinTokensDeps): JoinTokens {
  const { store } = deps;
  const random = deps.randomBytes ?? cryptoRandomBytes;

  const infoOf = (r: TokenRecord): JoinTokenInfo => {
    const { workload, spiffeId, createdAt, expiresAt } = r.spec!;
    const { usedAt, revokedAt } = r.status ?? {};
    const state: TokenState = revokedAt !== undefined ? 'revoked' : usedAt !== undefined ? 'used' : Date.parse(expiresAt) <= deps.now() ? 'expired' : 'active';
    return { id: r.metadata.name, namespace: r.metadata.namespace!, workload, spiffeId, createdAt, expiresAt, ...(usedAt === undefined ? {} : { usedAt }), ...(revokedAt === undefined ? {} : { revokedAt }), state };
  };

  const records = async (namespace?: string): Promise<TokenRecord[]> => {
    const { items } = await store.list(JOIN_TOKEN_TYPE, namespace === undefined ? {} : { namespace });
    const kept: TokenRecord[] = [];
    for (const r of items as TokenRecord[]) {
      if (Date.parse(r.spec!.expiresAt) + EXPIRED_KEPT_MS > deps.now()) kept.push(r);
      // Lazily, and only the version we saw: a record written meanwhile is someone else's business.
      else await store.delete(JOIN_TOKEN_TYPE, r.metadata.namespace, r.metadata.name, { resourceVersion: r.metadata.resourceVersion }).catch(() => {});
    }
    return kept;
  };

  const find = async (namespace: string, id: string): Promise<TokenRecord | undefined> => {
    try {
      return (await store.get(JOIN_TOKEN_TYPE, namespace, id)) as TokenRecord;
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  };

  const identityOf = async (namespace: string, workload: string): Promise<string | undefined> => {
    try {
      const w = (await store.get(WORKLOAD_TYPE, namespace, workload)) as Resource<{ serviceAccount?: string }>;
      return workloadId(deps.trustDomain, namespace, w.spec?.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT);
    } catch (err) {
      if (isStoreError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  };

  /** The record the text names, if its secret is right and it can still be used. */
  const checkRecord = async (text: string, keySha256?: string): Promise<TokenResult<TokenRecord>> => {
    const parts = splitJoinToken(text.trim());
    if (parts === null) return fail('TOKEN_MALFORMED', 'the join token is malformed: expected sluice-jt.<id>.<secret>, as sluicectl token create prints it');
    // The text does not carry the namespace; ids are unique across namespaces (mint checks).
    const record = (await records()).find((r) => r.metadata.name === parts.id);
    // A wrong secret reads exactly as an unknown id: nothing tells a guesser how close it came.
    const unknown = fail('TOKEN_UNKNOWN', `join token ${parts.id} is not known: it was never minted, its secret is wrong, or it expired long ago`);
    if (record === undefined) return unknown;
    const want = Buffer.from(record.spec!.secretSha256, 'hex');
    const given = sha256(parts.secret);
    if (want.length !== given.length || !timingSafeEqual(want, given)) return unknown;
    const info = infoOf(record);
    if (info.state === 'revoked') return fail('TOKEN_REVOKED', `join token ${info.id} was revoked at ${info.revokedAt}; mint a new one with sluicectl token create`);
    if (info.state === 'used') {
      // Used for this very key: the join it paid for is being finished (see `check`).
      if (keySha256 === undefined || record.status?.usedKeySha256 !== keySha256) return fail('TOKEN_USED', `join token ${info.id} was already used at ${info.usedAt}; a token is single use: mint a new one with sluicectl token create`);
      if (Date.parse(info.expiresAt) <= deps.now()) return fail('TOKEN_EXPIRED', `join token ${info.id} expired at ${info.expiresAt}; mint a new one with sluicectl token create`);
    }
    if (info.state === 'expired') return fail('TOKEN_EXPIRED', `join token ${info.id} expired at ${info.expiresAt}; mint a new one with sluicectl token create`);
    if ((await identityOf(info.namespace, info.workload)) !== info.spiffeId) {
      return fail('TOKEN_WORKLOAD_GONE', `join token ${info.id} is for Workload ${info.namespace}/${info.workload} as ${info.spiffeId}, and that Workload no longer exists with that identity`);
    }
    return { ok: true, value: record };
  };

  return {
    async mint(namespace, workload, ttlMs) {
      const spiffeId = await identityOf(namespace, workload);
      if (spiffeId === undefined) return fail('WORKLOAD_NOT_FOUND', `Workload "${workload}" does not exist in namespace ${namespace}; apply it first, then mint its token`);
      const taken = new Set((await records()).map((r) => r.metadata.name));
      let id: string;
      do id = random(6).toString('hex');
      while (taken.has(id));
      const secret = random(32).toString('base64url');
      const now = deps.now();
      const record: TokenRecord = {
        apiVersion: JOIN_TOKEN_API_VERSION,
        kind: 'JoinToken',
        metadata: { name: id, namespace },
        spec: { workload, spiffeId, secretSha256: sha256(secret).toString('hex'), createdAt: iso(now), expiresAt: iso(now + ttlMs) },
      };
      const stored = (await store.create(JOIN_TOKEN_TYPE, record)) as TokenRecord;
      return { ok: true, value: { token: `sluice-jt.${id}.${secret}`, info: infoOf(stored) } };
    },
    list: async (namespace) => (await records(namespace)).map(infoOf),
    async get(namespace, id) {
      const r = await find(namespace, id);
      return r === undefined ? undefined : infoOf(r);
    },
    async revoke(namespace, id) {
      for (;;) {
        const r = await find(namespace, id);
        if (r === undefined) return undefined;
        if (r.status?.revokedAt !== undefined) return infoOf(r);
        try {
          return infoOf((await store.update(JOIN_TOKEN_TYPE, { ...r, status: { ...r.status, revokedAt: iso(deps.now()) } })) as TokenRecord);
        } catch (err) {
          // A use landed in between: read it again and revoke that.
          if (!isStoreError(err, 'CONFLICT')) throw err;
        }
      }
    },
    async check(text, publicKeyPem) {
      const r = await checkRecord(text, publicKeyPem === undefined ? undefined : keySha256(publicKeyPem));
      return r.ok ? { ok: true, value: infoOf(r.value) } : r;
    },
    async consume(text, publicKeyPem) {
      const key = keySha256(publicKeyPem);
      for (;;) {
        const r = await checkRecord(text, key);
        if (!r.ok) return r;
        // The same key finishing its join again: nothing to mark.
        if (r.value.status?.usedAt !== undefined) return { ok: true, value: infoOf(r.value) };
        try {
          // The resourceVersion read above is the precondition: a use or a revoke since then is a CONFLICT.
          const used = (await store.update(JOIN_TOKEN_TYPE, { ...r.value, status: { ...r.value.status, usedAt: iso(deps.now()), usedKeySha256: key } })) as TokenRecord;
          return { ok: true, value: infoOf(used) };
        } catch (err) {
          // Someone else wrote first; checking again says what they did (used, revoked).
          if (!isStoreError(err, 'CONFLICT')) throw err;
        }
      }
    },
  };
}

/** `1h`, `30m`, `7d`, `1h30m`; absent: 1h. At least 1m, at most 7d. */
export function parseTokenTtl(text: string | undefined): { ok: true; value: number } | { ok: false; error: string } {
  if (text === undefined) return { ok: true, value: DEFAULT_TOKEN_TTL_MS };
  const unit: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
  if (!/^(\d+[dhms])+$/.test(text)) return { ok: false, error: `'${text}' is not a duration: write it like 1h, 30m, 7d or 1h30m` };
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) ms += Number(n) * unit[u];
  if (ms < 60_000) return { ok: false, error: `'${text}' is too short: a join token lives at least 1m` };
  if (ms > MAX_TOKEN_TTL_MS) return { ok: false, error: `'${text}' is too long: a join token lives at most 7d (mint a new one when a VM joins later)` };
  return { ok: true, value: ms };
}
