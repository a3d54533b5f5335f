// The store's public face: open one from its `--store` spec, and the types every
// implementation shares: the embedded file store, and the Kubernetes API (kube-store.ts);
// etcd comes later behind the same ResourceStore.

import { kindByType } from '../api/kind-names.ts';
import { FileStore, type FileStoreOptions } from './file-store.ts';
import type { ResourceStore } from './store.ts';

export { StoreError, isStoreError, STORE_ERRORS, type StoreErrorCode } from './errors.ts';
export type { DeleteOptions, EventType, ListOptions, ListResult, ResourceStore, Watch, WatchEvent, WatchOptions } from './store.ts';
export type { FileStoreOptions } from './file-store.ts';
export type { StoreLogger } from './watch-hub.ts';
export type { Scope, ScopeOf } from './write-plan.ts';

// The Kubernetes store is loaded with --store kubernetes only: @kubernetes/client-node is
// ~1 s of every start's module loading, which a file store never needs.
export type { KubeStore, KubeStoreOptions } from './kube-store.ts';

export type OpenStoreOptions = FileStoreOptions & {
  /** For `kubernetes`: a kubeconfig file; absent, the pod's service account (in-cluster). */
  readonly kubeconfig?: string;
};

/**
 * `file:DIR`: the embedded store in DIR (created 0700 when missing), relative to the
 * working directory. The type scopes default to the kinds the API serves, so a namespace
 * on a cluster-scoped kind (or none on a namespaced one) is INVALID.
 * `kubernetes`: the Kubernetes API, from `opts.kubeconfig` or the in-cluster config.
 */
export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<ResourceStore> {
  if (spec === 'kubernetes') return (await import('./kube-store.ts')).KubeStore.open({ kubeconfig: opts.kubeconfig, log: opts.log });
  if (spec.startsWith('file:')) {
    const dir = spec.slice('file:'.length);
    if (dir === '') throw new Error(`store '${spec}' names no directory; use file:DIR`);
    return FileStore.open(dir, { ...opts, scopeOf: opts.scopeOf ?? ((type) => kindByType(type)?.scope) });
  }
  throw new Error(`unknown store '${spec}'; use file:DIR or kubernetes`);
}
