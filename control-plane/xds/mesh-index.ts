// The store, followed: lists the kinds the generators read, then watches every change
// from the revision it listed at, and hands a fresh MeshView to `onView` after each burst
// of changes (an `apply` of twenty documents is one rebuild, not twenty).

import type { Resource } from '../api/resource.ts';
import type { Logger } from '../log.ts';
import type { ResourceStore, Watch, WatchEvent } from '../store/store.ts';
import { buildMeshView, key, type MeshInputs, type MeshView } from './mesh-view.ts';
import type { ZoneSummary } from '../zone/model.ts';

export const WATCHED_TYPES = {
  meshes: 'meshes.mesh.sluice.dev',
  services: 'services',
  workloads: 'workloads.mesh.sluice.dev',
  httpRoutes: 'httproutes.gateway.networking.k8s.io',
  grpcRoutes: 'grpcroutes.gateway.networking.k8s.io',
  retryPolicies: 'retrypolicies.mesh.sluice.dev',
  circuitBreakerPolicies: 'circuitbreakerpolicies.mesh.sluice.dev',
  authorizationPolicies: 'authorizationpolicies.mesh.sluice.dev',
  requestAuthentications: 'requestauthentications.mesh.sluice.dev',
  loadBalancingPolicies: 'loadbalancingpolicies.mesh.sluice.dev',
  faultInjectionPolicies: 'faultinjectionpolicies.mesh.sluice.dev',
  // The registry of pods: only the Kubernetes store has them (registry/pods.ts).
  endpointSlices: 'endpointslices.discovery.k8s.io',
  pods: 'pods',
  nodes: 'nodes',
} as const;

type Field = keyof typeof WATCHED_TYPES;
const FIELD_OF = new Map<string, Field>(Object.entries(WATCHED_TYPES).map(([f, t]) => [t, f as Field]));

export type MeshIndexOptions = {
  readonly store: ResourceStore;
  readonly log: Logger;
  readonly trustBundle: () => string;
  readonly defaultTrustDomain: string;
  readonly onView: (view: MeshView) => void;
  /** Under --role zone: this zone and what the global says of the others (read at each rebuild). */
  readonly zones?: () => { readonly localZone: string; readonly remoteZones: readonly ZoneSummary[] };
  /** How long a burst of changes may run before the view is rebuilt. Default 10 ms. */
  readonly settleMs?: number;
};

export class MeshIndex {
  #opts: MeshIndexOptions;
  #objects = new Map<Field, Map<string, Resource>>(Object.keys(WATCHED_TYPES).map((f) => [f as Field, new Map()]));
  #revision = 0;
  #watch: Watch | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #view: MeshView | null = null;

  constructor(opts: MeshIndexOptions) {
    this.#opts = opts;
  }

  get view(): MeshView | null {
    return this.#view;
  }

  /** Lists, starts watching, and builds the first view before resolving. */
  async start(): Promise<MeshView> {
    const store = this.#opts.store;
    const from = store.revision();
    const early: WatchEvent[] = [];
    let listed = false;
    // Watch first, from the revision before the lists: nothing written in between is missed,
    // and replaying an event the list already holds is harmless (apply() checks revisions).
    this.#watch = await store.watch({ fromRevision: from }, (e) => {
      if (!FIELD_OF.has(e.resourceType)) return;
      if (!listed) early.push(e);
      else this.#apply(e);
    });
    for (const [field, type] of Object.entries(WATCHED_TYPES)) {
      const { items, revision } = await store.list(type);
      const map = this.#objects.get(field as Field)!;
      for (const r of items) map.set(key(r.metadata.namespace, r.metadata.name), r);
      this.#revision = Math.max(this.#revision, revision);
    }
    listed = true;
    for (const e of early) this.#apply(e);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    return this.#rebuild();
  }

  close(): void {
    this.#closed = true;
    this.#watch?.close();
    if (this.#timer !== null) clearTimeout(this.#timer);
  }

  /** Rebuilds now (a new trust bundle after a CA rotation is not a store change). */
  refresh(): MeshView {
    return this.#rebuild();
  }

  #apply(e: WatchEvent): void {
    const map = this.#objects.get(FIELD_OF.get(e.resourceType)!)!;
    const k = key(e.object.metadata.namespace, e.object.metadata.name);
    const held = map.get(k);
    // An event older than what is held came from the replay of the window before the list.
    if (held !== undefined && Number(held.metadata.resourceVersion) >= e.revision) return;
    if (e.type === 'DELETED') map.delete(k);
    else map.set(k, e.object);
    this.#revision = Math.max(this.#revision, e.revision);
    if (this.#timer === null && !this.#closed) this.#timer = setTimeout(() => this.#rebuild(), this.#opts.settleMs ?? 10);
  }

  #rebuild(): MeshView {
    this.#timer = null;
    const list = <T,>(f: Field) => [...this.#objects.get(f)!.values()] as Resource<T>[];
    const inputs: MeshInputs = {
      revision: this.#revision,
      meshes: list('meshes'),
      services: list('services'),
      workloads: list('workloads'),
      httpRoutes: list('httpRoutes'),
      grpcRoutes: list('grpcRoutes'),
      retryPolicies: list('retryPolicies'),
      circuitBreakerPolicies: list('circuitBreakerPolicies'),
      authorizationPolicies: list('authorizationPolicies'),
      requestAuthentications: list('requestAuthentications'),
      loadBalancingPolicies: list('loadBalancingPolicies'),
      faultInjectionPolicies: list('faultInjectionPolicies'),
      endpointSlices: list('endpointSlices'),
      pods: list('pods'),
      nodes: list('nodes'),
      trustBundle: this.#opts.trustBundle(),
      defaultTrustDomain: this.#opts.defaultTrustDomain,
      ...this.#opts.zones?.(),
    };
    let view: MeshView;
    try {
      view = buildMeshView(inputs);
    } catch (err) {
      // The store only holds validated resources, so this is our bug: keep the last view.
      this.#opts.log('error', 'building the mesh view failed; proxies keep the last config', { error: (err as Error).stack ?? String(err) });
      if (this.#view !== null) return this.#view;
      throw err;
    }
    this.#view = view;
    if (!this.#closed) this.#opts.onView(view);
    return view;
  }
}
