// The embedded file store as the control plane uses it: real files in a temp directory,
// reopened as a restarted control plane would reopen them.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { openStore, type OpenStoreOptions, type ResourceStore, type WatchEvent } from '../../../control-plane/store/index.ts';
import { waitFor } from '../../helpers/wait.ts';

const T = 'widgets.test.sluice.dev';
const MESHES = 'meshes.mesh.sluice.dev';
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const tempDir = () => join(mkdtempSync(join(tmpdir(), 'sluice-store-')), 'data');
const open = (dir: string, opts: OpenStoreOptions = {}) =>
  openStore(`file:${dir}`, { clock: () => NOW, scopeOf: (t) => (t === T ? 'Namespaced' : t === MESHES ? 'Cluster' : undefined), ...opts });
const widget = (name: string, spec: unknown = { size: 1 }, namespace = 'default'): Resource => ({ apiVersion: 'test.sluice.dev/v1', kind: 'Widget', metadata: { name, namespace }, spec });
const journalRecords = (dir: string) => readFileSync(join(dir, 'journal.log'), 'utf8').split('\n').filter(Boolean).length;

/** Collects a watch's events; `upTo(rev)` waits until the last one has that revision. */
async function collect(store: ResourceStore, opts: Parameters<ResourceStore['watch']>[0]) {
  const events: WatchEvent[] = [];
  const watch = await store.watch(opts, (e) => events.push(e));
  const upTo = (rev: number) => waitFor(() => events.at(-1)?.revision === rev, 5000, `an event at revision ${rev}`);
  return { events, watch, upTo };
}

describe('file store: reads and writes', () => {
  test('create sets the metadata the server owns and returns a frozen copy', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const mine = widget('a', { size: 1 });
    mine.metadata.uid = 'client-made';
    mine.metadata.resourceVersion = '99';
    const created = await store.create(T, mine);
    assert.match(created.metadata.uid!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(created.metadata.creationTimestamp, '2026-01-02T03:04:05.000Z');
    assert.equal(created.metadata.generation, 1);
    assert.equal(created.metadata.resourceVersion, '1');
    assert.equal(store.revision(), 1);
    (mine.spec as { size: number }).size = 2;
    const got = await store.get(T, 'default', 'a');
    assert.deepEqual(got.spec, { size: 1 }, "the caller's object is not the stored one");
    assert.throws(() => ((got.spec as { size: number }).size = 3), TypeError);
    assert.throws(() => (got.metadata.name = 'b'), TypeError);
  });

  test('list returns one type, sorted by namespace then name, at the revision it was read', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    for (const [ns, name] of [['b', 'x'], ['a', 'z'], ['b', 'a'], ['a', 'b']]) await store.create(T, widget(name, {}, ns));
    await store.create(MESHES, { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: {} });
    const all = await store.list(T);
    assert.deepEqual(all.items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), ['a/b', 'a/z', 'b/a', 'b/x']);
    assert.equal(all.revision, 5);
    assert.deepEqual((await store.list(T, { namespace: 'b' })).items.map((r) => r.metadata.name), ['a', 'x']);
    assert.deepEqual((await store.list('nothing.test')).items, []);
    assert.deepEqual((await store.list(MESHES)).items.map((r) => r.metadata.name), ['default']);
  });

  test('every error has its code', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const a = await store.create(T, widget('a'));
    await assert.rejects(store.get(T, 'default', 'nope'), { code: 'NOT_FOUND', message: "widgets.test.sluice.dev 'default/nope' does not exist" });
    await assert.rejects(store.update(T, widget('nope')), { code: 'NOT_FOUND' });
    await assert.rejects(store.delete(T, 'default', 'nope'), { code: 'NOT_FOUND' });
    await assert.rejects(store.create(T, widget('a')), { code: 'ALREADY_EXISTS' });
    await store.update(T, { ...widget('a', { size: 2 }), metadata: { ...a.metadata } });
    await assert.rejects(store.update(T, { ...widget('a', { size: 3 }), metadata: { ...a.metadata } }), { code: 'CONFLICT', message: /resourceVersion "1", it is now 2/ });
    await assert.rejects(store.delete(T, 'default', 'a', { resourceVersion: '1' }), { code: 'CONFLICT' });
    await assert.rejects(store.create(T, { apiVersion: 'v1', kind: 'Widget', metadata: { namespace: 'default' } } as Resource), { code: 'INVALID', violations: [{ path: 'metadata.name', message: 'is required' }] });
    await assert.rejects(store.create(T, { apiVersion: 'v1', kind: 'Widget' } as Resource), { code: 'INVALID' });
    await assert.rejects(store.create(T, { ...widget('b'), metadata: { name: 'b' } }), { code: 'INVALID', message: /namespaced: give a namespace/ });
    await assert.rejects(store.get(T, undefined, 'a'), { code: 'INVALID' });
    await assert.rejects(store.create(MESHES, { ...widget('m'), metadata: { name: 'm', namespace: 'x' } }), { code: 'INVALID', message: /cluster-scoped: remove the namespace 'x'/ });
    await assert.rejects(store.watch({ fromRevision: -1 }, () => {}), { code: 'INVALID' });
    assert.equal(store.revision(), 2, 'no failed write took a revision');
  });

  test('scopes default to the kinds the API serves', async (t) => {
    const store = await openStore(`file:${tempDir()}`);
    t.after(() => store.close());
    await assert.rejects(store.get(MESHES, 'default', 'x'), { code: 'INVALID', message: /cluster-scoped/ });
    await assert.rejects(openStore('etcd://127.0.0.1:2379'), { message: "unknown store 'etcd://127.0.0.1:2379'; use file:DIR or kubernetes" });
  });

  test('update keeps uid and creationTimestamp and bumps generation only when spec changes', async (t) => {
    let now = NOW;
    const store = await open(tempDir(), { clock: () => now });
    t.after(() => store.close());
    const a = await store.create(T, widget('a', { size: 1 }));
    now += 60_000;
    const labelled = await store.update(T, { ...widget('a', { size: 1 }), metadata: { name: 'a', namespace: 'default', labels: { tier: 'x' }, uid: 'forged', creationTimestamp: 'forged' } });
    assert.deepEqual([labelled.metadata.generation, labelled.metadata.resourceVersion, labelled.metadata.uid, labelled.metadata.creationTimestamp], [1, '2', a.metadata.uid, a.metadata.creationTimestamp]);
    const resized = await store.update(T, { ...structuredClone(labelled), spec: { size: 2 } });
    assert.deepEqual([resized.metadata.generation, resized.metadata.resourceVersion], [2, '3']);
    const withStatus = await store.update(T, { ...structuredClone(resized), status: { ready: true } });
    assert.deepEqual([withStatus.metadata.generation, withStatus.metadata.resourceVersion], [2, '4'], 'a status change is a write, not a spec change');
  });

  test('an update that changes nothing returns the stored resource with no new revision and no event', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const a = await store.create(T, { ...widget('a', { size: 1 }), metadata: { name: 'a', namespace: 'default', labels: { x: '1' } } });
    const { events } = await collect(store, {});
    const same = await store.update(T, { ...widget('a', { size: 1 }), metadata: { name: 'a', namespace: 'default', labels: { x: '1' } } });
    assert.equal(same, a);
    const sameConditional = await store.update(T, structuredClone(a));
    assert.equal(sameConditional.metadata.resourceVersion, '1');
    assert.equal(store.revision(), 1);
    await store.create(T, widget('b'));
    await waitFor(() => events.length === 1);
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name, e.revision]), [['ADDED', 'b', 2]]);
  });

  test('delete returns the resource as it was; its event carries the delete revision', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const a = await store.create(T, widget('a'));
    const { events, upTo } = await collect(store, { resourceType: T });
    const gone = await store.delete(T, 'default', 'a', { resourceVersion: '1' });
    assert.deepEqual(gone, a);
    await upTo(2);
    assert.equal(events[0].type, 'DELETED');
    assert.equal(events[0].object.metadata.resourceVersion, '2');
    assert.deepEqual(events[0].object.spec, a.spec);
    await assert.rejects(store.get(T, 'default', 'a'), { code: 'NOT_FOUND' });
  });
});

describe('file store: concurrency', () => {
  test('of 50 concurrent updates with one resourceVersion exactly one succeeds', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const a = await store.create(T, widget('a', { size: 0 }));
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.update(T, { ...structuredClone(a), spec: { size: i + 1 } })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal(r.reason.code, 'CONFLICT');
    assert.deepEqual((await store.get(T, 'default', 'a')).spec, (won[0] as PromiseFulfilledResult<Resource>).value.spec);
    assert.equal(store.revision(), 2);
  });

  test('of concurrent creates of one name one wins', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create(T, widget('a', { by: i }))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal(r.reason.code, 'ALREADY_EXISTS');
  });

  test('concurrent writes share fdatasyncs (group commit), and none is readable before it is durable', async (t) => {
    const dir = tempDir();
    const store = await open(dir);
    t.after(() => store.close());
    const writes = Array.from({ length: 100 }, (_, i) => store.create(T, widget(`w${i}`)));
    await assert.rejects(store.get(T, 'default', 'w0'), { code: 'NOT_FOUND' });
    assert.equal((await store.list(T)).items.length, 0);
    assert.equal(store.revision(), 0);
    await Promise.all(writes);
    assert.equal((await store.list(T)).items.length, 100);
    assert.ok(journalRecords(dir) < 100, `100 writes took ${journalRecords(dir)} journal records`);
  });

  test('close waits for the writes in flight; later calls reject', async () => {
    const dir = tempDir();
    const store = await open(dir);
    const writes = Array.from({ length: 20 }, (_, i) => store.create(T, widget(`w${i}`)));
    await Promise.all([store.close(), store.close()]);
    assert.equal((await Promise.all(writes)).length, 20);
    await assert.rejects(store.get(T, 'default', 'w0'), { message: `the store file:${dir} is closed` });
    await assert.rejects(store.create(T, widget('late')), { message: /is closed/ });
    assert.throws(() => store.revision(), /is closed/);
    assert.ok(!readdirSync(dir).includes('LOCK'), 'the lock is released');
    const again = await open(dir);
    assert.equal((await again.list(T)).items.length, 20);
    await again.close();
  });
});

describe('file store: durability and watches', () => {
  test('a reopened store holds everything, with modes 0700 and 0600', async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (let i = 0; i < 5; i++) await first.create(T, widget(`w${i}`, { i }));
    await first.update(T, widget('w1', { i: 'one' }));
    await first.delete(T, 'default', 'w2');
    const before = await first.list(T);
    await first.close();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'journal.log')).mode & 0o777, 0o600);
    const second = await open(dir);
    assert.deepEqual(await second.list(T), before);
    assert.equal((await second.create(T, widget('next'))).metadata.resourceVersion, '8');
    await second.close();
  });

  test('a watch replays from a revision and goes on live, without gaps, while writes race it', async (t) => {
    const store = await open(tempDir());
    t.after(() => store.close());
    for (let i = 0; i < 10; i++) await store.create(T, widget(`w${i}`));
    const writes = Array.from({ length: 40 }, (_, i) => store.update(T, widget(`w${i % 10}`, { round: i })));
    const { events, watch, upTo } = await collect(store, { fromRevision: 5 });
    const other = await collect(store, { resourceType: T, namespace: 'default', fromRevision: 5 });
    await Promise.all(writes);
    await upTo(50);
    await other.upTo(50);
    watch.close();
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 45 }, (_, i) => i + 6));
    assert.deepEqual(other.events, events);
    assert.deepEqual(events.slice(0, 5).map((e) => e.type), Array(5).fill('ADDED'));
  });

  test('a watch filters by type and namespace, and a throwing watcher harms no one', async (t) => {
    const warnings: string[] = [];
    const store = await open(tempDir(), { log: (_level, msg) => warnings.push(msg) });
    t.after(() => store.close());
    await store.watch({}, () => {
      throw new Error('watcher bug');
    });
    const inB = await collect(store, { resourceType: T, namespace: 'b' });
    await store.create(T, widget('x', {}, 'a'));
    await store.create(MESHES, { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'm' } });
    await store.create(T, widget('y', {}, 'b'));
    await inB.upTo(3);
    assert.deepEqual(inB.events.map((e) => e.object.metadata.name), ['y']);
    await waitFor(() => warnings.length === 3);
    assert.match(warnings[0], /watcher threw/);
  });

  test('a watch after a restart resumes from a revision seen before it', async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (let i = 0; i < 6; i++) await first.create(T, widget(`w${i}`));
    await first.close();
    const second = await open(dir);
    const { events, upTo } = await collect(second, { fromRevision: 4 });
    await second.delete(T, 'default', 'w0');
    await upTo(7);
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name, e.revision]), [['ADDED', 'w4', 5], ['ADDED', 'w5', 6], ['DELETED', 'w0', 7]]);
    await second.close();
  });

  test('compaction snapshots, expires old history, and reopens to the same state', async () => {
    const dir = tempDir();
    const store = await open(dir, { compactEvery: 5 });
    for (let i = 0; i < 12; i++) await store.create(T, widget(`w${i}`, { i }));
    assert.equal(journalRecords(dir), 2, 'the journal restarted after revision 10');
    await assert.rejects(store.watch({ fromRevision: 1 }, () => {}), { code: 'EXPIRED', message: /^revision 1 is compacted; list and watch from the list's revision/ });
    const recent = await collect(store, { fromRevision: 9 });
    await recent.upTo(12);
    const before = await store.list(T);
    await store.close();
    const reopened = await open(dir, { compactEvery: 5 });
    assert.deepEqual(await reopened.list(T), before);
    await assert.rejects(reopened.watch({ fromRevision: 9 }, () => {}), { code: 'EXPIRED' });
    const resumed = await collect(reopened, { fromRevision: 10 });
    await resumed.upTo(12);
    assert.deepEqual(resumed.events.map((e) => e.revision), [11, 12]);
    await reopened.close();
  });
});
