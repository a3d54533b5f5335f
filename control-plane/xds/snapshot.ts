// A node's snapshot: per type URL, its resources packed as Any, each with a content hash.
// The version a client sees for a type is the hash of what it is sent (names and content),
// so the same config has the same version across control-plane restarts, and a type whose
// resources did not change is never pushed again.

import { createHash } from 'node:crypto';
import { pack, TYPE_URLS, type PackedAny, type TypeUrl } from '../../xds/index.ts';
import type { Obj } from './generate/envoy.ts';
import { OWN_CERT } from './generate/envoy.ts';

export type Entry = { readonly name: string; readonly any: PackedAny; readonly hash: string };
export type TypeResources = ReadonlyMap<string, Entry>;
export type NodeSnapshot = ReadonlyMap<TypeUrl, TypeResources>;

const NAME_FIELD: Record<TypeUrl, string> = {
  [TYPE_URLS.Listener]: 'name',
  [TYPE_URLS.RouteConfiguration]: 'name',
  [TYPE_URLS.Cluster]: 'name',
  [TYPE_URLS.ClusterLoadAssignment]: 'cluster_name',
  [TYPE_URLS.Secret]: 'name',
};

/** Packs and hashes generated objects; two with one name is a generator bug. */
export function toEntries(typeUrl: TypeUrl, objects: readonly Obj[]): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const o of objects) {
    const name = o[NAME_FIELD[typeUrl]] as string;
    if (out.has(name)) throw new Error(`two ${typeUrl} resources are named '${name}'`);
    const any = pack(typeUrl, o);
    out.set(name, { name, any, hash: createHash('sha256').update(any.value).digest('base64url').slice(0, 16) });
  }
  return out;
}

const wildcardVersions = new WeakMap<TypeResources, string>();
/**
 * By resources and subscription: a stream's names are a set replaced, never changed, on
 * each request, and the ADS server, proxy-status and every Workload's status ask for the
 * same pair again and again (a SHA-256 each time was most of a 1 000-proxy push's CPU).
 */
const namedVersions = new WeakMap<TypeResources, WeakMap<ReadonlySet<string>, string>>();

/** The version of what a client subscribed to `names` (null: everything) is sent. */
export function versionOf(resources: TypeResources, names: ReadonlySet<string> | null): string {
  const cached = names === null ? wildcardVersions.get(resources) : namedVersions.get(resources)?.get(names);
  if (cached !== undefined) return cached;
  const h = createHash('sha256');
  const picked = names === null ? [...resources.keys()] : [...names].filter((n) => resources.has(n));
  for (const name of picked.sort()) h.update(name).update('\0').update(resources.get(name)!.hash).update('\0');
  const version = h.digest('base64url').slice(0, 12);
  if (names === null) wildcardVersions.set(resources, version);
  else {
    let byNames = namedVersions.get(resources);
    if (byNames === undefined) namedVersions.set(resources, (byNames = new WeakMap()));
    byNames.set(names, version);
  }
  return version;
}

/** What a response carries for a subscription: everything, or the named ones that exist. */
export function pick(resources: TypeResources, names: ReadonlySet<string> | null): PackedAny[] {
  if (names === null) return [...resources.values()].map((e) => e.any);
  const out: PackedAny[] = [];
  for (const n of [...names].sort()) {
    const e = resources.get(n);
    if (e !== undefined) out.push(e.any);
  }
  return out;
}

export type GeneratedSet = {
  readonly listeners: readonly Obj[];
  readonly routes: readonly Obj[];
  readonly clusters: readonly Obj[];
  readonly endpoints: readonly Obj[];
  readonly secrets: readonly Obj[];
};

/** Names already checked and present (the shared part of a proxy's snapshot), so only its own resources are walked. */
export type KnownNames = { readonly routes?: ReadonlySet<string>; readonly clusters?: ReadonlySet<string>; readonly endpoints?: ReadonlySet<string>; readonly secrets?: ReadonlySet<string> };

/**
 * Every name a resource refers to must be in the set: a listener's route config, a route's
 * clusters (but those of a route that answers a missing cluster with 500), an EDS cluster's load assignment, a TLS context's secrets (but `default`, the
 * proxy's own certificate, which it holds itself). Returns the dangling references.
 */
export function danglingNames(set: GeneratedSet, decodeTyped: (any: unknown) => Obj | undefined, known?: KnownNames): string[] {
  const problems: string[] = [];
  const names = (list: readonly Obj[], also: ReadonlySet<string> | undefined, field = 'name') => new Set([...list.map((o) => o[field] as string), ...(also ?? [])]);
  const routes = names(set.routes, known?.routes);
  const clusters = names(set.clusters, known?.clusters);
  const assignments = names(set.endpoints, known?.endpoints, 'cluster_name');
  const secrets = names(set.secrets, known?.secrets);
  const needSecret = (owner: string, tls: Obj | undefined) => {
    for (const s of secretNames(tls === undefined ? undefined : decodeTyped(tls.typed_config))) {
      if (s !== OWN_CERT && !secrets.has(s)) problems.push(`${owner} names secret '${s}', which is not generated`);
    }
  };
  for (const l of set.listeners) {
    const hcms: Obj[] = [];
    if (l.api_listener !== undefined) hcms.push(decodeTyped((l.api_listener as Obj).api_listener) ?? {});
    for (const chain of (l.filter_chains ?? []) as Obj[]) {
      needSecret(`listener '${l.name}'`, chain.transport_socket as Obj | undefined);
      for (const f of (chain.filters ?? []) as Obj[]) {
        const typed = decodeTyped(f.typed_config) ?? {};
        if (f.name === 'envoy.filters.network.http_connection_manager') hcms.push(typed);
        else if (typeof typed.cluster === 'string' && !clusters.has(typed.cluster)) problems.push(`listener '${l.name}' forwards to cluster '${typed.cluster}', which is not generated`);
      }
    }
    for (const hcm of hcms) {
      const rc = (hcm.rds as Obj | undefined)?.route_config_name as string | undefined;
      if (rc !== undefined && !routes.has(rc)) problems.push(`listener '${l.name}' names route config '${rc}', which is not generated`);
    }
  }
  for (const rc of set.routes) {
    for (const vh of (rc.virtual_hosts ?? []) as Obj[]) {
      for (const r of (vh.routes ?? []) as Obj[]) {
        const action = (r.route ?? {}) as Obj;
        // A backend that does not exist is named on purpose, with 500 as the answer for its share.
        if (action.cluster_not_found_response_code === 'INTERNAL_SERVER_ERROR') continue;
        const targets = action.cluster !== undefined ? [action.cluster as string] : (((action.weighted_clusters as Obj | undefined)?.clusters ?? []) as Obj[]).map((c) => c.name as string);
        for (const c of targets) if (!clusters.has(c)) problems.push(`route config '${rc.name}' routes to cluster '${c}', which is not generated`);
      }
    }
  }
  for (const c of set.clusters) {
    if (c.type === 'EDS' && !assignments.has(c.name as string)) problems.push(`cluster '${c.name}' has no load assignment`);
    needSecret(`cluster '${c.name}'`, c.transport_socket as Obj | undefined);
  }
  return problems;
}

function secretNames(context: Obj | undefined): string[] {
  if (context === undefined) return [];
  const common = (context.common_tls_context ?? {}) as Obj;
  const out = ((common.tls_certificate_sds_secret_configs ?? []) as Obj[]).map((s) => s.name as string);
  const direct = common.validation_context_sds_secret_config as Obj | undefined;
  const combined = (common.combined_validation_context as Obj | undefined)?.validation_context_sds_secret_config as Obj | undefined;
  for (const s of [direct, combined]) if (s !== undefined) out.push(s.name as string);
  return out;
}
