// The proxy's certificate client end to end against the real certificate service (real
// gRPC over TLS): the first join with a token, the files proxy/tls's SvidStore reads,
// renewal over the same stream, a restart that needs no token, and a reconnect after the
// control plane went away. Timers are handed to the test, which fires them: no waiting on
// the wall clock, and the renewal delay itself is checked.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { addCertificateService, controlPlaneCredentials } from '../../../control-plane/ca/index.ts';
import { SvidClient, type IssuedSvid, type SvidClientOptions, type Timers } from '../../../proxy/xds/svid-client.ts';
import { SvidStore } from '../../../proxy/tls/svid-store.ts';
import { waitFor } from '../../helpers/wait.ts';
import { ORDERS_ID, startService, type Service } from '../../control-plane/ca/fixture.ts';

type Timer = { fn: () => void; ms: number; what: 'renewal' | 'reconnect' };

function manualTimers(): Timers & { pending: Timer[]; fire(what: Timer['what']): Timer } {
  const pending: Timer[] = [];
  return {
    pending,
    set(fn, ms, what) {
      const t = { fn, ms, what };
      pending.push(t);
      return t;
    },
    clear(h) {
      const i = pending.indexOf(h as Timer);
      if (i >= 0) pending.splice(i, 1);
    },
    fire(what) {
      const i = pending.findIndex((t) => t.what === what);
      assert.ok(i >= 0, `no ${what} timer is set`);
      const [t] = pending.splice(i, 1);
      t.fn();
      return t;
    },
  };
}

const nextIssued = (c: SvidClient) =>
  new Promise<IssuedSvid>((resolve) => {
    const off = c.onIssued((i) => {
      off();
      resolve(i);
    });
  });

describe('the proxy certificate client', { timeout: 20_000 }, () => {
  let svc: Service;
  const dir = join(mkdtempSync(join(tmpdir(), 'sluice-svid-client-')), 'identity');
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') };
  const clients: SvidClient[] = [];
  const logs: string[] = [];
  // 0.25 puts the renewal at 45 % of the lifetime: half-way, minus the jitter.
  const client = (opts: Partial<SvidClientOptions>, timers: Timers) => {
    const c = new SvidClient({ address: svc.address, trustBundle: svc.ca.bundle, dir, serverName: 'localhost', ...opts }, { now: svc.clock.now, log: (_l, msg) => void logs.push(msg), random: () => 0.25, timers });
    clients.push(c);
    return c;
  };
  const store = () => new SvidStore(files, { now: svc.clock.now, log: () => {} });
  const issuedVia = (via: string) => svc.logs.filter((l) => l.msg === 'svid issued' && l.fields?.via === via).length;

  before(async () => {
    svc = await startService();
  });
  after(async () => {
    for (const c of clients) c.close();
    await svc.close();
  });

  test('the first join writes key.pem (0600), cert.pem and bundle.pem that SvidStore loads, and schedules renewal at 50 % with jitter', async () => {
    const token = await svc.mint('orders-vm-1');
    const timers = manualTimers();
    const c = client({ joinToken: token, identity: ORDERS_ID }, timers);
    const first = await c.start();
    assert.equal(first.source, 'join-token');
    assert.deepEqual([first.svid.identity, first.workload, first.namespace], [ORDERS_ID, 'orders-vm-1', 'shop']);
    assert.equal(statSync(files.key).mode & 0o777, 0o600);
    assert.equal(readFileSync(files.bundle, 'utf8'), svc.ca.bundle);
    assert.ok(!existsSync(join(dir, 'key.pem.new')));
    const loaded = await store().reload();
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error);
    assert.equal(loaded.value.identity, ORDERS_ID);
    assert.equal(loaded.value.fingerprint, first.svid.fingerprint);
    const [renewal] = timers.pending.filter((t) => t.what === 'renewal');
    const { notBefore, notAfter } = first.svid;
    const due = notBefore.getTime() + 0.45 * (notAfter.getTime() - notBefore.getTime());
    assert.ok(Math.abs(svc.clock.now() + renewal.ms - due) < 5000, `renewal in ${renewal.ms} ms, due at ${new Date(due).toISOString()}`);

    // --- renewal: a new key, over the same stream (still the one the token opened) ---
    const oldKey = readFileSync(files.key, 'utf8');
    const renewed = nextIssued(c);
    timers.fire('renewal');
    const second = await renewed;
    assert.equal(second.source, 'renewal');
    assert.notEqual(second.svid.fingerprint, first.svid.fingerprint);
    assert.notEqual(readFileSync(files.key, 'utf8'), oldKey);
    assert.equal(statSync(files.key).mode & 0o777, 0o600);
    assert.ok(!existsSync(join(dir, 'key.pem.new')));
    assert.equal(issuedVia(`join-token ${token.split('.')[1]}`), 2, 'both certificates came over the stream the token opened');
    const reloaded = await store().reload();
    assert.ok(reloaded.ok, reloaded.ok ? '' : reloaded.error);
    assert.equal(reloaded.value.fingerprint, second.svid.fingerprint);
    assert.equal(timers.pending.filter((t) => t.what === 'renewal').length, 1, 'the next renewal is scheduled');
    c.close();
  });

  test('a restart with a valid SVID in the folder needs no token, and renews by presenting it', async () => {
    const before = await store().reload();
    assert.ok(before.ok);
    const timers = manualTimers();
    const c = client({}, timers);
    const ready = await c.start();
    assert.equal(ready.source, 'files');
    assert.equal(ready.svid.fingerprint, before.value.fingerprint);
    assert.equal(ready.namespace, 'shop');
    // Its node.id: the SVID names no Workload, so the folder keeps the one it joined as.
    assert.equal(ready.workload, 'orders-vm-1');
    assert.equal(readFileSync(join(dir, 'workload'), 'utf8'), 'orders-vm-1\n');
    const renewed = nextIssued(c);
    timers.fire('renewal');
    assert.equal((await renewed).source, 'renewal');
    const leaf = new X509Certificate(before.value.pem.cert);
    assert.equal(issuedVia(`client-svid ${leaf.serialNumber}`), 1, 'authenticated by the SVID it already held');
    c.close();
  });

  test('a folder that does not say which Workload it is (an older one) asks the control plane before it is ready', async () => {
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'workload'));
    const c = client({}, manualTimers());
    const ready = await c.start();
    assert.equal(ready.source, 'renewal');
    assert.deepEqual([ready.workload, ready.namespace], ['orders-vm-1', 'shop']);
    assert.equal(readFileSync(join(dir, 'workload'), 'utf8'), 'orders-vm-1\n');
    c.close();
  });

  test('a join whose answer was lost is finished on the next start with the same key and token; a new key cannot reuse the token', async () => {
    const { rmSync } = await import('node:fs');
    const lost = join(mkdtempSync(join(tmpdir(), 'sluice-svid-client-')), 'identity');
    const token = await svc.mint('orders-vm-1');
    const first = client({ dir: lost, joinToken: token, identity: ORDERS_ID }, manualTimers());
    await first.start();
    first.close();
    const key = readFileSync(join(lost, 'key.pem'), 'utf8');
    // What a start that died between its CSR and the certificate leaves: the key only.
    for (const f of ['cert.pem', 'bundle.pem', 'workload']) rmSync(join(lost, f));
    const again = client({ dir: lost, joinToken: token, identity: ORDERS_ID }, manualTimers());
    const finished = await again.start();
    again.close();
    assert.equal(finished.source, 'join-token');
    assert.equal(readFileSync(join(lost, 'key.pem'), 'utf8'), key, 'the key the token was used for');
    const loaded = await new SvidStore({ cert: join(lost, 'cert.pem'), key: join(lost, 'key.pem'), bundle: join(lost, 'bundle.pem') }, { now: svc.clock.now, log: () => {} }).reload();
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error);
    // Someone else with the token but not the key.
    const other = join(mkdtempSync(join(tmpdir(), 'sluice-svid-client-')), 'identity');
    await assert.rejects(client({ dir: other, joinToken: token, identity: ORDERS_ID }, manualTimers()).start(), { code: 'TOKEN_USED' });
  });

  test('when the control plane goes away, the client reconnects with backoff and its SVID', async () => {
    const timers = manualTimers();
    const c = client({}, timers);
    await c.start();
    const port = Number(svc.address.split(':')[1]);
    svc.server.forceShutdown();
    const reconnect = await waitFor(() => timers.pending.find((t) => t.what === 'reconnect'), 5000, 'a reconnect timer');
    assert.ok(reconnect.ms >= 625 && reconnect.ms <= 1000, `first backoff between 0.5 s and 1 s with jitter, got ${reconnect.ms}`);
    // The control plane is back, on the same address, with the same CA and store.
    const server = new grpc.Server();
    addCertificateService(server, { store: svc.store, ca: svc.ca, now: svc.clock.now, log: (level, msg, fields) => void svc.logs.push({ level, msg, fields }), tokens: svc.tokens });
    await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, controlPlaneCredentials(svc.ca, '127.0.0.1', svc.clock.now()).credentials, (e, p) => (e === null ? resolve(p) : reject(e))));
    try {
      timers.fire('reconnect');
      const renewed = nextIssued(c);
      timers.fire('renewal');
      assert.equal((await renewed).source, 'renewal');
      assert.ok(String(svc.logs.at(-1)?.fields?.via).startsWith('client-svid '), 'the new stream is authenticated by the SVID');
    } finally {
      c.close();
      server.forceShutdown();
    }
  });

  test('without an SVID or a token it refuses to start; a refused token rejects start with the reason', async () => {
    const empty = join(mkdtempSync(join(tmpdir(), 'sluice-svid-client-')), 'identity');
    await assert.rejects(client({ dir: empty }, manualTimers()).start(), /holds no valid SVID and no join token was given/);
    const service = await startService();
    try {
      const token = await service.mint('orders-vm-1');
      await service.tokens.revoke('shop', token.split('.')[1]);
      const c = new SvidClient({ address: service.address, trustBundle: service.ca.bundle, dir: empty, joinToken: token, identity: ORDERS_ID, serverName: 'localhost' }, { now: Date.now, log: () => {}, random: Math.random, timers: manualTimers() });
      await assert.rejects(c.start(), { code: 'TOKEN_REVOKED', message: /was revoked/ });
    } finally {
      await service.close();
    }
  });
});
