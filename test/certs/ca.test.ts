// The PKI library: a CA whose chain node:crypto and openssl both verify, SVIDs with exactly
// one SPIFFE URI SAN, CSRs, bundles with several roots, and renewal timing.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { createCa, createCsr, generateKeyPair, inspectCertificates, issueSvid, loadCa, mergeBundles, parseSpiffeId, readBundle, readCsr, renewalTime, type Ca, type CaFiles } from '../../certs/index.ts';

const NOW = Date.UTC(2026, 10, 23, 12);
const HOUR = 3_600_000;
const id = (text: string) => {
  const r = parseSpiffeId(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const blocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((b) => new X509Certificate(b));
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('a mesh CA', () => {
  let files: CaFiles;
  let ca: Ca;
  before(() => {
    files = createCa({ trustDomain: 'example.org', now: NOW });
    const loaded = loadCa(files);
    if (!loaded.ok) throw new Error(loaded.error);
    ca = loaded.value;
  });

  test('is a self-signed root and an intermediate it signed, limited to signing leaves', () => {
    const [root] = blocks(files.root);
    const [intermediate] = blocks(files.ca);
    assert.ok(root.ca && intermediate.ca);
    assert.ok(root.verify(root.publicKey), 'the root signs itself');
    assert.ok(intermediate.verify(root.publicKey), 'the root signs the intermediate');
    assert.ok(intermediate.checkIssued(root));
    assert.equal(ca.trustDomain, 'example.org');
    assert.match(intermediate.toLegacyObject().subjectaltname ?? '', /URI:spiffe:\/\/example\.org$/);
    assert.equal(files.bundle, files.root);
  });

  test('issues an SVID: one URI SAN, not a CA, for client and server TLS, chained to the intermediate', () => {
    const keys = generateKeyPair();
    const r = issueSvid(ca, { spiffeId: id('spiffe://example.org/ns/shop/sa/web'), publicKeyPem: keys.publicKeyPem, now: NOW });
    assert.ok(r.ok);
    const [leaf, intermediate] = blocks(r.value.certChain);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://example.org/ns/shop/sa/web');
    assert.equal(leaf.ca, false);
    assert.ok(leaf.verify(intermediate.publicKey));
    assert.ok(leaf.checkPrivateKey(createPrivateKey(keys.privateKeyPem)));
    assert.deepEqual(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(r.value.notAfter.getTime() - NOW, 24 * HOUR, 'a day by default');
    assert.ok(r.value.notBefore.getTime() < NOW, 'backdated for clock skew');
    const [info] = inspectCertificates(r.value.certChain);
    assert.equal(info.identity, 'spiffe://example.org/ns/shop/sa/web');
    assert.equal(info.isCa, false);
  });

  test("refuses an identity in another trust domain, and the bare trust domain", () => {
    const { publicKeyPem } = generateKeyPair();
    const other = issueSvid(ca, { spiffeId: id('spiffe://other.org/ns/a/sa/b'), publicKeyPem, now: NOW });
    assert.deepEqual(other, { ok: false, error: "the SPIFFE ID's trust domain 'other.org' is not this CA's ('example.org')" });
    const bare = issueSvid(ca, { spiffeId: id('spiffe://example.org'), publicKeyPem, now: NOW });
    assert.equal(bare.ok, false);
  });

  test('never issues past the CA: the lifetime is cut to the intermediate, an expired CA refuses', () => {
    const { publicKeyPem } = generateKeyPair();
    const end = blocks(files.ca)[0].validToDate.getTime();
    const late = issueSvid(ca, { spiffeId: id('spiffe://example.org/x'), publicKeyPem, now: end - HOUR, ttlMs: 24 * HOUR });
    assert.ok(late.ok);
    assert.ok(late.value.notAfter.getTime() <= end);
    assert.match((issueSvid(ca, { spiffeId: id('spiffe://example.org/x'), publicKeyPem, now: end + HOUR }) as { error: string }).error, /expired/);
  });

  test('loadCa says what is wrong: a key that is not the certificate\'s, a leaf in place of the CA', () => {
    assert.deepEqual(loadCa({ ...files, caKey: generateKeyPair().privateKeyPem }), { ok: false, error: 'ca-key.pem is not the key of the certificate in ca.pem' });
    const leaf = issueSvid(ca, { spiffeId: id('spiffe://example.org/x'), publicKeyPem: generateKeyPair().publicKeyPem, now: NOW });
    assert.ok(leaf.ok);
    assert.match((loadCa({ ...files, ca: leaf.value.certChain }) as { error: string }).error, /not a CA certificate/);
  });

  test('openssl verifies the chain for TLS clients and servers, and reads the SAN', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-pki-'));
    const r = issueSvid(ca, { spiffeId: id('spiffe://example.org/ns/shop/sa/web'), publicKeyPem: generateKeyPair().publicKeyPem, now: Date.now() });
    assert.ok(r.ok);
    writeFileSync(join(dir, 'bundle.pem'), files.bundle);
    writeFileSync(join(dir, 'ca.pem'), files.ca);
    writeFileSync(join(dir, 'cert.pem'), r.value.certChain);
    for (const purpose of ['sslclient', 'sslserver']) {
      const v = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'bundle.pem'), '-untrusted', join(dir, 'ca.pem'), '-purpose', purpose, join(dir, 'cert.pem')], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stdout + v.stderr);
    }
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /URI:spiffe:\/\/example\.org\/ns\/shop\/sa\/web/);
    assert.match(text.stdout, /CA:FALSE/);
  });
});

describe('CSRs', () => {
  test('carry the public key and the identity asked for, signed by the private key', () => {
    const keys = generateKeyPair();
    const r = readCsr(createCsr(keys.privateKeyPem, keys.publicKeyPem, 'spiffe://example.org/ns/a/sa/b'));
    assert.ok(r.ok);
    assert.deepEqual(r.value.uris, ['spiffe://example.org/ns/a/sa/b']);
    assert.equal(r.value.publicKeyPem, keys.publicKeyPem);
  });

  test('are refused when the signature is not by the key they carry', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    assert.deepEqual(readCsr(createCsr(a.privateKeyPem, b.publicKeyPem, 'spiffe://example.org/x')), { ok: false, error: 'the request is not signed by the key it carries' });
    assert.equal(readCsr('not a csr').ok, false);
  });
});

describe('trust bundles', () => {
  test('hold several roots, each once, and refuse what is not a CA', () => {
    const a = createCa({ trustDomain: 'example.org', now: NOW });
    const b = createCa({ trustDomain: 'example.org', now: NOW });
    const both = mergeBundles(a.bundle, b.bundle, a.bundle);
    const roots = readBundle(both);
    assert.ok(roots.ok);
    assert.equal(roots.value.length, 2);
    const loaded = loadCa(a);
    assert.ok(loaded.ok);
    const leaf = issueSvid(loaded.value, { spiffeId: id('spiffe://example.org/x'), publicKeyPem: generateKeyPair().publicKeyPem, now: NOW });
    assert.ok(leaf.ok);
    assert.match((readBundle(leaf.value.certChain) as { error: string }).error, /certificate 1 of the bundle .* is not a CA certificate/);
    assert.deepEqual(readBundle(''), { ok: false, error: 'the bundle holds no certificate' });
  });
});

describe('renewalTime', () => {
  test('is half the lifetime, give or take 10 % of it', () => {
    const from = new Date(NOW);
    const to = new Date(NOW + 24 * HOUR);
    assert.equal(renewalTime(from, to, () => 0.5), NOW + 12 * HOUR);
    assert.equal(Math.round(renewalTime(from, to, () => 0)), NOW + 12 * HOUR - 2.4 * HOUR);
    assert.ok(renewalTime(from, to, () => 0.999999) < NOW + 14.4 * HOUR);
  });
});
