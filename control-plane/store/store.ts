// One interface for every place the control plane keeps resources: the embedded file
// store (the default), etcd for HA, and the Kubernetes API. Revisions are global and
// monotonic (etcd's model): every write gets the next one, it becomes the resource's
// resourceVersion, and a watch resumes from any revision the store still remembers.

import type { Resource, ResourceType } from '../api/resource.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export type WatchEvent = {
  readonly type: EventType;
  readonly resourceType: ResourceType;
  /** For DELETED: the resource as it was, with the revision of the delete as resourceVersion. */
  readonly object: Resource;
  readonly revision: number;
};

export type ListOptions = {
  /** Only this namespace; all when absent. */
  readonly namespace?: string;
};

export type ListResult = {
  readonly items: readonly Resource[];
  /** The store revision the list was read at: watch from it to miss nothing. */
  readonly revision: number;
};

export type WatchOptions = {
  /** Every type when absent. */
  readonly resourceType?: ResourceType;
  readonly namespace?: string;
  /**
   * Deliver every event after this revision, then the live ones. 0 (or absent): only
   * the live ones. Older than the store remembers: the watch fails with EXPIRED.
   */
  readonly fromRevision?: number;
};

export type Watch = {
  close(): void;
};

export type DeleteOptions = {
  /** Delete only if this is still the current resourceVersion (CONFLICT otherwise). */
  readonly resourceVersion?: string;
};

export interface ResourceStore {
  /** NOT_FOUND when absent. `namespace` is undefined for cluster-scoped types. */
  get(type: ResourceType, namespace: string | undefined, name: string): Promise<Resource>;
  list(type: ResourceType, opts?: ListOptions): Promise<ListResult>;
  /** ALREADY_EXISTS when the name is taken. Returns the resource as stored (uid, resourceVersion...). */
  create(type: ResourceType, resource: Resource): Promise<Resource>;
  /**
   * NOT_FOUND when absent; CONFLICT when `metadata.resourceVersion` is set and is not the
   * current one (absent: the write is unconditional). A write that changes nothing returns
   * the stored resource as it is, with no new revision.
   */
  update(type: ResourceType, resource: Resource): Promise<Resource>;
  /** Returns the resource as it was. NOT_FOUND when absent. */
  delete(type: ResourceType, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<Resource>;
  /**
   * Events after `fromRevision`, in revision order, then live ones, to `onEvent`. Throws
   * EXPIRED (before any event) when that history is gone.
   */
  watch(opts: WatchOptions, onEvent: (event: WatchEvent) => void): Promise<Watch>;
  /** The revision of the last write. */
  revision(): number;
  /** Waits for writes in flight, then releases the files. */
  close(): Promise<void>;
}
