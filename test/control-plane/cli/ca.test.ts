// `sluicectl ca ...` run as the operator runs it: a real process, real files, exit codes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCsr, generateKeyPair } from '../../../certs/index.ts';

const CLI = fileURLToPath(new URL('../../../control-plane/cli/main.ts', import.meta.url));
const sluicectl = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const mode = (file: string) => statSync(file).mode & 0o777;
const certs = (file: string) => readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((b) => new X509Certificate(b));

describe('sluicectl ca', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluicectl-'));
  const ca = join(dir, 'ca');

  before(() => {
    const r = sluicectl('ca', 'create', '--trust-domain', 'mesh.example', '--out', ca);
    assert.equal(r.status, 0, r.stderr);
  });

  test('create writes root.pem, ca.pem, bundle.pem and a 0600 ca-key.pem', () => {
    for (const f of ['root.pem', 'ca.pem', 'bundle.pem', 'ca-key.pem']) assert.ok(existsSync(join(ca, f)), f);
    assert.equal(mode(join(ca, 'ca-key.pem')), 0o600);
    const [root] = certs(join(ca, 'root.pem'));
    const [intermediate] = certs(join(ca, 'ca.pem'));
    assert.ok(intermediate.verify(root.publicKey));
    assert.equal(readFileSync(join(ca, 'bundle.pem'), 'utf8'), readFileSync(join(ca, 'root.pem'), 'utf8'));
  });

  test('create refuses to overwrite a CA key, and a bad trust domain, with exit 2 and the rule', () => {
    const again = sluicectl('ca', 'create', '--trust-domain', 'mesh.example', '--out', ca);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already exists; refusing to overwrite a CA key/);
    const bad = sluicectl('ca', 'create', '--trust-domain', 'Mesh.Example', '--out', join(dir, 'bad'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid --trust-domain: .*lower-case/);
  });

  test('issue writes the SVID with its chain, a 0600 key and the bundle; the ttl is honoured', () => {
    const out = join(dir, 'web');
    const r = sluicectl('ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/web', '--out', out, '--ttl', '2h');
    assert.equal(r.status, 0, r.stderr);
    const [leaf, intermediate] = certs(join(out, 'cert.pem'));
    assert.equal(leaf.subjectAltName, 'URI:spiffe://mesh.example/ns/shop/sa/web');
    assert.ok(leaf.verify(intermediate.publicKey));
    assert.ok(Math.abs(leaf.validToDate.getTime() - Date.now() - 2 * 3_600_000) < 120_000);
    assert.equal(mode(join(out, 'key.pem')), 0o600);
    assert.equal(readFileSync(join(out, 'bundle.pem'), 'utf8'), readFileSync(join(ca, 'bundle.pem'), 'utf8'));
  });

  test('issue with --csr certifies the CSR\'s key and writes no key', () => {
    const keys = generateKeyPair();
    const csr = join(dir, 'api.csr');
    writeFileSync(csr, createCsr(keys.privateKeyPem, keys.publicKeyPem, 'spiffe://mesh.example/ns/shop/sa/api'));
    const out = join(dir, 'api');
    const r = sluicectl('ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/api', '--out', out, '--csr', csr);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(out, 'key.pem')), false);
    assert.equal(certs(join(out, 'cert.pem'))[0].publicKey.export({ type: 'spki', format: 'pem' }), keys.publicKeyPem);

    const other = sluicectl('ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/web', '--out', join(dir, 'x'), '--csr', csr);
    assert.equal(other.status, 2);
    assert.match(other.stderr, /asks for spiffe:\/\/mesh\.example\/ns\/shop\/sa\/api, not spiffe:\/\/mesh\.example\/ns\/shop\/sa\/web/);
  });

  const refusals: [string, string[], RegExp][] = [
    ['an invalid SPIFFE ID', ['--spiffe-id', 'spiffe://mesh.example/ns/../sa/web'], /invalid --spiffe-id: .*'\.\.'/],
    ['a wildcard', ['--spiffe-id', 'spiffe://mesh.example/ns/*'], /invalid --spiffe-id/],
    ['another trust domain', ['--spiffe-id', 'spiffe://other.example/ns/a/sa/b'], /trust domain 'other\.example' is not this CA's \('mesh\.example'\)/],
    ['a bad ttl', ['--spiffe-id', 'spiffe://mesh.example/a', '--ttl', 'soon'], /invalid --ttl 'soon'/],
  ];
  for (const [what, args, message] of refusals) {
    test(`issue refuses ${what} with exit 2`, () => {
      const r = sluicectl('ca', 'issue', '--ca', ca, '--out', join(dir, 'refused'), ...args);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(join(dir, 'refused', 'cert.pem')), false);
    });
  }

  test('inspect shows identity, issuer and validity of each certificate in a file', () => {
    const r = sluicectl('ca', 'inspect', join(dir, 'web', 'cert.pem'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /certificate 1 of 2\n {2}identity: {3}spiffe:\/\/mesh\.example\/ns\/shop\/sa\/web\n/);
    assert.match(r.stdout, /issuer: {5}O=Sluice, CN=mesh\.example intermediate CA/);
    assert.match(r.stdout, /not before: \d{4}-\d\d-\d\dT/);
    assert.match(r.stdout, /not after: {2}\d{4}-.*\(valid, \dh left\)/);
    assert.match(r.stdout, /certificate 2 of 2 \(CA\)/);
  });

  test('keys are ECDSA P-256 by default; --key-type rsa-2048 makes an RSA CA or an RSA workload key; inspect names the key', () => {
    const [leaf, intermediate] = certs(join(dir, 'web', 'cert.pem'));
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(intermediate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(sluicectl('ca', 'inspect', join(dir, 'web', 'cert.pem')).stdout, /issuer: .*\n {2}key: {8}ECDSA P-256\n/);

    const rsaCa = join(dir, 'ca-rsa');
    const created = sluicectl('ca', 'create', '--trust-domain', 'mesh.example', '--out', rsaCa, '--key-type', 'rsa-2048');
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /\(rsa-2048 keys\)/);
    assert.equal(certs(join(rsaCa, 'ca.pem'))[0].publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    const out = join(dir, 'web-rsa');
    const issued = sluicectl('ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/web', '--out', out, '--key-type', 'rsa-2048');
    assert.equal(issued.status, 0, issued.stderr);
    assert.equal(certs(join(out, 'cert.pem'))[0].publicKey.asymmetricKeyType, 'rsa');
    assert.match(sluicectl('ca', 'inspect', join(out, 'cert.pem')).stdout, /key: {8}RSA 2048\n[\s\S]*key: {8}ECDSA P-256\n/);

    const bad = sluicectl('ca', 'create', '--trust-domain', 'mesh.example', '--out', join(dir, 'ca-bad'), '--key-type', 'dsa');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid --key-type 'dsa': one of ecdsa-p256, rsa-2048/);
    assert.equal(existsSync(join(dir, 'ca-bad')), false);
    const both = sluicectl('ca', 'issue', '--ca', ca, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/api', '--out', join(dir, 'x'), '--csr', join(dir, 'api.csr'), '--key-type', 'rsa-2048');
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--key-type and --csr do not go together/);
  });

  test('an RSA CA that node-forge wrote before ECDSA issues ECDSA SVIDs, which openssl verifies', () => {
    const forgeCa = fileURLToPath(new URL('../../certs/testdata/rsa-ca', import.meta.url));
    const out = join(dir, 'from-rsa-ca');
    const r = sluicectl('ca', 'issue', '--ca', forgeCa, '--spiffe-id', 'spiffe://mesh.example/ns/shop/sa/web', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const [leaf, intermediate] = certs(join(out, 'cert.pem'));
    assert.equal(leaf.publicKey.asymmetricKeyType, 'ec');
    assert.equal(intermediate.publicKey.asymmetricKeyType, 'rsa');
    assert.ok(leaf.verify(intermediate.publicKey));
    if (spawnSync('openssl', ['version']).status !== 0) return;
    writeFileSync(join(out, 'intermediate.pem'), intermediate.toString());
    const v = spawnSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), '-untrusted', join(out, 'intermediate.pem'), join(out, 'cert.pem')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  test('unknown commands, missing flags and missing files are refused with exit 2 and the usage', () => {
    const unknown = sluicectl('ca', 'burn');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'ca burn'/);
    const missing = sluicectl('ca', 'issue', '--ca', ca);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /missing --spiffe-id, --out\nusage: sluicectl ca issue/);
    const nofile = sluicectl('ca', 'inspect', join(dir, 'nope.pem'));
    assert.equal(nofile.status, 2);
    assert.match(nofile.stderr, /does not exist/);
  });
});
