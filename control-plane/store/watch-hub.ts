// The events a store has committed, kept so a watch can resume from a revision, and the
// watches they go to. The store publishes each commit's events in revision order right
// after it is durable; a watch registers and takes its replay in the same synchronous
// step, so no commit falls between the two: no gap, no duplicate.
//
// Each watch has its own queue, drained on a microtask: a watcher's callback never runs
// inside the commit path, a throwing one is logged and skipped (the other watchers and
// the store go on), and a watcher that closes stops receiving at once.

import type { Resource, ResourceType } from '../api/resource.ts';
import { StoreError } from './errors.ts';
import type { Watch, WatchEvent, WatchOptions } from './store.ts';

export type StoreLogger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

type Subscription = {
  readonly resourceType?: ResourceType;
  readonly namespace?: string;
  readonly after: number;
  readonly onEvent: (event: WatchEvent) => void;
  queue: WatchEvent[];
  scheduled: boolean;
  closed: boolean;
};

export class WatchHub {
  readonly #limit: number;
  readonly #log: StoreLogger;
  /** Contiguous revisions; trimmed in chunks so that trimming is not a shift per event. */
  #history: WatchEvent[] = [];
  readonly #subs = new Set<Subscription>();

  /** Keeps at least the last `limit` events. */
  constructor(limit: number, log: StoreLogger) {
    this.#limit = limit;
    this.#log = log;
  }

  /** Events in revision order, contiguous with what came before. */
  publish(events: readonly WatchEvent[]): void {
    for (const e of events) this.#history.push(e);
    const excess = this.#history.length - this.#limit;
    if (excess > Math.max(1, this.#limit >> 2)) this.#history.splice(0, excess);
    for (const sub of this.#subs) {
      for (const e of events) if (matches(sub, e)) sub.queue.push(e);
      this.#schedule(sub);
    }
  }

  /**
   * The oldest revision a watch can resume from: every event after it is kept.
   * `current` is the store's revision, the answer when nothing is kept.
   */
  oldest(current: number): number {
    return this.#history.length > 0 ? this.#history[0].revision - 1 : current;
  }

  watch(opts: WatchOptions, onEvent: (event: WatchEvent) => void, current: number): Watch {
    const from = opts.fromRevision ?? 0;
    if (!Number.isSafeInteger(from) || from < 0) {
      throw new StoreError('INVALID', `fromRevision must be a revision (an integer >= 0), not ${JSON.stringify(from)}`, [{ path: 'fromRevision', message: 'must be an integer >= 0' }]);
    }
    if (typeof onEvent !== 'function') throw new StoreError('INVALID', 'watch needs an onEvent function');
    const sub: Subscription = { resourceType: opts.resourceType, namespace: opts.namespace, after: from === 0 ? current : from, onEvent, queue: [], scheduled: false, closed: false };
    if (from > 0) {
      const oldest = this.oldest(current);
      if (from < oldest) throw new StoreError('EXPIRED', `revision ${from} is compacted; list and watch from the list's revision (the oldest this store can resume from is ${oldest})`);
      // A revision this store never handed out: one from before a restart of a store whose
      // revisions start again (the Kubernetes store's are its own count). Resuming after it
      // would skip every change until the count passes it; list again instead.
      if (from > current) throw new StoreError('EXPIRED', `revision ${from} is ahead of this store (at ${current}): it is from before a restart; list and watch from the list's revision`);
      const start = this.#history.length > 0 ? from + 1 - this.#history[0].revision : 0;
      for (let i = Math.max(0, start); i < this.#history.length; i++) if (matches(sub, this.#history[i])) sub.queue.push(this.#history[i]);
    }
    this.#subs.add(sub);
    this.#schedule(sub);
    return {
      close: () => {
        sub.closed = true;
        sub.queue = [];
        this.#subs.delete(sub);
      },
    };
  }

  /** The store is closing: nothing more is delivered. */
  closeAll(): void {
    for (const sub of this.#subs) {
      sub.closed = true;
      sub.queue = [];
    }
    this.#subs.clear();
  }

  #schedule(sub: Subscription): void {
    if (sub.scheduled || sub.queue.length === 0) return;
    sub.scheduled = true;
    queueMicrotask(() => this.#drain(sub));
  }

  #drain(sub: Subscription): void {
    sub.scheduled = false;
    // Taken whole: an onEvent that writes to the store only adds events to the next drain.
    const batch = sub.queue;
    sub.queue = [];
    for (const event of batch) {
      if (sub.closed) return;
      try {
        sub.onEvent(event);
      } catch (err) {
        this.#log('warn', 'a store watcher threw; the event is skipped for it and delivery goes on', {
          revision: event.revision,
          resourceType: event.resourceType,
          error: String((err as Error)?.stack ?? err),
        });
      }
    }
  }
}

function matches(sub: Subscription, e: WatchEvent): boolean {
  return (
    e.revision > sub.after &&
    (sub.resourceType === undefined || sub.resourceType === e.resourceType) &&
    (sub.namespace === undefined || sub.namespace === e.object.metadata.namespace)
  );
}

/** The order every store lists in: by namespace, then name. */
export function byNamespaceThenName(a: Resource, b: Resource): number {
  const an = a.metadata.namespace ?? '';
  const bn = b.metadata.namespace ?? '';
  if (an !== bn) return an < bn ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** Without a logger, a store's problems still reach the operator as process warnings. */
export function warnProcess(level: string, msg: string, fields?: Record<string, unknown>): void {
  if (level !== 'info') process.emitWarning(`${msg} ${JSON.stringify(fields ?? {})}`, { code: 'SLUICE_STORE' });
}
