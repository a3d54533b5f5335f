// Join tokens against a real file store: bound at mint to one Workload's identity, kept
// only as a hash, single use by compare-and-swap, expiring, revocable, and every refusal
// with its own code.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { joinTokens, parseTokenTtl, type JoinTokens } from '../../../control-plane/ca/index.ts';
import { openStore, type ResourceStore } from '../../../control-plane/store/index.ts';
import { generateKeyPair } from '../../../certs/keys.ts';

const WORKLOADS = 'workloads.mesh.sluice.dev';
/** The public keys of CSRs: a token is used for one. RSA: a test spells one key both SPKI and PKCS#1, which only RSA has. */
const KEYS = Array.from({ length: 6 }, () => generateKeyPair('rsa-2048').publicKeyPem);
const workload = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: 'shop' }, spec: { address: '10.0.3.7', ...spec } });

describe('join tokens', { timeout: 20_000 }, () => {
  let dir: string;
  let store: ResourceStore;
  let tokens: JoinTokens;
  let offset = 0;
  const now = () => Date.now() + offset;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-jt-'));
    store = await openStore(`file:${dir}`, { clock: now });
    await store.create(WORKLOADS, workload('orders-vm-1', { serviceAccount: 'orders' }));
    await store.create(WORKLOADS, workload('plain-vm'));
    tokens = joinTokens({ store, trustDomain: 'mesh.example', now });
  });
  after(() => store.close());

  const mint = async (name = 'orders-vm-1', ttlMs = 3_600_000) => {
    const r = await tokens.mint('shop', name, ttlMs);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    return r.value;
  };
  const refusal = async (text: string, key = KEYS[1]) => {
    const r = await tokens.consume(text, key);
    assert.ok(!r.ok, 'expected a refusal');
    return r.error;
  };

  test('a token is minted for an existing Workload and bound to its service account identity', async () => {
    const { token, info } = await mint();
    assert.match(token, /^sluice-jt\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(info.id, token.split('.')[1]);
    assert.deepEqual([info.namespace, info.workload, info.spiffeId, info.state], ['shop', 'orders-vm-1', 'spiffe://mesh.example/ns/shop/sa/orders', 'active']);
    assert.equal(Date.parse(info.expiresAt) - Date.parse(info.createdAt), 3_600_000);
    assert.equal((await mint('plain-vm')).info.spiffeId, 'spiffe://mesh.example/ns/shop/sa/default', "serviceAccount defaults to 'default'");
    const missing = await tokens.mint('shop', 'ghost', 3_600_000);
    assert.ok(!missing.ok);
    assert.equal(missing.error.code, 'WORKLOAD_NOT_FOUND');
    assert.match(missing.error.message, /Workload "ghost" does not exist in namespace shop/);
  });

  test('the store keeps sha256 of the secret, never the secret: not in memory, not on disk', async () => {
    const { token, info } = await mint();
    const secret = token.split('.')[2];
    const record = await store.get('jointokens.ca.sluice.dev', 'shop', info.id);
    assert.ok(!JSON.stringify(record).includes(secret));
    assert.match(JSON.stringify(record), /"secretSha256":"[0-9a-f]{64}"/);
    for (const f of readdirSync(dir)) assert.ok(!readFileSync(join(dir, f), 'latin1').includes(secret), f);
    assert.ok(!JSON.stringify(await tokens.list('shop')).includes(secret));
  });

  test('a token is used once; the second use is refused TOKEN_USED', async () => {
    const { token } = await mint();
    const first = await tokens.consume(token, KEYS[0]);
    assert.ok(first.ok);
    assert.equal(first.value.state, 'used');
    const second = await refusal(token, KEYS[1]);
    assert.equal(second.code, 'TOKEN_USED');
    assert.match(second.message, /already used at .*single use/);
    assert.equal((await tokens.check(token)).ok, false, 'checked without a key, a used token is used');
  });

  test('a used token finishes the join it was used for: the same key passes again until the token expires, another key never', async () => {
    const { token, info } = await mint('orders-vm-1', 120_000);
    assert.ok((await tokens.consume(token, KEYS[2])).ok);
    const usedAt = (await tokens.get('shop', info.id))!.usedAt;
    // The same key in another PEM spelling (PKCS#1 here) is the same key.
    const { createPublicKey } = await import('node:crypto');
    const pkcs1 = createPublicKey(KEYS[2]).export({ type: 'pkcs1', format: 'pem' }).toString();
    for (const key of [KEYS[2], pkcs1]) {
      assert.ok((await tokens.check(token, key)).ok);
      const again = await tokens.consume(token, key);
      assert.ok(again.ok, again.ok ? '' : again.error.message);
      assert.equal(again.value.usedAt, usedAt, 'finishing again does not use the token again');
    }
    assert.equal((await refusal(token, KEYS[3])).code, 'TOKEN_USED');
    offset += 120_001;
    try {
      assert.equal((await refusal(token, KEYS[2])).code, 'TOKEN_EXPIRED');
    } finally {
      offset -= 120_001;
    }
  });

  test('of many uses racing, exactly one wins (compare-and-swap on resourceVersion)', async () => {
    const { token } = await mint();
    const results = await Promise.all(KEYS.map((key) => tokens.consume(token, key)));
    assert.equal(results.filter((r) => r.ok).length, 1);
    for (const r of results) if (!r.ok) assert.equal(r.error.code, 'TOKEN_USED');
  });

  test('malformed, unknown, wrong-secret, expired, revoked and orphaned tokens are each refused with their own code', async () => {
    assert.equal((await refusal('hello')).code, 'TOKEN_MALFORMED');
    assert.equal((await refusal(`sluice-jt.0123456789ab.${'A'.repeat(43)}`)).code, 'TOKEN_UNKNOWN');
    const { token } = await mint();
    const [, id, secret] = token.split('.');
    const close = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    const wrong = await refusal(`sluice-jt.${id}.${close}`);
    assert.deepEqual(wrong, { code: 'TOKEN_UNKNOWN', message: `join token ${id} is not known: it was never minted, its secret is wrong, or it expired long ago` }, 'a near-miss secret reads as an unknown token');

    const short = await mint('orders-vm-1', 60_000);
    offset += 60_001;
    try {
      const expired = await refusal(short.token);
      assert.equal(expired.code, 'TOKEN_EXPIRED');
      assert.match(expired.message, new RegExp(`expired at ${short.info.expiresAt}`));
    } finally {
      offset -= 60_001;
    }

    const revoked = await mint();
    const r = await tokens.revoke('shop', revoked.info.id);
    assert.equal(r?.state, 'revoked');
    assert.equal((await refusal(revoked.token)).code, 'TOKEN_REVOKED');

    await store.create(WORKLOADS, workload('short-lived', { serviceAccount: 'orders' }));
    const orphan = await mint('short-lived');
    await store.delete(WORKLOADS, 'shop', 'short-lived');
    assert.equal((await refusal(orphan.token)).code, 'TOKEN_WORKLOAD_GONE');
  });

  test('revoking keeps the record until it expires, so list shows it; expired records go an hour after expiry', async () => {
    const { info } = await mint('plain-vm', 120_000);
    await tokens.revoke('shop', info.id);
    assert.equal((await tokens.revoke('shop', info.id))?.state, 'revoked', 'revoking twice is not an error');
    assert.equal((await tokens.list('shop')).find((t) => t.id === info.id)?.state, 'revoked');
    assert.equal(await tokens.revoke('shop', 'nosuchtoken0'), undefined);
    offset += 120_000 + 3_600_000 + 1;
    try {
      assert.equal((await tokens.list()).find((t) => t.id === info.id), undefined);
      await assert.rejects(store.get('jointokens.ca.sluice.dev', 'shop', info.id), { code: 'NOT_FOUND' });
    } finally {
      offset -= 120_000 + 3_600_000 + 1;
    }
  });

  test('a TTL is 1h by default, at least 1m, at most 7d, and says what is wrong', () => {
    assert.deepEqual(parseTokenTtl(undefined), { ok: true, value: 3_600_000 });
    assert.deepEqual(parseTokenTtl('1h30m'), { ok: true, value: 5_400_000 });
    assert.deepEqual(parseTokenTtl('7d'), { ok: true, value: 7 * 86_400_000 });
    assert.match((parseTokenTtl('8d') as { error: string }).error, /at most 7d/);
    assert.match((parseTokenTtl('30s') as { error: string }).error, /at least 1m/);
    assert.match((parseTokenTtl('an hour') as { error: string }).error, /not a duration/);
  });
});
