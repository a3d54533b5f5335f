// The certificate service on a real grpc.Server over real TLS (the :15012 credentials),
// spoken to by a real grpc-js client: who may get which certificate, proven by a join
// token or by the SVID the caller already holds, and renewals over the same stream.

import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { certificateBlocks, generateKeyPair, loadCa } from '../../../certs/index.ts';
import { issue, newCa } from '../../helpers/mesh-pki.ts';
import { BILLING_ID, csrFor, openStream, ORDERS_ID, sharedPki, startService, TRUST_DOMAIN, type Service } from './fixture.ts';

const leafOf = (chain: string) => new X509Certificate(certificateBlocks(chain)[0]);

describe('the certificate service', { timeout: 20_000 }, () => {
  let svc: Service;
  const { keys } = sharedPki();
  const streams: { close(): void }[] = [];
  const stream = (clientSvid?: { cert: string; key: string }) => {
    const s = openStream(svc.address, svc.ca.bundle, clientSvid);
    streams.push(s);
    return s;
  };

  before(async () => {
    svc = await startService();
  });
  after(async () => {
    for (const s of streams) s.close();
    await svc.close();
  });

  test('a join token gets an SVID for the identity it is bound to, with the chain and the trust bundle', async () => {
    const token = await svc.mint('orders-vm-1');
    const res = await stream().send({ csr: csrFor(keys[0], ORDERS_ID), join_token: token, request_id: 'first' });
    assert.equal(res.request_id, 'first');
    assert.equal(res.spiffe_id, ORDERS_ID);
    assert.equal(res.workload, 'orders-vm-1');
    assert.equal(res.namespace, 'shop');
    assert.equal(res.trust_bundle, svc.ca.bundle);
    const [leaf, intermediate] = certificateBlocks(res.cert_chain).map((b) => new X509Certificate(b));
    assert.equal(leaf.subjectAltName, `URI:${ORDERS_ID}`);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(keys[0].privateKeyPem)), 'certifies the CSR key');
    assert.ok(leaf.verify(intermediate.publicKey) && intermediate.verify(new X509Certificate(res.trust_bundle).publicKey), 'chains to the bundle');
    const hours = (leaf.validToDate.getTime() - svc.clock.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `24 h by default, got ${hours}`);
    const issued = svc.logs.find((l) => l.msg === 'svid issued' && l.fields?.via === `join-token ${token.split('.')[1]}`);
    assert.ok(issued, 'the issuance is logged with how the caller proved itself');
    assert.ok(!JSON.stringify(svc.logs).includes(token.split('.')[2]), 'the token secret is never logged');
  });

  test('a CSR for another identity is refused PERMISSION_DENIED even with a valid token, naming both IDs; the token stays usable', async () => {
    const token = await svc.mint('orders-vm-1');
    const r = await stream().refused({ csr: csrFor(keys[0], BILLING_ID), join_token: token });
    assert.equal(r.code, grpc.status.PERMISSION_DENIED);
    assert.equal(r.sluiceCode, 'IDENTITY_MISMATCH');
    assert.ok(r.details.includes(BILLING_ID) && r.details.includes(ORDERS_ID), r.details);
    const ok = await stream().send({ csr: csrFor(keys[0], ORDERS_ID), join_token: token });
    assert.equal(ok.spiffe_id, ORDERS_ID);
  });

  test('a token is single use: a second stream that brings it with another key is refused TOKEN_USED', async () => {
    const token = await svc.mint('orders-vm-1');
    await stream().send({ csr: csrFor(keys[0], ORDERS_ID), join_token: token });
    const r = await stream().refused({ csr: csrFor(keys[1], ORDERS_ID), join_token: token });
    assert.equal(r.code, grpc.status.UNAUTHENTICATED);
    assert.equal(r.sluiceCode, 'TOKEN_USED');
    assert.match(r.details, /already used/);
  });

  test('a join whose answer was lost is finished by a second stream with the same token and the same key', async () => {
    const token = await svc.mint('orders-vm-1');
    await stream().send({ csr: csrFor(keys[2], ORDERS_ID), join_token: token });
    const again = await stream().send({ csr: csrFor(keys[2], ORDERS_ID), join_token: token });
    const leaf = new X509Certificate(again.cert_chain);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(keys[2].privateKeyPem)), 'certifies the key the token was used for');
  });

  test('of several streams using one token at once with different keys, exactly one gets a certificate', async () => {
    const token = await svc.mint('orders-vm-1');
    const results = await Promise.allSettled(keys.map((k) => stream().send({ csr: csrFor(k, ORDERS_ID), join_token: token })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'certificate'))));
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { sluiceCode: string }).sluiceCode, 'TOKEN_USED');
  });

  test('an expired token is refused TOKEN_EXPIRED', async () => {
    const token = await svc.mint('orders-vm-1', 60_000);
    svc.clock.advance(61_000);
    try {
      const r = await stream().refused({ csr: csrFor(keys[0], ORDERS_ID), join_token: token });
      assert.equal(r.code, grpc.status.UNAUTHENTICATED);
      assert.equal(r.sluiceCode, 'TOKEN_EXPIRED');
      assert.match(r.details, /expired at/);
    } finally {
      svc.clock.advance(-61_000);
    }
  });

  test('a revoked token is refused TOKEN_REVOKED', async () => {
    const token = await svc.mint('orders-vm-1');
    await svc.tokens.revoke('shop', token.split('.')[1]);
    const r = await stream().refused({ csr: csrFor(keys[0], ORDERS_ID), join_token: token });
    assert.equal(r.code, grpc.status.UNAUTHENTICATED);
    assert.equal(r.sluiceCode, 'TOKEN_REVOKED');
  });

  test('without a client SVID or a token the stream is UNAUTHENTICATED; a CSR that is not one is INVALID_ARGUMENT', async () => {
    const none = await stream().refused({ csr: csrFor(keys[0], ORDERS_ID) });
    assert.equal(none.code, grpc.status.UNAUTHENTICATED);
    assert.equal(none.sluiceCode, 'NO_PROOF');
    const token = await svc.mint('orders-vm-1');
    const bad = await stream().refused({ csr: 'not a CSR', join_token: token });
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(bad.sluiceCode, 'CSR_INVALID');
  });

  test('renewal goes over the same stream with a new CSR, and a renewal for another identity ends the stream', async () => {
    const s = stream();
    const first = await s.send({ csr: csrFor(keys[0], ORDERS_ID), join_token: await svc.mint('orders-vm-1') });
    const second = await s.send({ csr: csrFor(keys[1], ORDERS_ID), request_id: 'renew' });
    assert.equal(second.request_id, 'renew');
    assert.equal(second.spiffe_id, ORDERS_ID);
    assert.notEqual(leafOf(second.cert_chain).serialNumber, leafOf(first.cert_chain).serialNumber);
    assert.equal(leafOf(second.cert_chain).publicKey.export({ type: 'spki', format: 'pem' }), keys[1].publicKeyPem);
    const r = await s.refused({ csr: csrFor(keys[1], BILLING_ID) });
    assert.equal(r.code, grpc.status.PERMISSION_DENIED);
    assert.ok(r.details.includes(BILLING_ID) && r.details.includes(ORDERS_ID), r.details);
  });

  test('after the stream breaks, the SVID it got is proof enough on a new stream: no token', async () => {
    const s = stream();
    const first = await s.send({ csr: csrFor(keys[0], ORDERS_ID), join_token: await svc.mint('orders-vm-1') });
    s.close();
    const svid = { cert: first.cert_chain, key: keys[0].privateKeyPem };
    const again = await stream(svid).send({ csr: csrFor(keys[2], ORDERS_ID), workload: 'orders-vm-1' });
    assert.equal(again.spiffe_id, ORDERS_ID);
    assert.equal(again.workload, 'orders-vm-1');
    assert.ok(svc.logs.some((l) => l.msg === 'svid issued' && l.fields?.via === `client-svid ${leafOf(first.cert_chain).serialNumber}`));
    // The SVID proves orders, and only orders.
    const other = await stream(svid).refused({ csr: csrFor(keys[2], BILLING_ID) });
    assert.equal(other.code, grpc.status.PERMISSION_DENIED);
    const notMine = await stream(svid).refused({ csr: csrFor(keys[2], ORDERS_ID), workload: 'billing-vm-1' });
    assert.equal(notMine.code, grpc.status.PERMISSION_DENIED);
    assert.equal(notMine.sluiceCode, 'WORKLOAD_MISMATCH');
  });

  test('a client SVID past its end (by the control plane clock) is refused CLIENT_SVID_EXPIRED', async () => {
    const svid = issue(svc.ca, ORDERS_ID, { ttlMs: 3_600_000 });
    svc.clock.advance(2 * 3_600_000);
    try {
      const r = await stream(svid).refused({ csr: csrFor(keys[0], ORDERS_ID) });
      assert.equal(r.code, grpc.status.UNAUTHENTICATED);
      assert.equal(r.sluiceCode, 'CLIENT_SVID_EXPIRED');
    } finally {
      svc.clock.advance(-2 * 3_600_000);
    }
  });

  test('a client SVID from another CA, even for the same trust domain, is no proof', async () => {
    const forged = issue(newCa(TRUST_DOMAIN), ORDERS_ID);
    const r = await stream(forged).refused({ csr: csrFor(keys[0], ORDERS_ID) });
    assert.equal(r.code, grpc.status.UNAUTHENTICATED);
    assert.equal(r.sluiceCode, 'NO_PROOF');
  });
});

describe('the certificate service across key types', { timeout: 20_000 }, () => {
  const streams: { close(): void }[] = [];
  after(() => streams.forEach((s) => s.close()));
  const stream = (svc: Service, clientSvid?: { cert: string; key: string }) => {
    const s = openStream(svc.address, svc.ca.bundle, clientSvid);
    streams.push(s);
    return s;
  };
  const keyOf = (chain: string) => leafOf(chain).publicKey.asymmetricKeyDetails;

  test('an RSA CA kept from before ECDSA (made by node-forge) serves the TLS, certifies ECDSA requests, and renews an older proxy that presents its RSA SVID', async () => {
    const dir = fileURLToPath(new URL('../../certs/testdata/rsa-ca', import.meta.url));
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    const rsaCa = loadCa({ root: read('root.pem'), ca: read('ca.pem'), caKey: read('ca-key.pem'), bundle: read('bundle.pem') });
    assert.ok(rsaCa.ok && rsaCa.value.trustDomain === TRUST_DOMAIN);
    const svc = await startService({ ca: rsaCa.value });
    try {
      const ecdsa = generateKeyPair();
      const joined = await stream(svc).send({ csr: csrFor(ecdsa, ORDERS_ID), join_token: await svc.mint('orders-vm-1') });
      assert.equal(keyOf(joined.cert_chain)?.namedCurve, 'prime256v1');
      const [leaf, intermediate] = certificateBlocks(joined.cert_chain).map((b) => new X509Certificate(b));
      assert.ok(leaf.verify(intermediate.publicKey) && intermediate.publicKey.asymmetricKeyType === 'rsa');
      // An older proxy: an RSA SVID from this CA, renewing with an RSA request, then with ECDSA once upgraded.
      const old = issue(rsaCa.value, ORDERS_ID, { keyType: 'rsa-2048' });
      const rsa = generateKeyPair('rsa-2048');
      const renewed = await stream(svc, old).send({ csr: csrFor(rsa, ORDERS_ID), workload: 'orders-vm-1' });
      assert.equal(keyOf(renewed.cert_chain)?.modulusLength, 2048);
      const upgraded = await stream(svc, { cert: renewed.cert_chain, key: rsa.privateKeyPem }).send({ csr: csrFor(ecdsa, ORDERS_ID), workload: 'orders-vm-1' });
      assert.equal(keyOf(upgraded.cert_chain)?.namedCurve, 'prime256v1');
    } finally {
      await svc.close();
    }
  });

  test("an ECDSA CA answers an older proxy's RSA request with an RSA SVID, and refuses a key too weak to certify", async () => {
    const svc = await startService();
    try {
      const rsa = generateKeyPair('rsa-2048');
      const res = await stream(svc).send({ csr: csrFor(rsa, ORDERS_ID), join_token: await svc.mint('orders-vm-1') });
      assert.equal(keyOf(res.cert_chain)?.modulusLength, 2048);
      assert.ok(leafOf(res.cert_chain).checkPrivateKey(createPrivateKey(rsa.privateKeyPem)));
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
      const r = await stream(svc).refused({ csr: csrFor({ privateKeyPem: weak.privateKey, publicKeyPem: weak.publicKey }, ORDERS_ID), join_token: await svc.mint('orders-vm-1') });
      assert.match(r.details, /RSA key of 1024 bits; at least 2048 are needed/);
    } finally {
      await svc.close();
    }
  });
});
