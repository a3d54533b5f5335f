// What the proxy holds of the xDS state of the world, and what one response does to it.
// Per type: the resources last ACCEPTED (a NACKed response changes nothing), the version
// that names them, and the names subscribed to. A response is judged against the accepted
// state with its type replaced (the candidate): NACK when its own resources are wrong,
// hold (ACK, do not apply: Envoy's warming) while something it needs has not arrived or
// another type's resources disagree with it, else apply the translated config.

import { PUSH_ORDER, TYPE_URLS, unpack, type TypeUrl } from '../../xds/index.ts';
import type { ProxyConfig } from '../config/model.ts';
import { sinkFor, unpackQuiet, type Pb, type Problem } from './shape.ts';
import { dependencies, formatProblem, translate, validate, type NodeContext, type Translation, type XdsResources } from './translate.ts';

/** The order a client (re)subscribes in: clusters before their endpoints, listeners before routes. */
export const TYPES: readonly TypeUrl[] = PUSH_ORDER;

const KEY = {
  [TYPE_URLS.Listener]: 'listeners',
  [TYPE_URLS.RouteConfiguration]: 'routes',
  [TYPE_URLS.Cluster]: 'clusters',
  [TYPE_URLS.ClusterLoadAssignment]: 'endpoints',
  [TYPE_URLS.Secret]: 'secrets',
} as const satisfies Record<TypeUrl, keyof XdsResources>;

/** Listener and Cluster are asked for by wildcard, and every response holds all of them. */
const WILDCARD: ReadonlySet<string> = new Set([TYPE_URLS.Listener, TYPE_URLS.Cluster]);

export type Verdict =
  | { readonly kind: 'nack'; readonly problems: readonly Problem[] }
  /** ACK and keep, but do not apply yet: `why` says what is awaited. */
  | { readonly kind: 'hold'; readonly why: readonly string[] }
  | { readonly kind: 'apply'; readonly translation: Translation };

/** A response decoded: its resources by name, or the problems that keep it from being read. */
export type DecodedResponse = { readonly typeUrl: string; readonly resources: Map<string, Pb>; readonly problems: Problem[] };

/** Decodes every Any of a response; a resource of another type, undecodable, unnamed or named twice is a problem. */
export function decodeResponse(typeUrl: string, anys: readonly Pb[]): DecodedResponse {
  const problems: Problem[] = [];
  const resources = new Map<string, Pb>();
  anys.forEach((any, i) => {
    const at = sinkFor(typeUrl, `resources[${i}]`, problems);
    if (any.type_url !== typeUrl) return at.add('', `is a '${String(any.type_url ?? '')}' in a response of type ${typeUrl}`);
    const decoded = unpack<Pb>(any);
    if (!decoded.ok) return at.add('', decoded.error);
    const name = String((typeUrl === TYPE_URLS.ClusterLoadAssignment ? decoded.value.cluster_name : decoded.value.name) ?? '');
    if (name === '') return at.add(typeUrl === TYPE_URLS.ClusterLoadAssignment ? 'cluster_name' : 'name', 'required');
    if (resources.has(name)) return sinkFor(typeUrl, name, problems).add('', `resources[${i}] has the same name as an earlier one`);
    resources.set(name, decoded.value);
  });
  return { typeUrl, resources, problems };
}

export type TypeState = {
  /** Version of the accepted resources ('' before any). */
  version: string;
  /** Nonce of the latest response of this type, accepted or not. */
  nonce: string;
  /** Why the latest response was NACKed; null when it was ACKed. */
  error: string | null;
  /** Clock time (ms) the latest response was judged; 0 before any. */
  updatedAt: number;
};

export class XdsState {
  #node: NodeContext;
  #accepted: Record<keyof XdsResources, Map<string, Pb>> = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), secrets: new Map() };
  #received = new Set<string>();
  #types = new Map<string, TypeState>(TYPES.map((t) => [t, { version: '', nonce: '', error: null, updatedAt: 0 }]));
  #held: readonly string[] = [];

  constructor(node: NodeContext) {
    this.#node = node;
  }

  typeState(typeUrl: string): Readonly<TypeState> {
    return this.#types.get(typeUrl)!;
  }

  /** Names to subscribe to: [] for the wildcard types; for the others, what the accepted listeners and clusters need. */
  names(typeUrl: string): string[] {
    if (WILDCARD.has(typeUrl)) return [];
    const deps = dependencies(this.#accepted);
    return typeUrl === TYPE_URLS.RouteConfiguration ? deps.routes : typeUrl === TYPE_URLS.ClusterLoadAssignment ? deps.endpoints : deps.secrets;
  }

  /** Judges a response against the accepted state; changes nothing (see accept / reject). */
  judge(response: DecodedResponse): { verdict: Verdict; candidate: XdsResources; ignored: string[] } {
    const key = KEY[response.typeUrl as TypeUrl];
    const wanted = new Set(this.names(response.typeUrl));
    // State of the world: a Listener or Cluster response is all of them; a response of
    // another type updates the resources it holds, and the others stay.
    const next = WILDCARD.has(response.typeUrl) ? new Map(response.resources) : new Map([...this.#accepted[key], ...response.resources].filter(([n]) => wanted.has(n)));
    const candidate = prune({ ...this.#accepted, [key]: next });
    // Envoy's rule: a resource of a named type that was not asked for is dropped.
    const ignored = [...response.resources.keys()].filter((n) => !WILDCARD.has(response.typeUrl) && !wanted.has(n));
    const judged = (verdict: Verdict) => ({ verdict, candidate, ignored });
    if (response.problems.length > 0) return judged({ kind: 'nack', problems: response.problems });
    const mine = (list: readonly Problem[]) => list.filter((p) => p.typeUrl === response.typeUrl);
    const missing = this.#missing(candidate, response.typeUrl);
    if (missing.length > 0) {
      const problems = mine(validate(candidate, this.#node));
      return judged(problems.length > 0 ? { kind: 'nack', problems } : { kind: 'hold', why: missing.map((m) => `waiting for ${m}`) });
    }
    const result = translate(candidate, this.#node);
    if (result.ok) return judged({ kind: 'apply', translation: result.value });
    // What is wrong lies in another type's accepted resources (a route naming a cluster
    // this response removed): keep this one and wait for that type's update.
    const problems = mine(result.error);
    return judged(problems.length > 0 ? { kind: 'nack', problems } : { kind: 'hold', why: result.error.map(formatProblem) });
  }

  /** The response's resources become the accepted ones; `held` says whether the config waits for more. */
  accept(typeUrl: string, candidate: XdsResources, version: string, nonce: string, held: readonly string[], at: number): void {
    for (const k of Object.values(KEY)) this.#accepted[k] = new Map(candidate[k]);
    this.#received.add(typeUrl);
    this.#types.set(typeUrl, { version, nonce, error: null, updatedAt: at });
    this.#held = held;
  }

  reject(typeUrl: string, nonce: string, error: string, at: number): void {
    const t = this.#types.get(typeUrl)!;
    this.#types.set(typeUrl, { ...t, nonce, error, updatedAt: at });
  }

  /** For the admin server: per type its version, nonce, NACK error and resources (nested Anys decoded for reading). */
  snapshot(): { types: Record<string, TypeState & { names: string[] | '*' }>; held: readonly string[]; resources: Record<string, Record<string, unknown>> } {
    const types: Record<string, TypeState & { names: string[] | '*' }> = {};
    const resources: Record<string, Record<string, unknown>> = {};
    for (const t of TYPES) {
      const short = t.slice(t.lastIndexOf('.') + 1);
      types[short] = { ...this.#types.get(t)!, names: WILDCARD.has(t) ? '*' : this.names(t) };
      resources[short] = Object.fromEntries([...this.#accepted[KEY[t]]].map(([n, r]) => [n, readable(r)]));
    }
    return { types, held: this.#held, resources };
  }

  #missing(candidate: XdsResources, typeUrl: string): string[] {
    const missing = [TYPE_URLS.Listener, TYPE_URLS.Cluster].filter((t) => t !== typeUrl && !this.#received.has(t)).map((t) => `the first ${t.slice(t.lastIndexOf('.') + 1)} response`);
    const deps = dependencies(candidate);
    for (const n of deps.routes) if (!candidate.routes.has(n)) missing.push(`RouteConfiguration ${n}`);
    for (const n of deps.endpoints) if (!candidate.endpoints.has(n)) missing.push(`ClusterLoadAssignment ${n}`);
    for (const n of deps.secrets) if (!candidate.secrets.has(n)) missing.push(`Secret ${n}`);
    return missing;
  }
}

/** Keeps of the dependent types only what the listeners and clusters still name. */
function prune(r: XdsResources): XdsResources {
  const deps = dependencies(r);
  const only = (map: ReadonlyMap<string, Pb>, names: string[]) => new Map([...map].filter(([n]) => names.includes(n)));
  return { ...r, routes: only(r.routes, deps.routes), endpoints: only(r.endpoints, deps.endpoints), secrets: only(r.secrets, deps.secrets) };
}

/** A decoded resource with each nested Any shown as its decoded message (`@type` first), not as bytes. */
export function readable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readable);
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return Buffer.isBuffer(value) ? value.toString('base64') : value;
  const o = value as Pb;
  if (typeof o.type_url === 'string' && Buffer.isBuffer(o.value)) {
    const inner = unpackQuiet(o);
    return inner === undefined ? { '@type': o.type_url, value: o.value.toString('base64') } : { '@type': o.type_url, ...(readable(inner) as Pb) };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, readable(v)]));
}

/** Whether two translations would make the proxy do the same: then apply is skipped. */
export function sameTranslation(a: { config: ProxyConfig; bundlePem: string | null } | null, b: Translation): boolean {
  return a !== null && a.bundlePem === b.bundlePem && JSON.stringify(a.config) === JSON.stringify(b.config);
}
