// The Kubernetes API as the store (`--store kubernetes`): resources live in the cluster as
// CRD objects (Sluice's kinds), core Services and Gateway API routes, so `kubectl apply`
// and `sluicectl apply` take the same YAML. The control plane keeps a mirror of every type
// it reads, the way an informer does (kube-follow.ts: list, watch with bookmarks, resume,
// 410 -> list again, periodic resync).
//
// Reads (get, list, watch) are served from the mirror. Each change the mirror takes gets
// the next local revision, and that revision is the resourceVersion this store hands out:
// the ResourceStore contract (global, monotonic, resumable) holds for the API server and
// the mesh index as for the file store, while the cluster's own resourceVersions stay
// opaque, as Kubernetes asks. A write goes to the API server with the cluster's version
// of the object the caller's revision names (so a write racing `kubectl` gets 409 there),
// and its answer goes into the mirror at once: a `get` right after sees it.
//
// The revisions are counted from the store's start time, so they grow across restarts.
//
// On a kind with a status subresource a change of status only (the control plane's own
// status writes) updates the mirror without a new revision, so writing status does not
// feed back into the mesh index as a change.

import type { Resource, ResourceType } from '../api/resource.ts';
import { StoreError } from './errors.ts';
import { KubeApiError, KubeClient, loadKubeConfig, type KubeObject } from './kube-client.ts';
import { TypeFollower, type MirrorSink } from './kube-follow.ts';
import { apiVersionOfType, KUBE_TYPES, kubePath, kubeTypeOf, type KubeType } from './kube-types.ts';
import type { DeleteOptions, ListOptions, ListResult, ResourceStore, Watch, WatchEvent, WatchOptions } from './store.ts';
import { byNamespaceThenName, warnProcess, WatchHub, type StoreLogger } from './watch-hub.ts';
import { checkName, checkNamespace, checkResourceVersion, deepFreeze, describe, keyOf, normalize, type ScopeOf } from './write-plan.ts';
import { isDeepStrictEqual } from 'node:util';

export type KubeStoreOptions = {
  /** A kubeconfig file; absent: the in-cluster service account. */
  readonly kubeconfig?: string;
  readonly log?: StoreLogger;
  /** How often every type is listed again and reconciled. Default 5 minutes. */
  readonly resyncMs?: number;
  /** The first wait before a failed watch or list is tried again (doubling to 30 s). Default 1 000 ms. */
  readonly retryMs?: number;
  /** Events kept for watches to resume from. Default 10 000. */
  readonly historyLimit?: number;
  /** The types to follow; default every row of KUBE_TYPES. */
  readonly types?: readonly KubeType[];
};

type Entry = { readonly object: Resource; readonly kubeRv: string };

export class KubeStore implements ResourceStore {
  readonly #client: KubeClient;
  readonly #log: StoreLogger;
  readonly #hub: WatchHub;
  readonly #opts: KubeStoreOptions;
  readonly #mirror = new Map<ResourceType, Map<string, Entry>>();
  readonly #followers: TypeFollower[] = [];
  readonly #scopeOf: ScopeOf;
  /**
   * Counted from the start time (ms x 1 000), not from 0: a revision a client kept from before
   * this control plane restarted is then always older than any this one hands out, so a watch
   * resumed from it is EXPIRED (list again) instead of resuming at some unrelated change.
   * Overtaking it would take a process more than a thousand changes per millisecond of its life.
   */
  #revision = Date.now() * 1000;
  #closed = false;
  #statusQueue = new Map<string, () => Promise<void>>();
  #statusDraining: Promise<void> | undefined;

  private constructor(client: KubeClient, opts: KubeStoreOptions) {
    this.#client = client;
    this.#opts = opts;
    this.#log = opts.log ?? warnProcess;
    this.#hub = new WatchHub(opts.historyLimit ?? 10_000, this.#log);
    this.#scopeOf = (type) => {
      const t = kubeTypeOf(type);
      return t === undefined ? undefined : t.namespaced ? 'Namespaced' : 'Cluster';
    };
    for (const t of opts.types ?? KUBE_TYPES) this.#mirror.set(t.type, new Map());
  }

  /** Loads the config, lists every type (a type whose CRD is missing is empty, and logged), starts the watches. */
  static async open(opts: KubeStoreOptions = {}): Promise<KubeStore> {
    const store = new KubeStore(new KubeClient(loadKubeConfig(opts.kubeconfig)), opts);
    try {
      await Promise.all((opts.types ?? KUBE_TYPES).map((t) => store.#follow(t)));
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** The API server's URL (for the log). */
  get server(): string {
    return this.#client.server;
  }

  async get(type: ResourceType, namespace: string | undefined, name: string): Promise<Resource> {
    const t = this.#typeOf(type);
    checkNamespace(type, namespace, this.#scopeOf);
    checkName(name);
    const found = this.#mirror.get(t.type)!.get(keyOf(namespace, name));
    if (found === undefined) throw new StoreError('NOT_FOUND', `${describe(type, namespace, name)} does not exist`);
    return found.object;
  }

  async list(type: ResourceType, opts: ListOptions = {}): Promise<ListResult> {
    if (this.#closed) throw new Error('the kubernetes store is closed');
    const t = this.#mirror.has(type) ? kubeTypeOf(type) ?? this.#opts.types?.find((x) => x.type === type) : undefined;
    if (opts.namespace !== undefined && t !== undefined) checkNamespace(type, opts.namespace, this.#scopeOf);
    // A type this store does not keep (etcd-only records) lists empty, as an unknown type does in the file store.
    const items = [...(t === undefined ? [] : this.#mirror.get(type)!.values())]
      .map((e) => e.object)
      .filter((r) => opts.namespace === undefined || r.metadata.namespace === opts.namespace)
      .sort(byNamespaceThenName);
    return Object.freeze({ items: Object.freeze(items), revision: this.#revision });
  }

  async create(type: ResourceType, resource: Resource): Promise<Resource> {
    const t = this.#writable(type);
    const r = normalize(type, resource, this.#scopeOf);
    const { uid: _u, resourceVersion: _r, generation: _g, creationTimestamp: _c, ...meta } = r.metadata;
    const body: KubeObject = { ...r, apiVersion: apiVersionOfType(t), kind: t.kind, metadata: meta };
    if (t.statusSubresource) delete body.status;
    const created = await this.#call(type, r.metadata.namespace, r.metadata.name, () => this.#client.request<KubeObject>('POST', kubePath(t, r.metadata.namespace), body));
    return this.#observe(t, 'ADDED', created);
  }

  async update(type: ResourceType, resource: Resource): Promise<Resource> {
    const t = this.#writable(type);
    const r = normalize(type, resource, this.#scopeOf);
    const { namespace, name, resourceVersion } = r.metadata;
    const held = await this.#held(t, namespace, name);
    if (resourceVersion !== undefined && resourceVersion !== held.object.metadata.resourceVersion) {
      throw new StoreError('CONFLICT', `${describe(type, namespace, name)} has changed: you sent resourceVersion ${JSON.stringify(resourceVersion)}, it is now ${held.object.metadata.resourceVersion}; get it again and reapply your change`);
    }
    if (isDeepStrictEqual(writable(t, r), writable(t, held.object))) return held.object;
    const body: KubeObject = { ...r, apiVersion: apiVersionOfType(t), kind: t.kind, metadata: { ...r.metadata, uid: held.object.metadata.uid, resourceVersion: held.kubeRv } };
    if (t.statusSubresource) delete body.status;
    const updated = await this.#call(type, namespace, name, () => this.#client.request<KubeObject>('PUT', kubePath(t, namespace, name), body));
    return this.#observe(t, 'MODIFIED', updated);
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<Resource> {
    const t = this.#writable(type);
    checkNamespace(type, namespace, this.#scopeOf);
    checkName(name);
    checkResourceVersion(opts.resourceVersion, 'resourceVersion');
    const held = await this.#held(t, namespace, name);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== held.object.metadata.resourceVersion) {
      throw new StoreError('CONFLICT', `${describe(type, namespace, name)} has changed: you sent resourceVersion ${JSON.stringify(opts.resourceVersion)}, it is now ${held.object.metadata.resourceVersion}; get it again and reapply your change`);
    }
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: held.object.metadata.uid, ...(opts.resourceVersion === undefined ? {} : { resourceVersion: held.kubeRv }) } };
    await this.#call(type, namespace, name, () => this.#client.request('DELETE', kubePath(t, namespace, name), body));
    this.#remove(t, keyOf(namespace, name), held);
    return held.object;
  }

  async watch(opts: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<Watch> {
    if (this.#closed) throw new Error('the kubernetes store is closed');
    return this.#hub.watch(opts, onEvent, this.#revision);
  }

  revision(): number {
    return this.#revision;
  }

  /**
   * Writes the control plane's status of one object to its /status subresource (a JSON
   * merge patch: only `status` changes, and no resourceVersion is needed, so it never
   * conflicts with a user's edit). `status` undefined: the control plane says nothing of
   * it any more (the object is gone), nothing is written. Writes are queued, one at a time;
   * a newer status of an object still queued replaces the older one. Only where the type
   * has its status written by the control plane (ownStatus), and only for the object of
   * this uid. `toKube` shapes it for the kind (Gateway API routes: per parent).
   */
  writeStatus(type: ResourceType, namespace: string | undefined, name: string, uid: string | undefined, status: Record<string, unknown> | undefined, toKube: (status: Record<string, unknown>, current: unknown, object: Resource) => Record<string, unknown> = (s) => s): void {
    const t = kubeTypeOf(type);
    if (t === undefined || !t.ownStatus || status === undefined || this.#closed) return;
    const k = `${type}\0${keyOf(namespace, name)}`;
    this.#statusQueue.set(k, async () => {
      const held = this.#mirror.get(type)?.get(keyOf(namespace, name));
      if (held === undefined || held.object.metadata.uid !== uid) return;
      const current = (held.object.status ?? {}) as Record<string, unknown>;
      const wanted = toKube(status, held.object.status, held.object);
      if (isDeepStrictEqual(wanted, current)) return;
      // Fields of the old status the new one does not have are removed (null, RFC 7386).
      const patch = { status: { ...Object.fromEntries(Object.keys(current).filter((f) => !(f in wanted)).map((f) => [f, null])), ...wanted } };
      try {
        const written = await this.#client.request<KubeObject>('PATCH', kubePath(t, namespace, name, 'status'), patch, 'application/merge-patch+json');
        this.#observe(t, 'MODIFIED', written);
      } catch (err) {
        this.#log('warn', 'writing status to the Kubernetes API failed; it is written again at the next change', { resource: describe(type, namespace, name), error: (err as Error).message });
      }
    });
    this.#statusDraining ??= this.#drainStatus();
  }

  /** Resolves once every status write queued so far is done. */
  async statusSettled(): Promise<void> {
    while (this.#statusDraining !== undefined) await this.#statusDraining;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#followers) f.close();
    this.#hub.closeAll();
    this.#statusQueue.clear();
    await this.#statusDraining;
  }

  // --- the mirror ---

  /**
   * One object as the server sent it, into the mirror. Returns what the mirror holds
   * after it (the object handed out). Dropped: what the mirror already holds (the same
   * cluster version: the answer to our own write, seen again on the watch) and what is
   * older than it (an event the write's answer overtook).
   */
  #observe(t: KubeType, type: 'ADDED' | 'MODIFIED', o: KubeObject): Resource {
    const map = this.#mirror.get(t.type)!;
    const k = keyOf(o.metadata.namespace, o.metadata.name);
    const held = map.get(k);
    const kubeRv = String(o.metadata.resourceVersion ?? '');
    if (held !== undefined && (held.kubeRv === kubeRv || older(kubeRv, held.kubeRv))) return held.object;
    const { managedFields: _m, ...meta } = o.metadata;
    const base = { ...o, apiVersion: apiVersionOfType(t), kind: t.kind, metadata: meta } as Resource;
    if (held !== undefined && t.statusSubresource && held.object.metadata.uid === meta.uid && sameButStatus(held.object, base)) {
      // Status only: the mirror takes it, at the revision the object already had.
      const object = deepFreeze({ ...base, metadata: { ...meta, resourceVersion: held.object.metadata.resourceVersion } }) as Resource;
      map.set(k, { object, kubeRv });
      return object;
    }
    const revision = ++this.#revision;
    const object = deepFreeze({ ...base, metadata: { ...meta, resourceVersion: String(revision) } }) as Resource;
    map.set(k, { object, kubeRv });
    this.#hub.publish([Object.freeze({ type: held === undefined ? 'ADDED' : type === 'ADDED' ? 'MODIFIED' : type, resourceType: t.type, object, revision })]);
    return object;
  }

  #remove(t: KubeType, k: string, held: Entry): void {
    const map = this.#mirror.get(t.type)!;
    if (map.get(k) !== held) return;
    map.delete(k);
    const revision = ++this.#revision;
    const object = deepFreeze({ ...held.object, metadata: { ...held.object.metadata, resourceVersion: String(revision) } });
    this.#hub.publish([Object.freeze({ type: 'DELETED', resourceType: t.type, object, revision })]);
  }

  /** A DELETED event: dropped when the mirror holds a newer version (the object came back). */
  #observeDelete(t: KubeType, o: KubeObject): void {
    const k = keyOf(o.metadata.namespace, o.metadata.name);
    const held = this.#mirror.get(t.type)!.get(k);
    if (held === undefined || older(String(o.metadata.resourceVersion ?? ''), held.kubeRv)) return;
    this.#remove(t, k, held);
  }

  /** A full list: every item in, and what the mirror holds that the list does not, out. */
  #reconcile(t: KubeType, items: readonly KubeObject[], listRv: string): void {
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(keyOf(o.metadata.namespace, o.metadata.name));
      this.#observe(t, 'MODIFIED', o);
    }
    const map = this.#mirror.get(t.type)!;
    for (const [k, held] of [...map]) if (!seen.has(k) && !older(listRv, held.kubeRv)) this.#remove(t, k, held);
  }

  /** Follows one type into the mirror (kube-follow.ts): resolves after its first list. */
  #follow(t: KubeType): Promise<void> {
    const sink: MirrorSink = { observe: (t, type, o) => void this.#observe(t, type, o), observeDelete: (t, o) => this.#observeDelete(t, o), reconcile: (t, items, rv) => this.#reconcile(t, items, rv) };
    const f = new TypeFollower(t, this.#client, sink, this.#log, { retryMs: this.#opts.retryMs ?? 1000, resyncMs: this.#opts.resyncMs ?? 300_000 });
    this.#followers.push(f);
    return f.start();
  }

  // --- helpers ---

  #typeOf(type: ResourceType): KubeType {
    if (this.#closed) throw new Error('the kubernetes store is closed');
    const t = this.#mirror.has(type) ? (kubeTypeOf(type) ?? this.#opts.types?.find((x) => x.type === type)) : undefined;
    if (t === undefined) throw new StoreError('INVALID', `the kubernetes store does not keep ${type}`, [{ path: 'type', message: 'is not a type kept in Kubernetes' }]);
    return t;
  }

  #writable(type: ResourceType): KubeType {
    const t = this.#typeOf(type);
    if (!t.writable) {
      const how = t.kind === 'Service' ? ': apply Services with kubectl (sluicectl apply takes the mesh\'s own kinds and routes here)' : '';
      throw new StoreError('INVALID', `${type} belongs to Kubernetes: the control plane only reads it${how}`, [{ path: 'kind', message: `${t.kind} is read-only with --store kubernetes${how}` }]);
    }
    return t;
  }

  /** The mirror's entry, or the server's when the mirror has not seen it yet (made by kubectl a moment ago). */
  async #held(t: KubeType, namespace: string | undefined, name: string): Promise<Entry> {
    const k = keyOf(namespace, name);
    const held = this.#mirror.get(t.type)!.get(k);
    if (held !== undefined) return held;
    const o = await this.#call(t.type, namespace, name, () => this.#client.request<KubeObject>('GET', kubePath(t, namespace, name)));
    this.#observe(t, 'ADDED', o);
    return this.#mirror.get(t.type)!.get(k)!;
  }

  /** The server's refusals as the store's codes. */
  async #call<T>(type: ResourceType, namespace: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      const what = describe(type, namespace, name);
      if (err.code === 404) throw new StoreError('NOT_FOUND', `${what} does not exist (the Kubernetes API: ${err.message})`);
      if (err.code === 409 && err.reason === 'AlreadyExists') throw new StoreError('ALREADY_EXISTS', `${what} already exists; update it, or delete it first`);
      if (err.code === 409) throw new StoreError('CONFLICT', `${what} has changed in the cluster since it was read; get it again and reapply your change (the Kubernetes API: ${err.message})`);
      if (err.code === 400 || err.code === 422) throw new StoreError('INVALID', `the Kubernetes API refused ${what}: ${err.message}`, [{ path: '', message: err.message }]);
      throw new Error(`the Kubernetes API failed for ${what}: ${err.message}`, { cause: err });
    }
  }

  async #drainStatus(): Promise<void> {
    try {
      while (this.#statusQueue.size > 0 && !this.#closed) {
        const [k, write] = this.#statusQueue.entries().next().value!;
        this.#statusQueue.delete(k);
        await write();
      }
    } finally {
      this.#statusDraining = undefined;
    }
  }
}

/** What a write can change: every top-level field but the server's, labels and annotations (and status where it is not a subresource). */
function writable(t: KubeType, r: Resource): unknown {
  const { metadata, apiVersion: _a, kind: _k, status, ...rest } = r as Resource & Record<string, unknown>;
  return { ...rest, labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {}, ...(t.statusSubresource ? {} : { status }) };
}

function sameButStatus(a: Resource, b: Resource): boolean {
  const strip = (r: Resource) => {
    const { status: _s, metadata, ...rest } = r;
    const { resourceVersion: _r, ...meta } = metadata;
    return { ...rest, metadata: meta };
  };
  return isDeepStrictEqual(strip(a), strip(b));
}

/**
 * Whether cluster version `a` is older than `b`. Kubernetes says resourceVersions are
 * opaque; every API server in use gives etcd revisions (decimal integers), and only then
 * is one compared with another (otherwise: not older, the event is taken).
 */
function older(a: string, b: string): boolean {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}
