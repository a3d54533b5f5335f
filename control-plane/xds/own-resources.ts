// A proxy's own inbound side (its inbound listeners, their route configs and local clusters,
// and its outbound listener), generated and packed once and kept across views for as long as
// what it is built from is the same: a push that changes routes only (a weight, a match)
// then generates and packs nothing per proxy.
//
// What it is built from, all of it in the key (a stale listener is a far worse bug than a
// slow push): the node (the snapshot cache's shape: namespace, Workload, outbound port, app
// ports, capture), its Workload's spec, the mesh settings, each Service it serves in full
// (ports, protocols, every endpoint: the inbound hooks get the Services) by a hash per view,
// which Service port it takes on which port of its own, the outbound listener's
// HttpConnectionManager by its packed bytes (its routes' fault filters depend on routes), and,
// by identity, the lists of the view the policies' inbound hooks say they read
// (XdsPolicy.inboundReads). A policy with an inbound hook that says nothing: nothing is kept.
// What else proxyListeners, inboundRouteConfigs or inboundClusters come to read goes here too.

import { createHash } from 'node:crypto';
import { TYPE_URLS } from '../../xds/index.ts';
import type { Obj } from './generate/envoy.ts';
import { inboundClusters, inboundRouteConfigs, outboundManager, proxyListeners, type InboundPort, type NodeContext } from './generate/resources.ts';
import { key, type MeshView, type ServiceView } from './mesh-view.ts';
import { POLICIES } from './policies/index.ts';
import { toEntries, type Entry } from './snapshot.ts';

type ProxyNode = Extract<NodeContext, { kind: 'proxy' }>;

export type OwnPart = {
  readonly listeners: readonly Obj[];
  readonly routes: readonly Obj[];
  readonly clusters: readonly Obj[];
  /** The same, packed and hashed. */
  readonly packed: { readonly listeners: ReadonlyMap<string, Entry>; readonly routes: ReadonlyMap<string, Entry>; readonly clusters: ReadonlyMap<string, Entry> };
};

type Kept = { readonly key: string; readonly reads: readonly (readonly unknown[])[]; readonly part: OwnPart; used: number };

/** Views a part outlives without being asked for (a proxy that left; a push pass the next view cut short). */
const KEPT_VIEWS = 4;

export class OwnResources {
  #kept = new Map<string, Kept>();
  #views = 0;

  /** A new view is current: parts no proxy asked for in the last KEPT_VIEWS views are dropped. */
  nextView(): void {
    this.#views++;
    for (const [shape, k] of this.#kept) if (this.#views - k.used > KEPT_VIEWS) this.#kept.delete(shape);
  }

  /** The inbound side of the proxy of `shape` in `view`: the kept one when built from the same, else generated (and kept). */
  get(view: MeshView, node: ProxyNode, shape: string, inbound: readonly InboundPort[]): OwnPart {
    const reads = inboundReads(view);
    const k = ownKey(view, node, shape);
    const kept = this.#kept.get(shape);
    if (kept !== undefined && reads !== null && kept.key === k && sameReads(kept.reads, reads)) {
      kept.used = this.#views;
      return kept.part;
    }
    const part = generate(view, node, inbound);
    if (reads === null) this.#kept.delete(shape);
    else this.#kept.set(shape, { key: k, reads, part, used: this.#views });
    return part;
  }
}

function generate(view: MeshView, node: ProxyNode, inbound: readonly InboundPort[]): OwnPart {
  const listeners = proxyListeners(view, node, inbound);
  const routes = inboundRouteConfigs(inbound);
  const clusters = inboundClusters(inbound);
  return {
    listeners,
    routes,
    clusters,
    packed: { listeners: toEntries(TYPE_URLS.Listener, listeners), routes: toEntries(TYPE_URLS.RouteConfiguration, routes), clusters: toEntries(TYPE_URLS.Cluster, clusters) },
  };
}

/** Everything but the policies' lists: the node's shape, its Workload's spec, the mesh, what it serves, the outbound HttpConnectionManager. */
export function ownKey(view: MeshView, node: ProxyNode, shape: string): string {
  const workload = key(node.namespace, node.workload);
  const served = (view.served.get(workload) ?? []).map((s) => [serviceHash(s.service), s.port.name, s.port.port, s.endpoint]);
  const outbound = node.capture === undefined ? outboundHash(view) : null;
  return JSON.stringify([shape, view.workloads.get(workload)?.spec ?? null, view.mesh, outbound, served]);
}

const serviceHashes = new WeakMap<ServiceView, string>();

function serviceHash(svc: ServiceView): string {
  let h = serviceHashes.get(svc);
  if (h === undefined) serviceHashes.set(svc, (h = createHash('sha256').update(JSON.stringify(svc)).digest('base64url')));
  return h;
}

const outboundHashes = new WeakMap<MeshView, string>();

function outboundHash(view: MeshView): string {
  let h = outboundHashes.get(view);
  if (h === undefined) {
    const packed = outboundManager(view).typed_config as { type_url: string; value: Buffer };
    outboundHashes.set(view, (h = createHash('sha256').update(packed.type_url).update('\0').update(packed.value).digest('base64url')));
  }
  return h;
}

const reading = new WeakMap<MeshView, readonly (readonly unknown[])[] | null>();

/** The lists the inbound hooks read, in POLICIES order; null when a policy with an inbound hook does not say. */
function inboundReads(view: MeshView): readonly (readonly unknown[])[] | null {
  if (reading.has(view)) return reading.get(view)!;
  let lists: (readonly unknown[])[] | null = [];
  for (const p of POLICIES) {
    if (p.inboundHttp === undefined && p.inboundTcp === undefined) continue;
    if (p.inboundReads === undefined) {
      lists = null;
      break;
    }
    lists.push(...p.inboundReads(view));
  }
  reading.set(view, lists);
  return lists;
}

/** The same lists of the same objects: a resource the store changed is a new object (mesh-index.ts keeps the unchanged ones). */
function sameReads(a: readonly (readonly unknown[])[], b: readonly (readonly unknown[])[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return false;
    for (let j = 0; j < a[i].length; j++) if (a[i][j] !== b[i][j]) return false;
  }
  return true;
}
