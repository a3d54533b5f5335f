// An explicit token given to a proxy whose identity folder already holds an identity
// (issue 16): a valid one the control plane accepts is kept and the token is not spent; one
// that cannot be used (expired by the proxy's clock, refused by the control plane because
// its Workload is gone, of a CA the control plane no longer has) is replaced by a fresh
// join with the token, and the folder changes only once the new certificate is written. A
// token refused as well leaves the folder byte for byte as it was. Real certificate
// service over TLS, real files; the clock is the test's.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { SvidClient, type IssuedSvid, type Timers } from '../../../proxy/xds/svid-client.ts';
import { newCa } from '../../helpers/mesh-pki.ts';
import { csrFor, openStream, ORDERS_ID, sharedPki, startService, TRUST_DOMAIN, type Service } from '../../control-plane/ca/fixture.ts';

/** Timers that never fire: renewals and reconnects are not what these tests look at. */
const idle: Timers = { set: () => ({}), clear: () => {} };

type Log = { msg: string; fields?: Record<string, unknown> };

const services: Service[] = [];
const clients: SvidClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of services.splice(0)) await s.close();
});

async function service(opts: Parameters<typeof startService>[0] = {}): Promise<Service> {
  const s = await startService(opts);
  services.push(s);
  return s;
}

/** Starts a certificate client on `dir` against `svc`; `token` optional. Its log lines land in `logs`. */
function start(svc: Service, dir: string, logs: Log[], token?: string, address = svc.address): Promise<IssuedSvid> {
  const now = svc.clock.now;
  const c = new SvidClient(
    { address, trustBundle: svc.ca.bundle, dir, serverName: 'localhost', ...(token === undefined ? {} : { joinToken: token, identity: ORDERS_ID }) },
    { now, log: (_level, msg, fields) => void logs.push({ msg, fields }), random: () => 0.25, timers: idle },
  );
  clients.push(c);
  return c.start();
}

/** A folder that joined `svc` as `workload` with a token, and was stopped. */
async function joined(svc: Service, workload = 'orders-vm-1'): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'sluice-svid-rejoin-')), 'identity');
  const first = await start(svc, dir, [], await svc.mint(workload));
  assert.equal(first.source, 'join-token');
  clients.pop()!.close();
  return dir;
}

/** Every file of the folder and its bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

const tokenState = async (svc: Service, token: string) => (await svc.tokens.list('shop')).find((t) => t.id === token.split('.')[1])?.state;
const said = (logs: Log[], re: RegExp) => logs.some((l) => re.test(l.msg));

/** The Workload the folder spoke for is deleted; another one with the same service account takes its place. */
async function replaceWorkload(svc: Service): Promise<void> {
  await svc.store.delete('workloads.mesh.sluice.dev', 'shop', 'orders-vm-1');
  await svc.store.create('workloads.mesh.sluice.dev', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: 'orders-vm-2', namespace: 'shop' }, spec: { address: '10.0.3.8', serviceAccount: 'orders' } });
}

describe('a token given to a proxy whose folder already holds an identity', { timeout: 60_000 }, () => {
  test('a valid identity the control plane accepts is kept (renewed with itself), and the token is not spent', async () => {
    const svc = await service();
    const dir = await joined(svc);
    const before = snapshot(dir);
    const token = await svc.mint('orders-vm-1');
    const logs: Log[] = [];
    const ready = await start(svc, dir, logs, token);
    assert.equal(ready.workload, 'orders-vm-1');
    assert.equal(ready.svid.identity, ORDERS_ID);
    assert.equal(await tokenState(svc, token), 'active', 'the token can still be used');
    const kept = logs.find((l) => l.msg === 'using the SVID found in the identity folder');
    assert.match(String(kept?.fields?.join_token), /^not needed: .*the token is not spent$/, JSON.stringify(logs));
    assert.ok(!said(logs, /joining afresh/));
    // The certificate was renewed by presenting the folder's own (not by the token).
    const via = svc.logs.filter((l) => l.msg === 'svid issued').at(-1)?.fields?.via;
    assert.match(String(via), /^client-svid /);
    assert.equal(readFileSync(join(dir, 'workload'), 'utf8'), before.workload);
  });

  test('an identity expired by the proxy\'s clock is replaced by a join with the token', async () => {
    const svc = await service();
    const dir = await joined(svc);
    const before = snapshot(dir);
    svc.clock.advance(25 * 3_600_000); // past the SVID's 24 h
    const token = await svc.mint('orders-vm-1');
    const logs: Log[] = [];
    const ready = await start(svc, dir, logs, token);
    assert.equal(ready.source, 'join-token');
    assert.ok(said(logs, /the identity folder holds no usable SVID: joining afresh with the token/), JSON.stringify(logs));
    assert.equal(await tokenState(svc, token), 'used');
    const after = snapshot(dir);
    assert.notEqual(after['key.pem'], before['key.pem'], 'a new key');
    assert.notEqual(after['cert.pem'], before['cert.pem']);
    assert.deepEqual(Object.keys(after), ['bundle.pem', 'cert.pem', 'key.pem', 'workload'], 'nothing staged is left');
  });

  test('an identity the control plane refuses (its Workload deleted) is replaced by a join with the token, as the token\'s Workload', async () => {
    const svc = await service();
    const dir = await joined(svc);
    await replaceWorkload(svc);
    const token = await svc.mint('orders-vm-2');
    const logs: Log[] = [];
    const ready = await start(svc, dir, logs, token);
    assert.equal(ready.source, 'join-token');
    assert.equal(ready.workload, 'orders-vm-2');
    const refused = logs.find((l) => /the control plane refused the identity folder's SVID: joining afresh with the token/.test(l.msg));
    assert.ok(refused !== undefined, JSON.stringify(logs));
    assert.equal(refused.fields?.code, 'WORKLOAD_MISMATCH');
    assert.ok(said(logs, /joined afresh with the token/));
    assert.equal(readFileSync(join(dir, 'workload'), 'utf8'), 'orders-vm-2\n');
    assert.equal(await tokenState(svc, token), 'used');
    assert.deepEqual(Object.keys(snapshot(dir)), ['bundle.pem', 'cert.pem', 'key.pem', 'workload']);
  });

  test('an identity from a CA the control plane no longer has is replaced by a join with the token, and the folder takes the new trust bundle', async () => {
    const old = await service();
    const dir = await joined(old);
    await old.close();
    services.splice(services.indexOf(old), 1);
    // The control plane again, with its store but a new CA (its CA folder lost or replaced).
    const svc = await service({ ca: newCa(TRUST_DOMAIN) });
    const token = await svc.mint('orders-vm-1');
    const logs: Log[] = [];
    const ready = await start(svc, dir, logs, token);
    assert.equal(ready.source, 'join-token');
    const refused = logs.find((l) => /refused the identity folder's SVID/.test(l.msg));
    assert.ok(refused !== undefined, JSON.stringify(logs));
    assert.match(String(refused.fields?.error), /not of one CA/);
    assert.equal(readFileSync(join(dir, 'bundle.pem'), 'utf8'), svc.ca.bundle);
    assert.equal(await tokenState(svc, token), 'used');
  });

  test('a rejoin whose answer was lost (key.pem.new on disk, the token spent for it) is finished by the next start with the same token', async () => {
    const svc = await service();
    const dir = await joined(svc);
    await replaceWorkload(svc);
    const token = await svc.mint('orders-vm-2');
    // What a start that died between its CSR and the certificate leaves: the token used for the staged key.
    const keys = sharedPki().keys[0];
    const stream = openStream(svc.address, svc.ca.bundle);
    await stream.send({ csr: csrFor(keys, ORDERS_ID), join_token: token });
    stream.close();
    writeFileSync(join(dir, 'key.pem.new'), keys.privateKeyPem, { mode: 0o600 });
    const ready = await start(svc, dir, [], token);
    assert.equal(ready.source, 'join-token');
    assert.equal(ready.workload, 'orders-vm-2');
    assert.equal(readFileSync(join(dir, 'key.pem'), 'utf8'), keys.privateKeyPem, 'the key the token was spent for');
  });

  test('a token refused as well leaves the folder exactly as it was, and says both refusals', async () => {
    const svc = await service();
    const dir = await joined(svc);
    const before = snapshot(dir);
    await replaceWorkload(svc);
    const token = await svc.mint('orders-vm-2');
    await svc.tokens.revoke('shop', token.split('.')[1]);
    await assert.rejects(start(svc, dir, [], token), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TOKEN_REVOKED');
      assert.match(err.message, /refused the identity folder's SVID \(WORKLOAD_MISMATCH: Workload shop\/orders-vm-1 does not exist.*\), and then the token: .*was revoked/);
      return true;
    });
    assert.deepEqual(snapshot(dir), before);
  });
});

test('an address that cannot work is not a refusal of the identity: the start fails in one line, the token unspent and the folder as it was', { timeout: 60_000 }, async () => {
  const svc = await service();
  const dir = await joined(svc);
  const before = snapshot(dir);
  const token = await svc.mint('orders-vm-1');
  const logs: Log[] = [];
  await assert.rejects(start(svc, dir, logs, token, 'no-such-host.invalid:15012'), { code: 'UNREACHABLE', message: /^no-such-host\.invalid:15012: the host name does not resolve; check --control-plane$/ });
  assert.ok(!said(logs, /joining afresh/), JSON.stringify(logs));
  assert.equal(await tokenState(svc, token), 'active');
  assert.deepEqual(snapshot(dir), before);
});

describe('a new identity moves into place whole', { timeout: 60_000 }, () => {
  /** Two folders joined as the same Workload: the second one's files stand for a new identity staged in the first. */
  async function staged(svc: Service) {
    const dir = await joined(svc);
    const next = await joined(svc);
    return { dir, old: snapshot(dir), next: snapshot(next), nextDir: next };
  }

  test('a crash after the new certificate was written (cert.pem.new) is finished at the next start', async () => {
    const svc = await service();
    const { dir, next, nextDir } = await staged(svc);
    for (const f of ['key.pem', 'bundle.pem', 'cert.pem']) copyFileSync(join(nextDir, f), join(dir, `${f}.new`));
    writeFileSync(join(dir, 'workload.new'), 'orders-vm-1\n');
    // The crash came part-way through the renames: the key had moved, the certificate had not.
    renameSync(join(dir, 'key.pem.new'), join(dir, 'key.pem'));
    const ready = await start(svc, dir, []);
    assert.equal(ready.source, 'files');
    assert.deepEqual(snapshot(dir), next);
  });

  test('a crash before the new certificate was written leaves the old identity, and the staged files go', async () => {
    const svc = await service();
    const { dir, old, nextDir } = await staged(svc);
    for (const f of ['key.pem', 'bundle.pem']) copyFileSync(join(nextDir, f), join(dir, `${f}.new`));
    writeFileSync(join(dir, 'workload.new'), 'orders-vm-1\n');
    const ready = await start(svc, dir, []);
    assert.equal(ready.source, 'files');
    assert.deepEqual(snapshot(dir), old);
    assert.ok(!existsSync(join(dir, 'key.pem.new')));
  });
});
