// The embedded store (`--store file:DIR`): every resource in memory, every write made
// durable in DIR before it is acknowledged or visible.
//
//   DIR/journal.log    one checksummed record per commit, appended and fdatasync'ed (journal.ts)
//   DIR/snapshot.json  every resource at one revision, replaced by rename (snapshot.ts)
//   DIR/LOCK           the pid of the process that has DIR open (dir-lock.ts)
//
// Writes go through one commit loop. Writes that arrive while an fdatasync is in flight
// wait and go together into the next record (group commit: one fdatasync for many),
// each checked in order against the state plus the batch's earlier writes. Only after
// the record is durable does the loop change the state readers see, publish the events
// and answer the writers; a crash before that loses only writes nobody was told about.
//
// Opening loads the snapshot and replays the journal over it (recovery.ts). The
// replayed events are the watch history, so a watch resumes across a restart.
//
// Objects handed out (by reads, writes and watch events) are deep-frozen and shared: a
// caller that wants to change one takes a copy (structuredClone) and updates with it.

import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Resource, ResourceType } from '../api/resource.ts';
import { acquireDirLock, type DirLock } from './dir-lock.ts';
import { StoreError } from './errors.ts';
import { encodeCommit, JournalFile } from './journal.ts';
import { apply, JOURNAL_FILE, load, type State } from './recovery.ts';
import { removeTempSnapshot, syncDir, writeSnapshot, type SnapshotEntry } from './snapshot.ts';
import type { DeleteOptions, ListOptions, ListResult, ResourceStore, Watch, WatchEvent, WatchOptions } from './store.ts';
import { byNamespaceThenName, warnProcess, WatchHub, type StoreLogger } from './watch-hub.ts';
import { checkName, checkNamespace, checkResourceVersion, checkType, describe, keyOf, normalize, plan, type ScopeOf, type WriteOp } from './write-plan.ts';

export type FileStoreOptions = {
  /** Milliseconds since the epoch, for creationTimestamp. Default Date.now. */
  readonly clock?: () => number;
  /** Writes in the journal after which a snapshot replaces it. Default 10 000. */
  readonly compactEvery?: number;
  /** Events kept in memory for watches to resume from (at least). Default compactEvery. */
  readonly historyLimit?: number;
  /** The scope of each type, to refuse a namespace a cluster-scoped type cannot have (and the reverse). Default: no check. */
  readonly scopeOf?: ScopeOf;
  /** Where a throwing watcher, a torn journal tail and a failed snapshot are reported. */
  readonly log?: StoreLogger;
};

type Pending = { readonly op: WriteOp; readonly resolve: (r: Resource) => void; readonly reject: (err: unknown) => void };

export class FileStore implements ResourceStore {
  readonly dir: string;
  readonly #journal: JournalFile;
  readonly #lock: DirLock;
  readonly #hub: WatchHub;
  readonly #state: State;
  readonly #clock: () => number;
  readonly #compactEvery: number;
  readonly #scopeOf: ScopeOf;
  readonly #log: StoreLogger;
  #revision: number;
  /** Writes in journal.log, including those a snapshot already holds. */
  #journaled: number;
  #compactAt: number;
  #queue: Pending[] = [];
  #committing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Set when the journal could not be written: what is on disk is no longer known. */
  #failed: Error | undefined;

  private constructor(init: { dir: string; journal: JournalFile; lock: DirLock; state: State; revision: number; journaled: number; history: WatchEvent[]; opts: FileStoreOptions }) {
    const { opts } = init;
    this.dir = init.dir;
    this.#journal = init.journal;
    this.#lock = init.lock;
    this.#state = init.state;
    this.#revision = init.revision;
    this.#journaled = init.journaled;
    this.#clock = opts.clock ?? Date.now;
    this.#compactEvery = opts.compactEvery ?? 10_000;
    this.#compactAt = this.#compactEvery;
    this.#scopeOf = opts.scopeOf ?? (() => undefined);
    this.#log = opts.log ?? warnProcess;
    this.#hub = new WatchHub(opts.historyLimit ?? this.#compactEvery, this.#log);
    this.#hub.publish(init.history);
  }

  /** Creates DIR (0700) when missing, takes its lock, loads it. Refuses a damaged journal or snapshot. */
  static async open(dir: string, opts: FileStoreOptions = {}): Promise<FileStore> {
    for (const [name, v] of [['compactEvery', opts.compactEvery], ['historyLimit', opts.historyLimit]] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new Error(`file store option ${name} must be an integer >= 1, not ${v}`);
    }
    const path = resolve(dir);
    await mkdir(path, { recursive: true, mode: 0o700 });
    const lock = await acquireDirLock(path);
    try {
      await removeTempSnapshot(path);
      const loaded = await load(path);
      const journal = await JournalFile.open(join(path, JOURNAL_FILE), loaded.validLength);
      // journal.log may have just been created: its directory entry must be durable too.
      await syncDir(path).catch(async (err) => {
        await journal.close();
        throw err;
      });
      if (loaded.torn) {
        (opts.log ?? warnProcess)('warn', 'the last journal record was torn by a crash and is cut off; its writer was never answered', { file: journal.path, offset: loaded.torn.offset, reason: loaded.torn.reason });
      }
      return new FileStore({ dir: path, journal, lock, ...loaded, opts });
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  async get(type: ResourceType, namespace: string | undefined, name: string): Promise<Resource> {
    this.#usable();
    checkType(type);
    checkNamespace(type, namespace, this.#scopeOf);
    checkName(name);
    const found = this.#state.get(type)?.get(keyOf(namespace, name));
    if (found === undefined) throw new StoreError('NOT_FOUND', `${describe(type, namespace, name)} does not exist`);
    return found;
  }

  async list(type: ResourceType, opts: ListOptions = {}): Promise<ListResult> {
    this.#usable();
    checkType(type);
    if (opts.namespace !== undefined) checkNamespace(type, opts.namespace, this.#scopeOf);
    const items = [...(this.#state.get(type)?.values() ?? [])]
      .filter((r) => opts.namespace === undefined || r.metadata.namespace === opts.namespace)
      .sort(byNamespaceThenName);
    return Object.freeze({ items: Object.freeze(items), revision: this.#revision });
  }

  create(type: ResourceType, resource: Resource): Promise<Resource> {
    return this.#write(() => {
      checkType(type);
      return { kind: 'create', type, resource: normalize(type, resource, this.#scopeOf) };
    });
  }

  update(type: ResourceType, resource: Resource): Promise<Resource> {
    return this.#write(() => {
      checkType(type);
      return { kind: 'update', type, resource: normalize(type, resource, this.#scopeOf) };
    });
  }

  delete(type: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<Resource> {
    return this.#write(() => {
      checkType(type);
      checkNamespace(type, namespace, this.#scopeOf);
      checkName(name);
      checkResourceVersion(opts.resourceVersion, 'resourceVersion');
      return { kind: 'delete', type, namespace, name, resourceVersion: opts.resourceVersion };
    });
  }

  /** Delivery is asynchronous (a microtask after the commit); a throwing onEvent is logged and skipped. */
  async watch(opts: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<Watch> {
    this.#usable();
    if (opts.resourceType !== undefined) checkType(opts.resourceType);
    // Without a type, a namespace is only checked for shape: it filters every type.
    if (opts.namespace !== undefined) checkNamespace(opts.resourceType ?? '', opts.namespace, opts.resourceType === undefined ? () => undefined : this.#scopeOf);
    return this.#hub.watch(opts, onEvent, this.#revision);
  }

  revision(): number {
    this.#usable();
    return this.#revision;
  }

  /** Waits for the writes already accepted (and a compaction in progress), then releases DIR. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#committing;
      this.#hub.closeAll();
      await this.#journal.close();
      await this.#lock.release();
    })();
    return this.#closing;
  }

  // --- the commit loop ---

  #usable(): void {
    if (this.#closing !== undefined) throw new Error(`the store file:${this.dir} is closed`);
  }

  #write(build: () => WriteOp): Promise<Resource> {
    let op: WriteOp;
    try {
      this.#usable();
      if (this.#failed !== undefined) throw this.#failed;
      op = build();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      this.#committing ??= this.#commitLoop();
    });
  }

  async #commitLoop(): Promise<void> {
    try {
      // Writes issued in the same tick as the first share its commit.
      await null;
      while (this.#queue.length > 0) {
        await this.#commit(this.#queue.splice(0));
        await this.#compactIfDue();
      }
    } finally {
      this.#committing = undefined;
    }
  }

  async #commit(batch: readonly Pending[]): Promise<void> {
    if (this.#failed !== undefined) {
      for (const p of batch) p.reject(this.#failed);
      return;
    }
    // What the batch's earlier writes did, so later ones check against it (null: deleted).
    const overlay = new Map<string, Resource | null>();
    const events: WatchEvent[] = [];
    const outcomes: { p: Pending; result?: Resource; error?: unknown }[] = [];
    for (const p of batch) {
      const { type } = p.op;
      const meta = p.op.kind === 'delete' ? p.op : p.op.resource.metadata;
      const key = keyOf(meta.namespace, meta.name);
      const slot = `${type}\0${key}`;
      const current = overlay.has(slot) ? (overlay.get(slot) ?? undefined) : this.#state.get(type)?.get(key);
      try {
        const planned = plan(p.op, current, this.#revision + events.length + 1, this.#clock);
        if (planned.event !== undefined) {
          events.push(planned.event);
          overlay.set(slot, planned.event.type === 'DELETED' ? null : planned.event.object);
        }
        outcomes.push({ p, result: planned.result });
      } catch (error) {
        outcomes.push({ p, error });
      }
    }
    if (events.length > 0) {
      try {
        await this.#journal.append(encodeCommit(events));
      } catch (err) {
        this.#failed = new Error(`the store file:${this.dir} could not write ${this.#journal.path} (${(err as Error).message}); it accepts no more writes: fix the disk and restart`, { cause: err });
        for (const o of outcomes) o.p.reject(this.#failed);
        return;
      }
      for (const e of events) apply(this.#state, e);
      this.#revision += events.length;
      this.#journaled += events.length;
      this.#hub.publish(events);
    }
    for (const o of outcomes) {
      if (o.error === undefined) o.p.resolve(o.result as Resource);
      else o.p.reject(o.error);
    }
  }

  async #compactIfDue(): Promise<void> {
    if (this.#journaled < this.#compactAt || this.#failed !== undefined) return;
    const resources: SnapshotEntry[] = [];
    for (const [resourceType, byKey] of this.#state) for (const object of byKey.values()) resources.push({ resourceType, object });
    try {
      await writeSnapshot(this.dir, { revision: this.#revision, resources });
    } catch (err) {
      // The journal still holds every write; only its length grows until a snapshot works.
      this.#compactAt = this.#journaled + this.#compactEvery;
      this.#log('error', 'writing the store snapshot failed; the journal keeps every write and compaction is retried later', { dir: this.dir, error: String(err) });
      return;
    }
    try {
      await this.#journal.reset();
      this.#journaled = 0;
      this.#compactAt = this.#compactEvery;
    } catch (err) {
      this.#failed = new Error(`the store file:${this.dir} could not empty ${this.#journal.path} after a snapshot (${(err as Error).message}); it accepts no more writes: fix the disk and restart`, { cause: err });
    }
  }
}
