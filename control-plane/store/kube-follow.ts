// One type of the Kubernetes store followed as an informer follows it:
//
//   list (resourceVersion R) -> watch from R with bookmarks -> each event to the mirror
//   watch ended by the server or the network -> watch again from the last version seen
//   ERROR 410 Expired (the server no longer has that history) -> list again, reconcile
//   every `resyncMs` -> list again and reconcile (what a lost event left wrong is mended)
//
// What an event does to the mirror is the store's (kube-store.ts, `MirrorSink`).

import type { KubeObject, WatchHandle } from './kube-client.ts';
import { KubeApiError, type KubeClient } from './kube-client.ts';
import { kubePath, type KubeType } from './kube-types.ts';
import type { StoreLogger } from './watch-hub.ts';

/** Where a followed type's objects go. */
export type MirrorSink = {
  observe(t: KubeType, type: 'ADDED' | 'MODIFIED', o: KubeObject): void;
  observeDelete(t: KubeType, o: KubeObject): void;
  /** A full list: every item in, and what the mirror holds that the list does not, out. */
  reconcile(t: KubeType, items: readonly KubeObject[], listRv: string): void;
};

export type FollowOptions = { readonly retryMs: number; readonly resyncMs: number };

export class TypeFollower {
  readonly #t: KubeType;
  readonly #client: KubeClient;
  readonly #sink: MirrorSink;
  readonly #log: StoreLogger;
  readonly #opts: FollowOptions;
  /** The last resourceVersion the server gave for this type (list, event or bookmark). */
  #kubeRv = '';
  #handle: WatchHandle | undefined;
  /** Bumped for each list or watch started: events of an older stream are dropped. */
  #stream = 0;
  #retryMs: number;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  /** The type's resource is not served (its CRD is not installed): listed again at each resync. */
  #missing = false;
  #closed = false;

  constructor(t: KubeType, client: KubeClient, sink: MirrorSink, log: StoreLogger, opts: FollowOptions) {
    this.#t = t;
    this.#client = client;
    this.#sink = sink;
    this.#log = log;
    this.#opts = opts;
    this.#retryMs = opts.retryMs;
  }

  /** The first list; a failure other than a missing resource is thrown (the store's start fails with it). */
  start(): Promise<void> {
    return this.#list(true);
  }

  close(): void {
    this.#closed = true;
    this.#stream += 1;
    this.#handle?.abort();
    clearTimeout(this.#timer);
    clearTimeout(this.#resync);
  }

  /** `first`: a failure other than a missing resource is thrown; later ones are retried. */
  async #list(first = false): Promise<void> {
    if (this.#closed) return;
    const t = this.#t;
    const stream = ++this.#stream;
    this.#handle?.abort();
    this.#handle = undefined;
    clearTimeout(this.#timer);
    clearTimeout(this.#resync);
    let list: { metadata: { resourceVersion: string }; items: KubeObject[] };
    try {
      list = await this.#client.request('GET', kubePath(t));
    } catch (err) {
      if (this.#closed || stream !== this.#stream) return;
      if (err instanceof KubeApiError && err.code === 404) {
        if (!this.#missing) this.#log('warn', `the Kubernetes API does not serve ${t.type}: is its CRD installed? It is listed again every resync`, { type: t.type });
        this.#missing = true;
        this.#sink.reconcile(t, [], '');
        this.#scheduleResync();
        return;
      }
      if (first) throw new Error(`--store kubernetes: listing ${t.type} at ${this.#client.server} failed: ${(err as Error).message}`, { cause: err });
      this.#retry(() => this.#list(), err);
      return;
    }
    if (this.#closed || stream !== this.#stream) return;
    if (this.#missing) this.#log('info', `the Kubernetes API serves ${t.type} now`, { type: t.type });
    this.#missing = false;
    this.#sink.reconcile(t, list.items ?? [], list.metadata.resourceVersion);
    this.#kubeRv = list.metadata.resourceVersion;
    this.#retryMs = this.#opts.retryMs;
    this.#scheduleResync();
    // Not awaited: the client resolves a watch only once the server sends its headers.
    void this.#watchFrom();
  }

  async #watchFrom(): Promise<void> {
    if (this.#closed) return;
    const t = this.#t;
    const stream = ++this.#stream;
    let expired = false;
    const onEvent = (e: { type: string; object: KubeObject }) => {
      if (stream !== this.#stream) return;
      if (e.type === 'BOOKMARK') {
        this.#kubeRv = String(e.object.metadata?.resourceVersion ?? this.#kubeRv);
        return;
      }
      if (e.type === 'ERROR') {
        const s = e.object as unknown as { code?: number; message?: string };
        if (s.code === 410) expired = true;
        else this.#log('warn', 'the Kubernetes API sent an error on a watch', { type: t.type, code: s.code, message: s.message });
        return;
      }
      if (e.type === 'DELETED') this.#sink.observeDelete(t, e.object);
      else if (e.type === 'ADDED' || e.type === 'MODIFIED') this.#sink.observe(t, e.type, e.object);
      else return;
      this.#kubeRv = String(e.object.metadata.resourceVersion ?? this.#kubeRv);
    };
    const onEnd = (err: Error | null) => {
      if (this.#closed || stream !== this.#stream) return;
      this.#handle = undefined;
      if (expired || (err as { statusCode?: number } | null)?.statusCode === 410) {
        this.#log('info', 'a watch asked for history the API server no longer has (410 Gone): listing again', { type: t.type, resourceVersion: this.#kubeRv });
        void this.#list();
      } else if (err !== null) {
        this.#retry(() => this.#watchFrom(), err);
      } else {
        // The server ended the stream (its timeout): go on from the last version seen.
        void this.#watchFrom();
      }
    };
    try {
      const handle = await this.#client.watch(kubePath(t), this.#kubeRv, onEvent, onEnd);
      if (stream !== this.#stream || this.#closed) handle.abort();
      else this.#handle = handle;
    } catch (err) {
      onEnd(err as Error);
    }
  }

  #retry(again: () => Promise<void>, err: unknown): void {
    this.#log('warn', `following ${this.#t.type} on the Kubernetes API failed; trying again in ${this.#retryMs} ms`, { type: this.#t.type, error: (err as Error).message });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void again(), this.#retryMs);
    this.#timer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, 30_000);
  }

  #scheduleResync(): void {
    clearTimeout(this.#resync);
    this.#resync = setTimeout(() => void this.#list(), this.#opts.resyncMs);
    this.#resync.unref();
  }
}
