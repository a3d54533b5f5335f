// ECDSA P-256 and RSA side by side: new CAs and workload keys are ECDSA P-256, an RSA CA
// made by node-forge before ECDSA (testdata/rsa-ca) still loads and signs, an RSA request
// from an older proxy is still served, and openssl reads and verifies every mix with the
// same X.509-SVID extensions (SAN URI, key usage, EKU, path length, SKI/AKI, serial).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createCa, createCsr, generateKeyPair, issueSvid, loadCa, parseSpiffeId, readCsr, type Ca, type CaFiles } from '../../certs/index.ts';
import { leafSvidId } from '../../certs/svid-rules.ts';
import { signZoneIntermediate, zoneId } from '../../certs/zone-ca.ts';

const TESTDATA = join(import.meta.dirname, 'testdata');
const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const needsOpenssl = { skip: hasOpenssl ? false : 'openssl is not installed' };

/** The RSA CA `sluicectl ca create` wrote before ECDSA, by node-forge, with its root's key. */
const forgeRsaCa = (): CaFiles & { rootKey: string } => {
  const read = (name: string) => readFileSync(join(TESTDATA, 'rsa-ca', name), 'utf8');
  return { root: read('root.pem'), ca: read('ca.pem'), caKey: read('ca-key.pem'), bundle: read('bundle.pem'), rootKey: read('root-key.pem') };
};

const loaded = (files: CaFiles): Ca => {
  const r = loadCa(files);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

const issue = (ca: Ca, publicKeyPem: string, spiffeId = WEB): string => {
  const id = parseSpiffeId(spiffeId);
  assert.ok(id.ok);
  const r = issueSvid(ca, { spiffeId: id.value, publicKeyPem, now: Date.now() });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value.certChain;
};

const certs = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((b) => new X509Certificate(b));

function openssl(args: readonly string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** openssl verify of a chain (leaf, intermediate) against a bundle, for TLS clients and servers. */
function opensslVerifies(chain: string, bundle: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-key-types-'));
  const [leaf, intermediate] = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  writeFileSync(join(dir, 'leaf.pem'), leaf);
  writeFileSync(join(dir, 'ca.pem'), intermediate);
  writeFileSync(join(dir, 'bundle.pem'), bundle);
  for (const purpose of ['sslclient', 'sslserver']) openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'bundle.pem'), '-untrusted', join(dir, 'ca.pem'), '-purpose', purpose, join(dir, 'leaf.pem')]);
}

/** An extension's lines as `openssl x509 -ext` prints them, after its header. */
const extText = (pem: string, ext: string) => openssl(['x509', '-noout', '-ext', ext], pem).split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '').join(' | ');
const header = (pem: string, ext: string) => openssl(['x509', '-noout', '-ext', ext], pem).split('\n')[0];

describe('key types', () => {
  test('a new CA and the workload keys it certifies are ECDSA P-256; rsa-2048 still makes RSA', () => {
    const files = createCa({ trustDomain: 'mesh.example', now: Date.now() });
    for (const pem of [files.root, files.ca]) assert.equal(new X509Certificate(pem).publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(createPrivateKey(files.caKey).asymmetricKeyType, 'ec');
    assert.equal(createPrivateKey(generateKeyPair().privateKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const [leaf] = certs(issue(loaded(files), generateKeyPair().publicKeyPem));
    assert.equal(leaf.publicKey.asymmetricKeyType, 'ec');

    const rsa = createCa({ trustDomain: 'mesh.example', now: Date.now(), keyType: 'rsa-2048' });
    assert.equal(new X509Certificate(rsa.ca).publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(createPublicKey(generateKeyPair('rsa-2048').publicKeyPem).asymmetricKeyDetails?.modulusLength, 2048);
  });

  test('every mix of CA and workload key verifies with openssl, for TLS clients and servers', needsOpenssl, () => {
    const cas = { 'ECDSA CA': createCa({ trustDomain: 'mesh.example', now: Date.now() }), 'RSA CA made by node-forge': forgeRsaCa(), 'RSA CA': createCa({ trustDomain: 'mesh.example', now: Date.now(), keyType: 'rsa-2048' }) };
    for (const [what, files] of Object.entries(cas)) {
      for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
        const chain = issue(loaded(files), generateKeyPair(keyType).publicKeyPem);
        opensslVerifies(chain, files.bundle);
        const [leaf, intermediate] = certs(chain);
        assert.ok(leaf.verify(intermediate.publicKey), `${what}, ${keyType}`);
        assert.ok(leafSvidId(leaf).ok, `${what}, ${keyType}`);
      }
    }
  });

  test('an ECDSA SVID carries the X.509-SVID extensions: one URI SAN, digitalSignature only, both EKUs, SKI and AKI chained', needsOpenssl, () => {
    const files = createCa({ trustDomain: 'mesh.example', now: Date.now() });
    const chain = issue(loaded(files), generateKeyPair().publicKeyPem);
    const [leafPem, caPem] = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    const text = openssl(['x509', '-noout', '-text'], leafPem);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.equal(header(leafPem, 'basicConstraints'), 'X509v3 Basic Constraints: critical');
    assert.equal(extText(leafPem, 'basicConstraints'), 'CA:FALSE');
    assert.equal(header(leafPem, 'keyUsage'), 'X509v3 Key Usage: critical');
    assert.equal(extText(leafPem, 'keyUsage'), 'Digital Signature');
    assert.equal(extText(leafPem, 'extendedKeyUsage'), 'TLS Web Server Authentication, TLS Web Client Authentication');
    assert.equal(extText(leafPem, 'subjectAltName'), `URI:${WEB}`);
    assert.equal(extText(caPem, 'basicConstraints'), 'CA:TRUE, pathlen:0');
    assert.equal(extText(caPem, 'keyUsage'), 'Certificate Sign, CRL Sign');
    assert.equal(extText(files.root, 'basicConstraints'), 'CA:TRUE');
    // Each AKI is its issuer's SKI.
    assert.equal(extText(leafPem, 'authorityKeyIdentifier'), extText(caPem, 'subjectKeyIdentifier'));
    assert.equal(extText(caPem, 'authorityKeyIdentifier'), extText(files.root, 'subjectKeyIdentifier'));
    // A positive serial of 16 random bytes, a day's validity starting a minute back.
    const [leaf] = certs(chain);
    assert.match(leaf.serialNumber, /^[0-7][0-9A-F]{31}$/);
    assert.equal(leaf.validToDate.getTime() - leaf.validFromDate.getTime(), 86_400_000 + 60_000);
  });

  test("an SVID for an RSA key keeps RSA's key usage (digitalSignature, keyEncipherment), signed by the node-forge RSA CA with its AKI", needsOpenssl, () => {
    const files = forgeRsaCa();
    const chain = issue(loaded(files), generateKeyPair('rsa-2048').publicKeyPem);
    const [leafPem] = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    assert.equal(extText(leafPem, 'keyUsage'), 'Digital Signature, Key Encipherment');
    assert.match(openssl(['x509', '-noout', '-text'], leafPem), /Signature Algorithm: sha256WithRSAEncryption/);
    assert.equal(extText(leafPem, 'authorityKeyIdentifier'), extText(files.ca, 'subjectKeyIdentifier'));
  });

  test('an RSA request from an older proxy (node-forge) is read and served by an ECDSA CA', needsOpenssl, () => {
    const old = readFileSync(join(TESTDATA, 'rsa-proxy.csr'), 'utf8');
    const csr = readCsr(old);
    assert.ok(csr.ok, csr.ok ? '' : csr.error);
    assert.deepEqual(csr.value.uris, ['spiffe://mesh.example/ns/shop/sa/old']);
    const files = createCa({ trustDomain: 'mesh.example', now: Date.now() });
    const chain = issue(loaded(files), csr.value.publicKeyPem, 'spiffe://mesh.example/ns/shop/sa/old');
    opensslVerifies(chain, files.bundle);
    assert.equal(certs(chain)[0].publicKey.asymmetricKeyType, 'rsa');
  });

  test('an ECDSA request verifies with openssl, and requests openssl makes (ECDSA and RSA) are read', needsOpenssl, () => {
    const keys = generateKeyPair();
    const ours = createCsr(keys.privateKeyPem, keys.publicKeyPem, WEB);
    assert.match(openssl(['req', '-noout', '-verify', '-text'], ours), /URI:spiffe:\/\/mesh\.example\/ns\/shop\/sa\/web/);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-key-types-'));
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const k = generateKeyPair(keyType);
      writeFileSync(join(dir, 'key.pem'), k.privateKeyPem);
      const theirs = openssl(['req', '-new', '-key', join(dir, 'key.pem'), '-subj', '/O=Sluice', '-addext', `subjectAltName=DNS:web.shop,URI:${WEB}`]);
      const r = readCsr(theirs);
      assert.ok(r.ok, r.ok ? '' : r.error);
      assert.deepEqual(r.value.uris, [WEB]);
      assert.equal(r.value.publicKeyPem, k.publicKeyPem);
    }
  });

  test('a request whose identity was changed after signing, or that names another signature algorithm than it was signed with, is refused', () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const k = generateKeyPair(keyType);
      const der = Buffer.from(createCsr(k.privateKeyPem, k.publicKeyPem, WEB).replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const pem = (bytes: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${bytes.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      const at = der.indexOf('sa/web');
      const tampered = Buffer.from(der);
      tampered.write('sa/adm', at, 'latin1');
      assert.deepEqual(readCsr(pem(tampered)), { ok: false, error: 'the request is not signed by the key it carries' }, keyType);
      // ecdsa-with-SHA256 (2a 86 48 ce 3d 04 03 02) relabelled ecdsa-with-SHA384.
      const ecdsaOid = Buffer.from('2a8648ce3d040302', 'hex');
      if (keyType === 'ecdsa-p256') {
        const relabelled = Buffer.from(der);
        relabelled.set(Buffer.from('2a8648ce3d040303', 'hex'), der.lastIndexOf(ecdsaOid));
        assert.deepEqual(readCsr(pem(relabelled)), { ok: false, error: 'the request is not signed by the key it carries' }, 'SHA-384 named, SHA-256 used');
      }
    }
    assert.match((readCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n') as { error: string }).error, /^not a PEM certificate request: /);
  });

  test('keys too weak or of another kind are refused with the reason, for a workload and for a CA', () => {
    const files = createCa({ trustDomain: 'mesh.example', now: Date.now() });
    const ca = loaded(files);
    const id = parseSpiffeId(WEB);
    assert.ok(id.ok);
    const pem = (k: ReturnType<typeof generateKeyPairSync>) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const refused = (publicKeyPem: string) => {
      const r = issueSvid(ca, { spiffeId: id.value, publicKeyPem, now: Date.now() });
      assert.ok(!r.ok);
      return r.error;
    };
    assert.equal(refused(pem(generateKeyPairSync('rsa', { modulusLength: 1024 }))), 'the public key is an RSA key of 1024 bits; at least 2048 are needed');
    assert.equal(refused(pem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }))), 'the public key is an EC key on secp256k1; P-256 or P-384 is needed');
    assert.equal(refused(pem(generateKeyPairSync('ed25519'))), 'the public key is an ed25519 key; an ECDSA (P-256, P-384) or RSA key is needed');
    assert.match(refused('not a key'), /^the public key cannot be read: /);
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const zone = signZoneIntermediate({ rootPem: files.root, rootKeyPem: forgeRsaCa().rootKey, publicKeyPem: pem(weak), trustDomain: 'mesh.example', zone: 'z', now: Date.now() });
    assert.deepEqual(zone, { ok: false, error: "cannot sign the zone's intermediate: its key is an RSA key of 1024 bits; at least 2048 are needed" });
  });

  test("a node-forge RSA root signs an ECDSA zone's intermediate, whose SVIDs verify against the RSA root", needsOpenssl, () => {
    const files = forgeRsaCa();
    const keys = generateKeyPair();
    const zone = signZoneIntermediate({ rootPem: files.root, rootKeyPem: files.rootKey, publicKeyPem: keys.publicKeyPem, trustDomain: 'mesh.example', zone: 'onprem', now: Date.now() });
    assert.ok(zone.ok, zone.ok ? '' : zone.error);
    assert.equal(extText(zone.value, 'subjectAltName'), `URI:${zoneId('mesh.example', 'onprem')}`);
    assert.equal(extText(zone.value, 'keyUsage'), 'Digital Signature, Certificate Sign, CRL Sign');
    const chain = issue(loaded({ root: files.bundle, ca: zone.value, caKey: keys.privateKeyPem, bundle: files.bundle }), generateKeyPair().publicKeyPem);
    opensslVerifies(chain, files.bundle);
  });
});
