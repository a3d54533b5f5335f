// What `sluicectl explain` reads from the control plane besides the proxies' records: the
// Services, routes, policies and Workloads of the mesh, and each proxy's sync state (ACK or
// NACK with its error). Read once per run; the findings are worked out from this alone.

import type { Resource } from '../../api/resource.ts';
import { findKind } from '../../api/kind-names.ts';
import type { ApiClient } from '../client.ts';

export type ProxyTypeState = { state: string; version: string; nack?: { version: string; message: string; at: string } };
export type ProxyRow = { id: string; status?: string; types: Record<string, ProxyTypeState | undefined> };

export type MeshFacts = {
  readonly services: readonly Resource[];
  readonly routes: readonly Resource[];
  readonly authorization: readonly Resource[];
  readonly circuitBreakers: readonly Resource[];
  readonly retries: readonly Resource[];
  readonly workloads: readonly Resource[];
  readonly trustDomain: string | null;
  readonly proxies: readonly ProxyRow[];
};

export async function readMeshFacts(api: ApiClient): Promise<MeshFacts> {
  const list = (kind: string) => api.list(findKind(kind)!);
  const [services, routes, authorization, circuitBreakers, retries, workloads, meshes, proxies] = await Promise.all([
    list('services'),
    list('httproutes'),
    list('authorizationpolicies'),
    list('circuitbreakerpolicies'),
    list('retrypolicies'),
    list('workloads'),
    list('meshes'),
    api.proxyStatus(),
  ]);
  const td = (meshes[0]?.spec as { trustDomain?: unknown } | undefined)?.trustDomain;
  return { services, routes, authorization, circuitBreakers, retries, workloads, trustDomain: typeof td === 'string' ? td : null, proxies: proxies as ProxyRow[] };
}

/** The Service a host names: `name`, `name.ns`, `name.ns.svc[.cluster.local]`, with or without a port. */
export function serviceForHost(facts: MeshFacts, host: string, defaultNamespace: string): { name: string; namespace: string; service: Resource | undefined } {
  const bare = host.toLowerCase().replace(/:\d+$/, '');
  const [name, ns] = bare.split('.');
  const namespace = ns !== undefined && ns !== 'svc' ? ns : defaultNamespace;
  return { name: name ?? bare, namespace, service: facts.services.find((s) => s.metadata.name === name && (s.metadata.namespace ?? 'default') === namespace) };
}

/** HTTPRoutes attached to the Service (a parentRef of kind Service naming it). */
export function routesForService(facts: MeshFacts, name: string, namespace: string): Resource[] {
  return facts.routes.filter((r) => {
    const refs = ((r.spec as { parentRefs?: { kind?: string; name?: string; namespace?: string }[] }).parentRefs ?? []);
    return refs.some((p) => p.kind === 'Service' && p.name === name && (p.namespace ?? r.metadata.namespace ?? 'default') === namespace);
  });
}

/** Policies of a kind whose targetRefs name the Service. */
export function policiesForService(policies: readonly Resource[], name: string, namespace: string): Resource[] {
  return policies.filter((p) => {
    if ((p.metadata.namespace ?? 'default') !== namespace) return false;
    const refs = (p.spec as { targetRefs?: { kind?: string; name?: string }[] }).targetRefs ?? [];
    return refs.some((t) => t.kind === 'Service' && t.name === name);
  });
}

/** Workloads in the Service's namespace whose labels its selector matches. */
export function workloadsForService(facts: MeshFacts, service: Resource): Resource[] {
  const selector = (service.spec as { selector?: Record<string, string> }).selector ?? {};
  const ns = service.metadata.namespace ?? 'default';
  return facts.workloads.filter((w) => (w.metadata.namespace ?? 'default') === ns && Object.entries(selector).every(([k, v]) => (w.metadata.labels ?? {})[k] === v));
}

/** One rule of an HTTPRoute in a line: its matches, timeouts and backends. */
export function describeRule(rule: Record<string, any>): string {
  const matches = (rule.matches ?? []) as Record<string, any>[];
  const m = matches.length === 0 ? 'every path' : matches.map((x) => `${x.method ? `${x.method} ` : ''}${x.path ? `${x.path.type ?? 'PathPrefix'} ${x.path.value}` : 'any path'}${x.headers ? ` with headers ${x.headers.map((h: any) => `${h.name}=${h.value}`).join(',')}` : ''}`).join(' or ');
  const backends = ((rule.backendRefs ?? []) as { name?: string; port?: number }[]).map((b) => `${b.name}${b.port === undefined ? '' : `:${b.port}`}`).join(', ');
  const t = rule.timeouts as { request?: string; backendRequest?: string } | undefined;
  const timeouts = t === undefined ? '' : ` (timeouts: ${Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ')})`;
  return `${m} -> ${backends || 'no backend'}${timeouts}`;
}
