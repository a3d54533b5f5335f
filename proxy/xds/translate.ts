// Decoded xDS resources -> the proxy's config model, or every problem with its resource
// and field path. Pure: the ADS client decides what to NACK; this only says what is wrong.
// Every field a Sluice proxy does not read (xds/SUBSET.md) is a problem, never ignored.
//
// Order of work: secrets and endpoints first (clusters read them), then clusters, route
// configurations and listeners, each checked against its shape before it is read.

import { EMBEDDED_TYPE_URLS, TYPE_URLS, type ResourceTypeName } from '../../xds/index.ts';
import { deepFreeze } from '../config/frozen.ts';
import type { HttpRoute, IdentityFiles, Listener, ProxyConfig, TracingConfig } from '../config/model.ts';
import type { Result } from '../errors.ts';
import { checkShape, sinkFor, unpackQuiet, type Pb, type Problem, type Shape, type Sink } from './shape.ts';
import { ASSIGNMENT, CLUSTER, edsName, type Assignment, translateAssignment, translateCluster } from './translate-cluster.ts';
import { LISTENER, translateListener } from './translate-listener.ts';
import { ROUTE_CONFIG, translateRouteConfig, type UnattachedRoute } from './translate-route.ts';
import { ROOT_CA, SECRET, trustBundle } from './translate-tls.ts';
import { FAULT_NAME, hasFaults, withoutFaults } from './translate-fault.ts';

export type { Pb, Problem } from './shape.ts';

/** Decoded resources (xds/any.ts `unpack`) by resource name, one map per type. */
export type XdsResources = {
  readonly listeners: ReadonlyMap<string, Pb>;
  readonly routes: ReadonlyMap<string, Pb>;
  readonly clusters: ReadonlyMap<string, Pb>;
  /** ClusterLoadAssignments by cluster_name. */
  readonly endpoints: ReadonlyMap<string, Pb>;
  readonly secrets: ReadonlyMap<string, Pb>;
};

export type NodeContext = {
  /** node.locality.zone, which the control plane reads to set each endpoint's failover level (the proxy honours the priority it is sent). */
  readonly zone?: string;
  /** The proxy's own certificate files, which xDS never carries; null: it does no mTLS. */
  readonly identity: IdentityFiles | null;
};

/** What the translators see: the node, and the names a reference may point at (null: references are not checked). */
export type Context = NodeContext & {
  readonly refs: { readonly clusters: ReadonlySet<string>; readonly routes: ReadonlySet<string>; readonly secrets: ReadonlySet<string> } | null;
};

export type Translation = {
  readonly config: ProxyConfig;
  /** The ROOTCA secret's PEM, for the caller to write as the identity's bundle; null when none was received. */
  readonly bundlePem: string | null;
};

/** The resources as one config, or every problem in them (dangling references included). */
export function translate(resources: XdsResources, node: NodeContext): Result<Translation, Problem[]> {
  const refs = { clusters: new Set(resources.clusters.keys()), routes: new Set(resources.routes.keys()), secrets: new Set(resources.secrets.keys()) };
  const { config, bundlePem, problems } = run(resources, { ...node, refs });
  return problems.length > 0 ? { ok: false, error: problems } : { ok: true, value: { config: deepFreeze(config), bundlePem } };
}

/**
 * Every problem in the resources themselves, not counting references to resources that
 * are missing: what the ADS client checks while it still waits for some of them.
 */
export function validate(resources: XdsResources, node: NodeContext): Problem[] {
  return run(resources, { ...node, refs: null }).problems;
}

/** The names a complete config needs beyond the wildcard Listener and Cluster: what to subscribe to, and what to wait for. */
export function dependencies(resources: Pick<XdsResources, 'listeners' | 'clusters'>): { routes: string[]; endpoints: string[]; secrets: string[] } {
  const routes = new Set<string>();
  let tls = false;
  for (const l of resources.listeners.values()) {
    for (const chain of (l.filter_chains ?? []) as Pb[]) {
      if (chain.transport_socket !== undefined) tls = true;
      for (const f of (chain.filters ?? []) as Pb[]) {
        const hcm = f.typed_config?.type_url === EMBEDDED_TYPE_URLS.HttpConnectionManager ? unpackQuiet(f.typed_config) : undefined;
        const name = hcm?.rds?.route_config_name;
        if (typeof name === 'string' && name !== '') routes.add(name);
      }
    }
  }
  const endpoints = new Set<string>();
  for (const c of resources.clusters.values()) {
    const eds = edsName(c);
    if (eds !== undefined && eds !== '') endpoints.add(eds);
    if (c.transport_socket !== undefined) tls = true;
  }
  return { routes: [...routes], endpoints: [...endpoints], secrets: tls ? [ROOT_CA] : [] };
}

/** One line a problem: `Cluster outbound|80||x: outlier_detection: field not supported ...`. */
export function formatProblem(p: Problem): string {
  const type = (Object.keys(TYPE_URLS) as ResourceTypeName[]).find((k) => TYPE_URLS[k] === p.typeUrl) ?? p.typeUrl;
  return `${type} ${p.name}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

// --- the walk ---

const TYPE_ORDER: readonly string[] = [TYPE_URLS.Listener, TYPE_URLS.RouteConfiguration, TYPE_URLS.Cluster, TYPE_URLS.ClusterLoadAssignment, TYPE_URLS.Secret];

function run(resources: XdsResources, ctx: Context): { config: ProxyConfig; bundlePem: string | null; problems: Problem[] } {
  const problems: Problem[] = [];
  /** Checks each resource of a type against its shape, then reads it. */
  const each = <T>(typeUrl: string, map: ReadonlyMap<string, Pb>, shape: Shape, read: (r: Pb, sink: Sink, name: string) => T): T[] =>
    [...map].map(([name, r]) => {
      const sink = sinkFor(typeUrl, name, problems);
      checkShape(r, shape, sink);
      return read(r, sink, name);
    });

  const pems = each(TYPE_URLS.Secret, resources.secrets, SECRET, (s, sink) => trustBundle(s, sink));
  const bundlePem = pems.find((p) => p !== undefined) ?? null;
  const assignments = new Map<string, Assignment>();
  each(TYPE_URLS.ClusterLoadAssignment, resources.endpoints, ASSIGNMENT, (cla, sink, name) => assignments.set(name, translateAssignment(cla, sink)));
  const backends = each(TYPE_URLS.Cluster, resources.clusters, CLUSTER, (c, sink) => translateCluster(c, ctx, (n) => assignments.get(n), sink));
  const routeConfigs = new Map<string, readonly UnattachedRoute[]>();
  each(TYPE_URLS.RouteConfiguration, resources.routes, ROUTE_CONFIG, (rc, sink, name) => routeConfigs.set(name, translateRouteConfig(rc, ctx, sink)));

  const listeners: Listener[] = [];
  const inline: HttpRoute[] = [];
  /** Route configuration -> the listeners reading it, in listener order. */
  const attached = new Map<string, string[]>();
  /** The listeners whose HTTP filters do not run the fault filter. */
  const faultless = new Set<string>();
  const traced: { name: string; config: TracingConfig; key: string }[] = [];
  each(TYPE_URLS.Listener, resources.listeners, LISTENER, (l, sink, name) => {
    const t = translateListener(l, ctx, sink);
    if (t === undefined) return;
    if (t.tracing !== undefined) traced.push({ name, config: t.tracing, key: JSON.stringify(t.tracing) });
    listeners.push(t.listener);
    if (t.faultFilter === false) faultless.add(name);
    if (t.rds !== undefined) attached.set(t.rds, [...(attached.get(t.rds) ?? []), name]);
    for (const r of t.inline ?? []) inline.push({ ...r, parentRefs: [name] });
  });
  // Only what a listener reads becomes a route: a route with no parentRefs would attach to every listener.
  const routes: HttpRoute[] = [];
  for (const [rc, parentRefs] of attached) {
    let read = routeConfigs.get(rc) ?? [];
    const without = parentRefs.filter((l) => faultless.has(l));
    if (without.length > 0 && hasFaults(read)) {
      // Envoy ignores the per-route config of a filter a listener does not run; one route table cannot both inject and not.
      if (without.length === parentRefs.length) read = withoutFaults(read);
      else for (const l of without) sinkFor(TYPE_URLS.Listener, l, problems).add('', `has no ${FAULT_NAME} in its http_filters, and RouteConfiguration '${rc}', which ${parentRefs.filter((p) => !faultless.has(p)).join(', ')} reads with that filter, carries per-route faults: a Sluice proxy runs a route configuration's faults for every listener that reads it or for none`);
    }
    for (const r of read) routes.push({ ...r, parentRefs });
  }
  routes.push(...inline);

  // One exporter per proxy: every HttpConnectionManager that traces must say the same; the others' listeners make no spans.
  for (const t of traced.slice(1)) {
    if (t.key !== traced[0].key) sinkFor(TYPE_URLS.Listener, t.name, problems).add('filter_chains[0].filters[0].typed_config.tracing', `differs from Listener ${traced[0].name}'s: a Sluice proxy sends its spans to one exporter with one sampling percent, so every HttpConnectionManager's tracing must be the same`);
  }
  const tracing = traced[0]?.config;
  if (tracing !== undefined) {
    const on = new Set(traced.map((t) => t.name));
    for (let i = 0; i < listeners.length; i++) {
      const l = listeners[i];
      if (l.protocol === 'http' && !on.has(l.name)) listeners[i] = { ...l, traced: false };
    }
  }
  problems.sort((a, b) => TYPE_ORDER.indexOf(a.typeUrl) - TYPE_ORDER.indexOf(b.typeUrl));
  const node = ctx.zone === undefined ? {} : { zone: ctx.zone };
  return { config: { node, identity: ctx.identity === null ? null : { ...ctx.identity }, listeners, routes, backends, ...(tracing === undefined ? {} : { tracing }) }, bundlePem, problems };
}
