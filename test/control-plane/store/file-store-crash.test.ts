// The file store after crashes: torn and damaged journals, leftovers, the directory
// lock, and a writer process killed with SIGKILL in the middle of its work.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { openStore, type OpenStoreOptions } from '../../../control-plane/store/index.ts';
import { waitFor } from '../../helpers/wait.ts';
import { NAMESPACE, specFor, TYPE as T, type Line } from './fixtures/store-writer.ts';

const WRITER = fileURLToPath(new URL('./fixtures/store-writer.ts', import.meta.url));
const ROUNDS = 5;
const tempDir = () => join(mkdtempSync(join(tmpdir(), 'sluice-store-crash-')), 'data');
const open = (dir: string, opts: OpenStoreOptions = {}) => openStore(`file:${dir}`, { scopeOf: () => 'Namespaced', log: () => {}, ...opts });
const widget = (name: string, spec: unknown = {}, namespace = 'default'): Resource => ({ apiVersion: 'test.sluice.dev/v1', kind: 'Widget', metadata: { name, namespace }, spec });
const journal = (dir: string) => join(dir, 'journal.log');

/** A store with three writes in its journal, closed; returns the journal's length. */
async function threeWrites(dir: string): Promise<number> {
  const store = await open(dir);
  for (const name of ['a', 'b', 'c']) await store.create(T, widget(name, { name }));
  await store.close();
  return statSync(journal(dir)).size;
}

async function assertLoadsAfterTornTail(dir: string, cleanLength: number) {
  const warnings: unknown[] = [];
  const store = await open(dir, { log: (_l, msg, fields) => warnings.push({ msg, ...fields }) });
  assert.deepEqual((await store.list(T)).items.map((r) => r.metadata.name), ['a', 'b', 'c']);
  assert.equal(statSync(journal(dir)).size, cleanLength, 'the torn tail is cut off');
  assert.match(JSON.stringify(warnings), /torn by a crash/);
  assert.equal((await store.create(T, widget('d'))).metadata.resourceVersion, '4');
  await store.close();
  const again = await open(dir);
  assert.deepEqual((await again.list(T)).items.map((r) => r.metadata.name), ['a', 'b', 'c', 'd']);
  await again.close();
}

describe('file store: damaged files', () => {
  test('half a record at the end of the journal is cut off and the store goes on', async () => {
    const dir = tempDir();
    const clean = await threeWrites(dir);
    const whole = readFileSync(journal(dir));
    const lastRecord = whole.subarray(whole.lastIndexOf(0x0a, whole.length - 2) + 1);
    appendFileSync(journal(dir), lastRecord.subarray(0, lastRecord.length >> 1));
    await assertLoadsAfterTornTail(dir, clean);
  });

  test('a last record with a bad checksum is cut off and the store goes on', async () => {
    const dir = tempDir();
    const clean = await threeWrites(dir);
    appendFileSync(journal(dir), '0badc0de {"events":[]}\n');
    await assertLoadsAfterTornTail(dir, clean);
  });

  test('a damaged record with records after it is refused, naming the file and offset', async () => {
    const dir = tempDir();
    await threeWrites(dir);
    const bytes = readFileSync(journal(dir));
    const second = bytes.indexOf(0x0a) + 1;
    bytes[second + 20] ^= 0x01;
    writeFileSync(journal(dir), bytes);
    await assert.rejects(open(dir), {
      message: new RegExp(`^${journal(dir)} is damaged at byte offset ${second} \\(record 2\\): checksum mismatch, and more records follow it.*truncate -s ${second} `),
    });
    assert.equal(readFileSync(journal(dir)).compare(bytes), 0, 'a refused journal is left as it was');
    assert.ok(!existsSync(join(dir, 'LOCK')), 'a refused open releases the lock');
  });

  test('a journal with a whole record missing from its middle is refused', async () => {
    const dir = tempDir();
    await threeWrites(dir);
    const records = readFileSync(journal(dir), 'utf8').split('\n');
    writeFileSync(journal(dir), [records[0], ...records.slice(2)].join('\n'));
    await assert.rejects(open(dir), { message: new RegExp(`^${journal(dir)} is damaged at byte offset ${records[0].length + 1} \\(record 2\\): revision 3 follows 1`) });
  });

  test('a damaged snapshot is refused', async () => {
    const dir = tempDir();
    const store = await open(dir, { compactEvery: 2 });
    for (const name of ['a', 'b']) await store.create(T, widget(name));
    await store.close();
    const bytes = readFileSync(join(dir, 'snapshot.json'));
    bytes[bytes.length - 5] ^= 0x01;
    writeFileSync(join(dir, 'snapshot.json'), bytes);
    await assert.rejects(open(dir), { message: `${join(dir, 'snapshot.json')} is damaged: checksum mismatch. Refusing to open the store without it: restore the directory from a backup.` });
  });

  test('a temp snapshot a crash left behind is ignored and removed', async () => {
    const dir = tempDir();
    await threeWrites(dir);
    writeFileSync(join(dir, 'snapshot.json.tmp'), '{"half a snap');
    const store = await open(dir);
    assert.equal((await store.list(T)).items.length, 3);
    assert.ok(!existsSync(join(dir, 'snapshot.json.tmp')));
    await store.close();
  });
});

describe('file store: the directory lock', () => {
  test('a second open of a directory in use is refused', async () => {
    const dir = tempDir();
    const store = await open(dir);
    await assert.rejects(open(dir), { message: `${dir} is in use by process ${process.pid} (lock file ${join(dir, 'LOCK')}); stop that process first, or use another directory` });
    await store.close();
  });

  test('a live process holding the lock keeps it; a dead one loses it', async (t) => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    t.after(() => alive.kill('SIGKILL'));
    writeFileSync(join(dir, 'LOCK'), `${alive.pid} 1\n`);
    await assert.rejects(open(dir), { message: new RegExp(`is in use by process ${alive.pid} `) });
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(dead, 'exit');
    writeFileSync(join(dir, 'LOCK'), `${dead.pid} 1\n`);
    const store = await open(dir);
    assert.match(readFileSync(join(dir, 'LOCK'), 'utf8'), new RegExp(`^${process.pid} `));
    await store.close();
  });
});

describe('file store: kill -9', () => {
  test('every acknowledged write survives SIGKILL at random moments, and writes go on from a higher revision', async (t) => {
    const dir = tempDir();
    /** What each name holds per the acknowledged writes: its seq (undefined: absent) and revision. */
    const model = new Map<string, { seq?: string; revision?: number }>();
    let highest = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const report = join(dirname(dir), `report-${round}.jsonl`);
      writeFileSync(report, '');
      const child = spawn(process.execPath, [WRITER, dir, String(round), report], { stdio: ['ignore', 'ignore', 'pipe'] });
      t.after(() => child.kill('SIGKILL'));
      const exited = once(child, 'close');
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const lines = () => readFileSync(report, 'utf8').split('\n').slice(0, -1).map((text) => JSON.parse(text) as Line);
      const acked = () => lines().filter((l) => 'ack' in l).length;
      await waitFor(() => lines().length > 0 || stderr !== '', 10_000, 'the writer to open the store');
      // Round 1 dies at once, maybe before its first ack; the others in the thick of it.
      const target = round === 1 ? 0 : 20 + Math.floor(Math.random() * 300);
      await waitFor(() => acked() >= target || stderr !== '', 10_000, `${target} acknowledged writes`);
      await sleep(Math.floor(Math.random() * 20));
      child.kill('SIGKILL');
      const [code, signal] = await exited;
      assert.deepEqual([code, signal, stderr], [null, 'SIGKILL', ''], 'the writer ran until it was killed');

      const inFlight = new Map<string, { op: string; seq: string }>();
      for (const line of lines()) {
        if ('ready' in line) {
          assert.ok(line.revision >= highest, `the writer opened at revision ${line.revision}, below ${highest}`);
        } else if ('intent' in line) {
          inFlight.set(line.intent.name, line.intent);
        } else {
          const { op, name, seq, revision } = line.ack;
          inFlight.delete(name);
          model.set(name, op === 'delete' ? {} : { seq, revision });
          highest = Math.max(highest, revision);
        }
      }
      const store = await open(dir);
      const stored = new Map((await store.list(T, { namespace: NAMESPACE })).items.map((r) => [r.metadata.name, r]));
      for (const name of new Set([...model.keys(), ...inFlight.keys(), ...stored.keys()])) {
        const now = stored.get(name);
        const seq = (now?.spec as { seq?: string } | undefined)?.seq;
        const acked = model.get(name) ?? {};
        const pending = inFlight.get(name);
        const allowed = [acked.seq, ...(pending ? [pending.op === 'delete' ? undefined : pending.seq] : [])];
        assert.ok(allowed.includes(seq), `round ${round}: ${name} holds ${seq}, expected one of ${JSON.stringify(allowed)}`);
        if (now !== undefined) assert.deepEqual(now.spec, specFor(seq!), `round ${round}: ${name} content`);
        if (now !== undefined && seq === acked.seq) assert.equal(now.metadata.resourceVersion, String(acked.revision), `round ${round}: ${name} revision`);
        model.set(name, now === undefined ? {} : { seq, revision: Number(now.metadata.resourceVersion) });
      }
      assert.ok(store.revision() >= highest, `round ${round}: revision ${store.revision()} is below the acknowledged ${highest}`);
      const probe = await store.create(T, widget(`probe-${round}`, {}, 'probe'));
      assert.equal(Number(probe.metadata.resourceVersion), store.revision());
      assert.ok(store.revision() > highest);
      highest = store.revision();
      await store.close();
    }
  });
});
