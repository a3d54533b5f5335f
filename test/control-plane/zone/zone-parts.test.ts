// The zone parts that need no second process: zone tokens against a real file store (bound
// to a zone, hashed, single use, expiring), the zone intermediate the global's root signs,
// the global's state written into a zone's store, the role refusals and sluice-cp's flags.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCa, createCsr, generateKeyPair, issueSvid, loadCa, parseSpiffeId, readCsr } from '../../../certs/index.ts';
import { signZoneIntermediate, zoneId, zoneOfCertificate } from '../../../certs/zone-ca.ts';
import { FlagError, parseFlags } from '../../../control-plane/flags.ts';
import { openStore, type ResourceStore } from '../../../control-plane/store/index.ts';
import { applyGlobalState } from '../../../control-plane/zone/apply-state.ts';
import { refusalOf } from '../../../control-plane/zone/roles.ts';
import { formatZoneTokenFile, parseZoneTokenFile, zoneTokens, type ZoneTokens } from '../../../control-plane/zone/tokens.ts';

const TD = 'mesh.example';

describe('zone tokens', { timeout: 20_000 }, () => {
  let store: ResourceStore;
  let tokens: ZoneTokens;
  let offset = 0;
  const now = () => Date.now() + offset;
  const key = () => generateKeyPair().publicKeyPem;

  before(async () => {
    store = await openStore(`file:${mkdtempSync(join(tmpdir(), 'sluice-zt-'))}`, { clock: now });
    tokens = zoneTokens(store, now);
  });
  after(() => store.close());

  test('a token enrolls its zone once; the same key may finish again, another key may not', async () => {
    const { token } = await tokens.mint('onprem', 3_600_000);
    assert.match(token, /^sluice-zt\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
    const k = key();
    const used = await tokens.consume(token, 'onprem', k);
    assert.ok(used.ok && used.value.state === 'used');
    assert.ok((await tokens.consume(token, 'onprem', k)).ok, 'the key it was used for finishes its enrollment');
    const again = await tokens.consume(token, 'onprem', key());
    assert.ok(!again.ok && again.error.code === 'TOKEN_USED', JSON.stringify(again));
  });

  test('refused: for another zone, expired, unknown secret, malformed', async () => {
    const { token } = await tokens.mint('cloud', 120_000);
    const wrong = await tokens.consume(token, 'onprem', key());
    assert.ok(!wrong.ok && wrong.error.code === 'TOKEN_WRONG_ZONE');
    assert.match(wrong.error.message, /is for zone cloud, but this control plane runs as zone onprem/);
    const forged = `${token.slice(0, -3)}AAA`;
    const unknown = await tokens.consume(forged, 'cloud', key());
    assert.ok(!unknown.ok && unknown.error.code === 'TOKEN_UNKNOWN');
    const malformed = await tokens.consume('sluice-jt.abc', 'cloud', key());
    assert.ok(!malformed.ok && malformed.error.code === 'TOKEN_MALFORMED');
    offset = 180_000;
    const expired = await tokens.consume(token, 'cloud', key());
    offset = 0;
    assert.ok(!expired.ok && expired.error.code === 'TOKEN_EXPIRED', JSON.stringify(expired));
    assert.match(expired.error.message, /expired at .*sluicectl zone token create cloud/);
  });

  test('the token file reads back; a broken one says which line', async () => {
    const ca = createCa({ trustDomain: TD, now: Date.now() });
    const text = formatZoneTokenFile({ token: `sluice-zt.0123456789ab.${'x'.repeat(43)}`, zone: 'onprem', bundle: ca.bundle }, '2030-01-01T00:00:00Z');
    const back = parseZoneTokenFile(text, 'f');
    assert.ok(back.ok);
    assert.equal(back.value.zone, 'onprem');
    const broken = parseZoneTokenFile(text.replace('zone: onprem', 'zone onprem'), 'f');
    assert.ok(!broken.ok && /^f: line 4: expected/.test(broken.error), JSON.stringify(broken));
  });
});

test("a zone intermediate: signed by the root, CA with pathlen 0, the zone's SPIFFE ID; its SVIDs chain leaf, intermediate", () => {
  const files = createCa({ trustDomain: TD, now: Date.now(), keepRootKey: true });
  assert.ok(files.rootKey !== undefined);
  const keys = generateKeyPair();
  const csr = readCsr(createCsr(keys.privateKeyPem, keys.publicKeyPem, zoneId(TD, 'onprem')));
  assert.ok(csr.ok);
  const signed = signZoneIntermediate({ rootPem: files.root, rootKeyPem: files.rootKey, publicKeyPem: csr.value.publicKeyPem, trustDomain: TD, zone: 'onprem', now: Date.now() });
  assert.ok(signed.ok);
  const cert = new X509Certificate(signed.value);
  const root = new X509Certificate(files.root);
  assert.ok(cert.ca && cert.verify(root.publicKey) && cert.checkIssued(root));
  const text = spawnSync('openssl', ['x509', '-noout', '-ext', 'basicConstraints'], { input: signed.value, encoding: 'utf8' });
  assert.match(text.stdout, /critical\n\s+CA:TRUE, pathlen:0\n/, text.stderr);
  assert.deepEqual(zoneOfCertificate(cert, TD), { ok: true, value: 'onprem' });
  assert.ok(!zoneOfCertificate(cert, 'other.example').ok);
  assert.ok(!zoneOfCertificate(root, TD).ok, 'the root is no zone');
  // The zone's CA as the zone loads it: the global's roots, its intermediate and key.
  const zoneCa = loadCa({ root: files.bundle, ca: signed.value, caKey: keys.privateKeyPem, bundle: files.bundle });
  assert.ok(zoneCa.ok, zoneCa.ok ? '' : zoneCa.error);
  assert.equal(zoneCa.value.trustDomain, TD);
  const id = parseSpiffeId(`spiffe://${TD}/ns/shop/sa/web`);
  assert.ok(id.ok);
  const svid = issueSvid(zoneCa.value, { spiffeId: id.value, publicKeyPem: generateKeyPair().publicKeyPem, now: Date.now() });
  assert.ok(svid.ok);
  const [leaf, mid] = svid.value.certChain.split(/(?<=-----END CERTIFICATE-----\n)/).filter((b) => b.trim() !== '').map((b) => new X509Certificate(b));
  assert.ok(leaf.verify(cert.publicKey) && mid.fingerprint256 === cert.fingerprint256);
});

test("a zone's store takes the global's mesh-wide state: created, updated, deleted; its own Services untouched", async () => {
  const store = await openStore(`file:${mkdtempSync(join(tmpdir(), 'sluice-zs-'))}`, {});
  try {
    await store.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
    const mesh = (mode: string) => ({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: TD, mtls: { mode } } });
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'default' }, spec: { rules: [] } };
    assert.equal(await applyGlobalState(store, [mesh('STRICT'), route]), 2);
    assert.equal(await applyGlobalState(store, [mesh('STRICT'), route]), 0, 'the same state writes nothing');
    assert.equal(await applyGlobalState(store, [mesh('PERMISSIVE')]), 2);
    assert.equal(((await store.get('meshes.mesh.sluice.dev', undefined, 'default')).spec as { mtls: { mode: string } }).mtls.mode, 'PERMISSIVE');
    assert.equal((await store.list('httproutes.gateway.networking.k8s.io')).items.length, 0);
    assert.equal((await store.list('services')).items.length, 1);
  } finally {
    await store.close();
  }
});

test('role refusals name the kind, the reason and where to apply it', () => {
  assert.equal(refusalOf('standalone', undefined, 'HTTPRoute'), undefined);
  assert.equal(refusalOf('zone', 'onprem', 'AuthorizationPolicy'), 'AuthorizationPolicy is mesh-wide: apply it on the global control plane; this control plane is zone onprem');
  assert.equal(refusalOf('zone', 'onprem', 'Workload'), undefined);
  assert.match(refusalOf('global', undefined, 'Workload') ?? '', /^Workloads belong to a zone/);
  assert.match(refusalOf('global', undefined, 'Service') ?? '', /^Services belong to the zones that run their instances/);
  assert.equal(refusalOf('zone', 'onprem', 'Service'), undefined);
  assert.equal(refusalOf('standalone', undefined, 'Service'), undefined);
});

test('sluice-cp --role flags: a zone needs --zone and --global; zone flags only with --role zone; paths resolve against the working directory', () => {
  const base = ['--store', 'file:/tmp/x'];
  const f = parseFlags([...base, '--role', 'zone', '--zone', 'onprem', '--global', '10.0.0.1:15012', '--zone-token', 'rel/onprem.token', '--ingress-address', '10.1.0.5:15443']);
  assert.ok(typeof f === 'object');
  assert.equal(f.role, 'zone');
  assert.deepEqual(f.zone, { name: 'onprem', global: '10.0.0.1:15012', tokenFile: join(process.cwd(), 'rel/onprem.token'), ingress: { address: '10.1.0.5', port: 15443 } });
  assert.equal((parseFlags(base) as { role: string }).role, 'standalone');
  const refused = (args: string[], re: RegExp) => assert.throws(() => parseFlags([...base, ...args]), (e: Error) => e instanceof FlagError && re.test(e.message));
  refused(['--role', 'zone', '--global', 'g:15012'], /--role zone needs --zone NAME/);
  refused(['--role', 'zone', '--zone', 'onprem'], /--role zone needs --global HOST:PORT/);
  refused(['--role', 'zone', '--zone', 'On_Prem', '--global', 'g:1'], /--zone must be a DNS label/);
  refused(['--role', 'global', '--zone', 'onprem'], /--zone is only for --role zone \(the role is global\)/);
  refused(['--role', 'edge'], /--role must be standalone, global or zone; got 'edge'/);
  assert.equal((parseFlags([...base, '--role', 'global', '--zone-ca-ttl', '720h30m']) as { zoneCaTtlMs: number }).zoneCaTtlMs, 720.5 * 3_600_000);
  assert.equal((parseFlags([...base, '--role', 'global']) as { zoneCaTtlMs?: number }).zoneCaTtlMs, undefined);
  refused(['--role', 'zone', '--zone', 'onprem', '--global', 'g:1', '--zone-ca-ttl', '1h'], /--zone-ca-ttl is only for --role global, which signs the zones' intermediates \(the role is zone\)/);
  refused(['--role', 'global', '--zone-ca-ttl', 'a year'], /--zone-ca-ttl must be a duration such as 8760h or 720h30m; got 'a year'/);
  refused(['--role', 'global', '--zone-ca-ttl', '30s'], /--zone-ca-ttl must be at least 1m; got '30s'/);
});
