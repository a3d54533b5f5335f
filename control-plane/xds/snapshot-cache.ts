// The snapshot cache: MeshView -> per-node snapshots. What a flavour of node shares
// (clusters, load assignments, the proxyless listeners) is generated and packed once per
// view; what differs by the caller's namespace (its outbound route config; a proxyless
// client's route configs where its namespace has consumer routes) once per view and
// namespace; what is one proxy's own (its outbound ports, capture listeners) once per view
// per distinct proxy shape, but its inbound side and outbound listener, kept across views
// while what they are built from is the same (own-resources.ts). A view whose snapshot fails the consistency check is refused and
// every node keeps the last good one.
//
// A type whose resources came out the same as in the last view keeps the last view's map
// object (names and content hashes compared), so what was computed from it (versionOf's
// cache: a SHA-256 over every name per stream) is reused, and a proxy whose own resources
// did not change is not checked again: a route change to 1 000 proxies costs their routes.

import { TYPE_URLS, unpack, type TypeUrl } from '../../xds/index.ts';
import type { Logger } from '../log.ts';
import { OUTBOUND, type Obj } from './generate/envoy.ts';
import { consumerRouteConfigs, inboundPorts, loadAssignments, nodeZone, outboundClusters, outboundRouteConfig, secrets, serviceListeners, serviceRouteConfigs, type NodeContext } from './generate/resources.ts';
import { outboundPortResources } from './generate/outbound-ports.ts';
import { captureResources, type CaptureResources } from './generate/capture.ts';
import { zoneIngressResources } from './generate/zone-ingress.ts';

const NO_CAPTURE: CaptureResources = { listeners: [], routes: [], clusters: [] };
import type { MeshView } from './mesh-view.ts';
import { danglingNames, toEntries, type Entry, type GeneratedSet, type NodeSnapshot } from './snapshot.ts';
import { OwnResources } from './own-resources.ts';

type Shared = {
  readonly view: MeshView;
  readonly generic: NodeSnapshot;
  /** The packed parts every proxy's snapshot shares; their names are `known`. */
  readonly proxyClusters: ReadonlyMap<string, Entry>;
  /** A zone-less node's; a zone's are `endpointsByZone`. */
  readonly endpoints: ReadonlyMap<string, Entry>;
  /** Per zone of the nodes: the assignments with that zone's priorities (the same names as `endpoints`), made on first use. */
  readonly endpointsByZone: Map<string, ReadonlyMap<string, Entry>>;
  readonly secrets: ReadonlyMap<string, Entry>;
  readonly outboundRoutes: Map<string, { object: Obj; entries: Map<string, Entry> }>;
  /** Proxyless snapshots of namespaces with consumer routes (every other namespace gets `generic`), and of zones, by `namespace|zone`. */
  readonly genericByNamespace: Map<string, NodeSnapshot>;
  readonly proxies: Map<string, NodeSnapshot>;
  /** Names in the shared part of every proxy's snapshot, already checked. */
  readonly known: { readonly clusters: ReadonlySet<string>; readonly endpoints: ReadonlySet<string>; readonly secrets: ReadonlySet<string> };
  /** Proxy shapes whose generation failed in this view (logged once). */
  readonly failed: Set<string>;
  /** The view before, whose maps are reused where this one's came out the same; dropped when the next view comes (one level kept). */
  previous: Shared | null;
};

/** Whether `merged` is `own` (same names, same content) plus `others` more entries. */
function holds(merged: ReadonlyMap<string, Entry> | undefined, own: ReadonlyMap<string, Entry>, others: number): boolean {
  if (merged === undefined || merged.size !== own.size + others) return false;
  for (const [name, e] of own) if (merged.get(name)?.hash !== e.hash) return false;
  return true;
}

/** `prev` when it holds the same names with the same content as `next`, else `next`. */
function reuse(prev: ReadonlyMap<string, Entry> | undefined, next: ReadonlyMap<string, Entry>): ReadonlyMap<string, Entry> {
  if (prev === undefined || prev.size !== next.size) return next;
  for (const [name, e] of next) if (prev.get(name)?.hash !== e.hash) return next;
  return prev;
}

/** `packed` and `more` packed, as one map; a name in both is a generator bug, as in toEntries. */
function joined(typeUrl: TypeUrl, packed: ReadonlyMap<string, Entry>, more: readonly Obj[]): ReadonlyMap<string, Entry> {
  if (more.length === 0) return packed;
  const out = new Map(packed);
  for (const [name, e] of toEntries(typeUrl, more)) {
    if (out.has(name)) throw new Error(`two ${typeUrl} resources are named '${name}'`);
    out.set(name, e);
  }
  return out;
}

const decodeTyped = (any: unknown): Obj | undefined => {
  const r = unpack(any as { type_url: string; value: Buffer });
  return r.ok ? (r.value as Obj) : undefined;
};

export class SnapshotCache {
  #log: Logger;
  #shared: Shared | null = null;
  #own = new OwnResources();

  constructor(log: Logger) {
    this.#log = log;
  }

  get view(): MeshView | null {
    return this.#shared?.view ?? null;
  }

  /** Makes `view` current. False (and the last good view kept) when it does not generate a consistent snapshot. */
  setView(view: MeshView): boolean {
    let next: Shared;
    try {
      next = this.#share(view);
    } catch (err) {
      this.#log('error', 'config for proxyless clients not generated; they keep the last good one', { revision: view.revision, error: (err as Error).message });
      return false;
    }
    if (this.#shared !== null) this.#shared.previous = null;
    this.#shared = next;
    this.#own.nextView();
    return true;
  }

  /** The node's snapshot for the current view; null before the first view. */
  snapshotFor(node: NodeContext): NodeSnapshot | null {
    const shared = this.#shared;
    if (shared === null) return null;
    const zone = nodeZone(shared.view, node);
    if (node.kind === 'generic') {
      const base = node.namespace === undefined ? shared.generic : this.#genericFor(shared, node.namespace);
      return zone === undefined ? base : this.#zonedGeneric(shared, base, node.namespace, zone);
    }
    const shape = `${node.namespace}/${node.workload}|${node.outboundPort}|${node.adminPort ?? ''}|${JSON.stringify(Object.entries(node.appPorts).sort())}|${JSON.stringify(node.capture ?? null)}|${node.ingress?.port ?? ''}|${zone ?? ''}`;
    let snap = shared.proxies.get(shape);
    if (snap === undefined) {
      try {
        snap = this.#proxySnapshot(shared, node, shape, zone, shared.previous?.proxies.get(shape));
      } catch (err) {
        // Our bug, not the operator's: say so loudly (once per view and proxy), and send this proxy nothing new.
        if (!shared.failed.has(shape)) this.#log('error', 'snapshot for a proxy not generated; it keeps the last good one', { node: node.id, revision: shared.view.revision, error: (err as Error).message });
        shared.failed.add(shape);
        throw err;
      }
      shared.proxies.set(shape, snap);
    }
    return snap;
  }

  #share(view: MeshView): Shared {
    const endpoints = loadAssignments(view);
    const secretObjects = secrets(view);
    const generic: GeneratedSet = { listeners: serviceListeners(view), routes: serviceRouteConfigs(view), clusters: outboundClusters(view, 'generic'), endpoints, secrets: secretObjects };
    const problems = danglingNames(generic, decodeTyped);
    if (problems.length > 0) throw new Error(problems.join('; '));
    const prev = this.#shared;
    const snap = snapshotOf(generic, prev?.generic);
    const proxyClusters = outboundClusters(view, 'proxy');
    // What every proxy shares is checked here, once; a proxy's own resources in #proxySnapshot.
    const proxyProblems = danglingNames({ listeners: [], routes: [], clusters: proxyClusters, endpoints, secrets: secretObjects }, decodeTyped);
    if (proxyProblems.length > 0) throw new Error(proxyProblems.join('; '));
    const clusterEntries = reuse(prev?.proxyClusters, toEntries(TYPE_URLS.Cluster, proxyClusters));
    const endpointEntries = snap.get(TYPE_URLS.ClusterLoadAssignment)!;
    const secretEntries = snap.get(TYPE_URLS.Secret)!;
    const unchanged = prev !== null && clusterEntries === prev.proxyClusters && endpointEntries === prev.endpoints && secretEntries === prev.secrets;
    return {
      known: unchanged ? prev.known : { clusters: new Set(clusterEntries.keys()), endpoints: new Set(endpointEntries.keys()), secrets: new Set(secretEntries.keys()) },
      view,
      generic: snap,
      proxyClusters: clusterEntries,
      endpoints: endpointEntries,
      endpointsByZone: new Map(),
      secrets: secretEntries,
      outboundRoutes: new Map(),
      genericByNamespace: new Map(),
      proxies: new Map(),
      failed: new Set(),
      previous: prev,
    };
  }

  /** The shared proxyless snapshot with the route configs `namespace`'s consumer routes replace; generated and checked once per view and namespace. */
  #genericFor(shared: Shared, namespace: string): NodeSnapshot {
    let snap = shared.genericByNamespace.get(namespace);
    if (snap === undefined) {
      try {
        snap = consumerSnapshot(shared, namespace);
      } catch (err) {
        // Our bug, as for a proxy's: logged once per view and namespace; these clients keep what they have.
        if (!shared.failed.has(`generic|${namespace}`)) this.#log('error', 'config for proxyless clients of a namespace not generated; they keep the last good one', { namespace, revision: shared.view.revision, error: (err as Error).message });
        shared.failed.add(`generic|${namespace}`);
        throw err;
      }
      shared.genericByNamespace.set(namespace, snap);
    }
    return snap;
  }

  /**
   * The load assignments for nodes in `zone`: a zone-less node's, with those whose
   * priorities differ there replaced; generated once per view and zone (the names are the
   * same, so what was checked for the shared ones holds).
   */
  #endpointsFor(shared: Shared, zone: string | undefined): ReadonlyMap<string, Entry> {
    if (zone === undefined) return shared.endpoints;
    let entries = shared.endpointsByZone.get(zone);
    if (entries === undefined) {
      const zoned = toEntries(TYPE_URLS.ClusterLoadAssignment, loadAssignments(shared.view, zone, true));
      entries = zoned.size === 0 ? shared.endpoints : reuse(shared.previous?.endpointsByZone.get(zone), new Map([...shared.endpoints, ...zoned]));
      shared.endpointsByZone.set(zone, entries);
    }
    return entries;
  }

  /** A proxyless snapshot for a zone: `base` with that zone's load assignments. */
  #zonedGeneric(shared: Shared, base: NodeSnapshot, namespace: string | undefined, zone: string): NodeSnapshot {
    const endpoints = this.#endpointsFor(shared, zone);
    if (endpoints === shared.endpoints) return base;
    const k = `${namespace ?? ''}|${zone}`;
    let snap = shared.genericByNamespace.get(k);
    if (snap === undefined) {
      snap = new Map(base).set(TYPE_URLS.ClusterLoadAssignment, endpoints);
      shared.genericByNamespace.set(k, snap);
    }
    return snap;
  }

  /** `before`: this proxy shape's snapshot in the view before, if it was made. */
  #proxySnapshot(shared: Shared, node: Extract<NodeContext, { kind: 'proxy' }>, shape: string, zone: string | undefined, before: NodeSnapshot | undefined): NodeSnapshot {
    const view = shared.view;
    let outbound = shared.outboundRoutes.get(node.namespace);
    if (outbound === undefined) {
      const object = outboundRouteConfig(view, node.namespace);
      const problems = danglingNames({ listeners: [], routes: [object], clusters: [], endpoints: [], secrets: [] }, decodeTyped, shared.known);
      if (problems.length > 0) throw new Error(`inconsistent snapshot: ${problems.join('; ')}`);
      outbound = { object, entries: toEntries(TYPE_URLS.RouteConfiguration, [object]) };
      shared.outboundRoutes.set(node.namespace, outbound);
    }
    let listeners: Obj[];
    let inRoutes: Obj[];
    let inClusters: Obj[];
    let lds: ReadonlyMap<string, Entry>;
    let ownRoutes: ReadonlyMap<string, Entry>;
    let ownClusters: ReadonlyMap<string, Entry>;
    if (node.ingress !== undefined) {
      // A zone ingress: its SNI listener and clusters of local instances, generated each view.
      ({ listeners, inRoutes, inClusters } = ingressOwn(view, node.ingress.port));
      lds = reuse(before?.get(TYPE_URLS.Listener), toEntries(TYPE_URLS.Listener, listeners));
      ownRoutes = toEntries(TYPE_URLS.RouteConfiguration, inRoutes);
      ownClusters = toEntries(TYPE_URLS.Cluster, inClusters);
    } else {
      const inbound = inboundPorts(view, node);
      const called = outboundPortResources(view, node, inbound);
      // Once per view and proxy shape: the operator's mistake (or a Service not applied yet), not ours.
      for (const problem of called.problems) this.#log('warn', 'Workload spec.outbound entry not served as written', { workload: `${node.namespace}/${node.workload}`, node: node.id, revision: view.revision, problem });
      const captured = node.capture === undefined ? NO_CAPTURE : captureResources(view, node);
      const own = this.#own.get(view, node, shape, inbound);
      listeners = [...own.listeners, ...called.listeners, ...captured.listeners];
      inRoutes = [...own.routes, ...called.routes, ...captured.routes];
      inClusters = [...own.clusters, ...called.clusters, ...captured.clusters];
      lds = reuse(before?.get(TYPE_URLS.Listener), joined(TYPE_URLS.Listener, own.packed.listeners, [...called.listeners, ...captured.listeners]));
      ownRoutes = joined(TYPE_URLS.RouteConfiguration, own.packed.routes, [...called.routes, ...captured.routes]);
      ownClusters = joined(TYPE_URLS.Cluster, own.packed.clusters, [...called.clusters, ...captured.clusters]);
    }
    const rds = reuse(before?.get(TYPE_URLS.RouteConfiguration), new Map([...ownRoutes, ...outbound.entries]));
    const cds = reuse(before?.get(TYPE_URLS.Cluster), new Map([...shared.proxyClusters, ...ownClusters]));
    // The same own resources against the same shared names passed this check in the view before
    // (the outbound route config, shared by the namespace, is checked on its own above).
    const same =
      before !== undefined &&
      lds === before.get(TYPE_URLS.Listener) &&
      holds(before.get(TYPE_URLS.RouteConfiguration), ownRoutes, outbound.entries.size) &&
      holds(before.get(TYPE_URLS.Cluster), ownClusters, shared.proxyClusters.size) &&
      shared.known === shared.previous?.known;
    if (!same) {
      const own: GeneratedSet = { listeners, routes: inRoutes, clusters: inClusters, endpoints: [], secrets: [] };
      const problems = danglingNames(own, decodeTyped, { ...shared.known, routes: new Set([OUTBOUND]) });
      if (problems.length > 0) throw new Error(`inconsistent snapshot: ${problems.join('; ')}`);
    }
    return new Map<TypeUrl, ReadonlyMap<string, Entry>>([
      [TYPE_URLS.Listener, lds],
      [TYPE_URLS.RouteConfiguration, rds],
      [TYPE_URLS.Cluster, cds],
      [TYPE_URLS.ClusterLoadAssignment, this.#endpointsFor(shared, zone)],
      [TYPE_URLS.Secret, shared.secrets],
    ]);
  }
}

/** A zone ingress has no inbound side, no outbound port: its SNI listener and its clusters of local instances. */
function ingressOwn(view: MeshView, port: number): { listeners: Obj[]; inRoutes: Obj[]; inClusters: Obj[] } {
  const { listeners, clusters } = zoneIngressResources(view, port);
  return { listeners, inRoutes: [], inClusters: clusters };
}

/** `shared.generic`, or a copy whose route configs are `namespace`'s where its consumer routes apply. */
function consumerSnapshot(shared: Shared, namespace: string): NodeSnapshot {
  const routes = consumerRouteConfigs(shared.view, namespace);
  if (routes.length === 0) return shared.generic;
  const problems = danglingNames({ listeners: [], routes, clusters: [], endpoints: [], secrets: [] }, decodeTyped, { clusters: new Set(shared.generic.get(TYPE_URLS.Cluster)!.keys()) });
  if (problems.length > 0) throw new Error(`inconsistent snapshot: ${problems.join('; ')}`);
  const snap = new Map(shared.generic);
  snap.set(TYPE_URLS.RouteConfiguration, new Map([...shared.generic.get(TYPE_URLS.RouteConfiguration)!, ...toEntries(TYPE_URLS.RouteConfiguration, routes)]));
  return snap;
}

/** Each type's map from `before` where its resources came out the same. */
function snapshotOf(set: GeneratedSet, before?: NodeSnapshot): NodeSnapshot {
  const typed = (url: TypeUrl, objects: readonly Obj[]) => [url, reuse(before?.get(url), toEntries(url, objects))] as const;
  return new Map<TypeUrl, ReadonlyMap<string, Entry>>([
    typed(TYPE_URLS.Listener, set.listeners),
    typed(TYPE_URLS.RouteConfiguration, set.routes),
    typed(TYPE_URLS.Cluster, set.clusters),
    typed(TYPE_URLS.ClusterLoadAssignment, set.endpoints),
    typed(TYPE_URLS.Secret, set.secrets),
  ]);
}
