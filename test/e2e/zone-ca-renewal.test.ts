// A zone's intermediate CA is renewed over its link before it ends (issue 18): a global
// that signs one-minute intermediates (--zone-ca-ttl 1m), one zone. The zone asks when a
// third of its intermediate's life is left, keeps the new one in its CA folder, signs with
// it, and links again under it (the global logs which intermediate proves each link);
// restarted, it starts on the renewed CA. Without renewal the global would refuse the
// zone's link once its first intermediate ended (ZONE_CA_EXPIRED).

import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sluicectl } from '../control-plane/cli/harness.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';

const TD = 'renewal.sluice.dev';
const root = mkdtempSync(join(tmpdir(), 'sluice-zone-renewal-'));
const started: ControlPlaneProcess[] = [];

after(async () => {
  await Promise.all(started.map((c) => c.stop()));
});

const ctl = async (cp: ControlPlaneProcess, argv: string[]) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile } });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function eventually<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const onlineAtGlobal = async (global: ControlPlaneProcess) => {
  const z = JSON.parse(await ctl(global, ['get', 'zones', '-o', 'json'])) as { items: { name: string; status: string; lastSync: string }[] };
  return z.items.find((r) => r.name === 'onprem');
};

test('a zone renews its intermediate over the link, links again under the renewed one, and restarts on it', { timeout: 150_000 }, async () => {
  const globalXds = await closedPort();
  const global = await startControlPlane({ dataDir: join(root, 'global'), args: ['--role', 'global', '--trust-domain', TD, '--xds-addr', `127.0.0.1:${globalXds}`, '--zone-ca-ttl', '1m'] });
  started.push(global);
  const tokenFile = join(root, 'onprem.zone-token');
  await ctl(global, ['zone', 'token', 'create', 'onprem', '--ttl', '10m', '--out', tokenFile]);
  const zoneArgs = ['--role', 'zone', '--zone', 'onprem', '--global', `127.0.0.1:${globalXds}`, '--xds-addr', `127.0.0.1:${await closedPort()}`];
  let zone = await startControlPlane({ dataDir: join(root, 'onprem'), args: [...zoneArgs, '--zone-token', tokenFile], timeoutMs: 30_000 });
  started.push(zone);
  const caFile = join(root, 'onprem', 'ca', 'ca.pem');
  const first = new X509Certificate(readFileSync(caFile));
  const rootCert = new X509Certificate(readFileSync(join(root, 'global', 'ca', 'root.pem')));
  assert.ok(first.verify(rootCert.publicKey));
  // The global's TTL holds: a minute (plus the backdating every certificate gets).
  assert.ok(first.validToDate.getTime() - Date.now() <= 61_000, `the first intermediate ends ${first.validToDate.toISOString()}`);

  // Two thirds through, the zone asks; the renewed intermediate replaces the first on disk.
  const renewed = await eventually(
    'the zone keeps a renewed intermediate',
    () => {
      const c = new X509Certificate(readFileSync(caFile));
      return c.serialNumber !== first.serialNumber ? c : undefined;
    },
    60_000,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nzone:\n${zone.stderr()}\nglobal:\n${global.stderr()}`);
  });
  assert.ok(renewed.verify(rootCert.publicKey), 'the renewed intermediate is signed by the global root');
  assert.ok(renewed.validToDate > first.validToDate);
  assert.ok(!renewed.publicKey.equals(first.publicKey), 'a new key, not the old one re-signed');
  assert.equal(renewed.subjectAltName, first.subjectAltName);
  assert.ok(renewed.checkPrivateKey(createPrivateKey(readFileSync(join(root, 'onprem', 'ca', 'ca-key.pem')))), 'ca-key.pem is the renewed intermediate\'s key');
  assert.match(zone.stderr(), /zone intermediate CA renewed/);
  assert.match(global.stderr(), /"msg":"zone intermediate CA renewed".*"zone":"onprem"/);
  // What the zone's API reports as its CA (sluicectl check reads it) is the renewed one: the running zone signs with it.
  const report = (await (await fetch(`${zone.url}/debug/certificates`, { headers: { authorization: `Bearer ${readFileSync(zone.tokenFile, 'utf8').trim()}` } })).json()) as { ca: { certificates: { role: string; fingerprintSha256: string }[] } };
  const intermediate = report.ca.certificates.find((c) => c.role === 'intermediate');
  assert.equal(intermediate?.fingerprintSha256.replaceAll(':', '').toLowerCase(), renewed.fingerprint256.replaceAll(':', '').toLowerCase());

  // The zone links again under the renewed intermediate: the global says which one proves it.
  const renewedEnd = renewed.validToDate.toISOString();
  await eventually(
    'onprem online at the global under its renewed intermediate',
    async () => (global.stderr().split('\n').some((l) => l.includes('"msg":"zone online"') && l.includes(`"intermediateNotAfter":"${renewedEnd}"`)) ? true : undefined),
    15_000,
  );
  const row = await onlineAtGlobal(global);
  assert.equal(row?.status, 'online');
  // Asked once per stream, signed once: no second intermediate for a key already answered.
  assert.equal(global.stderr().split('\n').filter((l) => l.includes('"msg":"zone intermediate CA renewed"')).length, 1);
  assert.doesNotMatch(zone.stderr(), /did not ask with/);

  // Restarted, the zone starts on what it kept (no token needed) and links.
  await zone.stop();
  started.splice(started.indexOf(zone), 1);
  zone = await startControlPlane({ dataDir: join(root, 'onprem'), args: zoneArgs, timeoutMs: 30_000 });
  started.push(zone);
  const restartedAt = Date.now();
  await eventually(
    'the restarted zone links on its renewed intermediate',
    async () => {
      const row = await onlineAtGlobal(global);
      return row?.status === 'online' && Date.parse(row.lastSync) > restartedAt ? row : undefined;
    },
    20_000,
  );
});
