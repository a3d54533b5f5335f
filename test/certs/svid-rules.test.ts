// The X.509-SVID rules as certs/svid-rules.ts reads them from a certificate's DER: what our
// CA issues passes; a leaf that is a CA by basicConstraints or by keyUsage does not (even
// where node:crypto's X509Certificate#ca says false); a CA certificate names its trust domain.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { caTrustDomains, certificateBlocks, leafSvidId, type Ca } from '../../certs/index.ts';
import { forgeCertificate, SAN } from '../helpers/forged-cert.ts';
import { issue, newCa, tempDir, type Svid } from '../helpers/mesh-pki.ts';

const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const leafOf = (svid: Svid) => new X509Certificate(certificateBlocks(svid.cert)[0]);

describe('X.509-SVID rules', () => {
  let ca: Ca;
  before(() => {
    ca = newCa('mesh.example');
  });

  test('an SVID our CA issued names its workload; one URI SAN beside a DNS SAN is an SVID too', () => {
    assert.deepEqual(leafSvidId(leafOf(issue(ca, WEB))), { ok: true, value: { trustDomain: 'mesh.example', path: '/ns/shop/sa/web', uri: WEB } });
    const withDns = forgeCertificate(ca, { altNames: [{ type: SAN.uri, value: WEB }, { type: SAN.dns, value: 'web.shop.svc' }] });
    assert.equal(leafSvidId(leafOf(withDns)).ok, true);
  });

  test('a leaf that is a CA is refused, by basicConstraints or by keyUsage', () => {
    const uri = [{ type: SAN.uri, value: WEB }];
    const caFlag = leafOf(forgeCertificate(ca, { altNames: uri, ca: true }));
    // cA:TRUE, but keyUsage without keyCertSign: OpenSSL's X509_check_ca, so X509Certificate#ca, says no CA.
    assert.equal(caFlag.ca, false);
    assert.deepEqual(leafSvidId(caFlag), { ok: false, error: "it is a CA certificate (basicConstraints cA:TRUE), which a workload's SVID may not be" });
    const full = leafOf(forgeCertificate(ca, { altNames: uri, ca: true, keyUsage: { digitalSignature: true, keyCertSign: true, cRLSign: true } }));
    assert.equal(full.ca, true);
    assert.match((leafSvidId(full) as { error: string }).error, /basicConstraints cA:TRUE/);
    assert.deepEqual(leafSvidId(leafOf(forgeCertificate(ca, { altNames: uri, keyUsage: { digitalSignature: true, keyCertSign: true } }))), { ok: false, error: "its keyUsage allows keyCertSign, which a workload's SVID may not" });
    assert.deepEqual(leafSvidId(leafOf(forgeCertificate(ca, { altNames: uri, keyUsage: { digitalSignature: true, cRLSign: true } }))), { ok: false, error: "its keyUsage allows cRLSign, which a workload's SVID may not" });
    assert.deepEqual(leafSvidId(leafOf(forgeCertificate(ca, { altNames: uri, keyUsage: { keyCertSign: true, cRLSign: true } }))), { ok: false, error: "its keyUsage allows keyCertSign and cRLSign, which a workload's SVID may not" });
  });

  test('anything but one spiffe:// URI SAN naming a workload is refused', () => {
    const refuse = (altNames: { type: 1 | 2 | 6; value: string }[], error: RegExp) => {
      const r = leafSvidId(leafOf(forgeCertificate(ca, { altNames })));
      assert.ok(!r.ok && error.test(r.error), `${JSON.stringify(altNames)}: ${JSON.stringify(r)}`);
    };
    refuse([], /names 0/);
    refuse([{ type: SAN.dns, value: WEB }], /names 0/);
    refuse([{ type: SAN.uri, value: WEB }, { type: SAN.uri, value: `${WEB}2` }], /names 2/);
    refuse([{ type: SAN.uri, value: 'https://mesh.example/ns/shop/sa/web' }], /not a SPIFFE ID/);
    refuse([{ type: SAN.uri, value: 'spiffe://mesh.example' }], /names a trust domain, not a workload/);
  });

  test('a CA certificate names the trust domain it speaks for; a leaf names none', () => {
    assert.deepEqual(caTrustDomains(new X509Certificate(ca.root)), ['mesh.example']);
    assert.deepEqual(caTrustDomains(new X509Certificate(ca.ca)), ['mesh.example']);
    assert.deepEqual(caTrustDomains(leafOf(issue(ca, WEB))), []);
  });

  test('openssl reads the same extensions from the forged leaves', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
    const dir = tempDir('sluice-svid-rules-');
    const text = (svid: Svid) => {
      const file = join(dir, 'leaf.pem');
      writeFileSync(file, certificateBlocks(svid.cert)[0]);
      return spawnSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' }).stdout;
    };
    const uri = [{ type: SAN.uri, value: WEB }];
    assert.match(text(forgeCertificate(ca, { altNames: uri, ca: true })), /CA:TRUE/);
    assert.match(text(forgeCertificate(ca, { altNames: uri, keyUsage: { digitalSignature: true, keyCertSign: true } })), /Digital Signature, Certificate Sign\n/);
    assert.match(text(forgeCertificate(ca, { altNames: uri, keyUsage: { digitalSignature: true, cRLSign: true } })), /Digital Signature, CRL Sign\n/);
    assert.match(text(issue(ca, WEB)), /CA:FALSE[\s\S]*X509v3 Key Usage: critical\n\s+Digital Signature\n/);
  });
});
