// A listener's routes compiled once into candidates in precedence order:
//   1. hostname: an exact `host:port` (xDS only: a virtual host's domain with its port), then
//      an exact hostname (whatever the port), then wildcards (longest suffix first), then
//      routes with none;
//   2. path: Exact, then RegularExpression, then PathPrefix, longer values first. Gateway API
//      leaves regular expressions to the implementation; this is Envoy Gateway's order, so a
//      catch-all prefix "/" never shadows a regex rule (README, "Matching");
//   3. a method match; 4. more header matches; 5. more query matches;
//   6. route order, then rule order, then match order.
// `match` returns the first candidate whose conditions hold. The hostname tier is looked up,
// not walked: each name and wildcard suffix keys its own list (already in order 2-6), so a
// request reads the lists its Host can match, one tier after the other, and the cost does
// not grow with the number of hosts (a mesh proxy's outbound listener has one virtual host
// per Service). Unlike Envoy, which picks one virtual host and answers 404 when none of its
// routes match, a request whose host's candidates all fail falls through to the next tier.

import type { BackendRef, HeaderMatch, HttpRoute, PathMatch, QueryParamMatch, RouteMatch, RouteRule } from '../config/model.ts';

export type RouteRequest = {
  /** Host / :authority, possibly with a port. */
  readonly host: string;
  /** Normalized path (kinds/normalize-path.ts), without the query. */
  readonly path: string;
  /** Raw query without '?'. */
  readonly query: string;
  readonly method: string;
  /** Lower-case names, Node's IncomingHttpHeaders shape. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
};

export type MatchedRule = {
  readonly routeName: string;
  readonly ruleIndex: number;
  readonly rule: RouteRule;
  readonly match: RouteMatch;
  /** "route/rule-name" or "route/rule-index": the metrics and access-log label. */
  readonly statName: string;
  /**
   * Weighted pick over `rule.backendRefs`; `random` returns a number in [0, 1). undefined
   * when there are no backendRefs or every weight is 0. Synchronous, allocation-free.
   */
  pickBackend(random: () => number): BackendRef | undefined;
};

export interface RouteTable {
  /**
   * The highest-precedence (rule, match) whose conditions all hold, or undefined. Called
   * once per request, synchronously; reads `req`, never keeps or mutates it. The returned
   * object is shared by every request that matches it: read it, do not mutate it.
   */
  match(req: RouteRequest): MatchedRule | undefined;
  /** Candidates: one per (hostname kind, rule, match) attached to the listener, one per wildcard. */
  readonly size: number;
}

/** Per-table scratch for the lazily parsed query; `match` is synchronous, so one suffices. */
type QueryScratch = { raw: string; params: URLSearchParams | null };
type Test = (req: RouteRequest, query: QueryScratch) => boolean;

/** A match with no conditions (PathPrefix "/" alone): one function, tested for by identity. */
const ALWAYS: Test = () => true;

/** The names a route's candidates are filed under, lower-cased. */
type Names = {
  /** `host:port`, matched against the whole authority. */
  readonly withPort: ReadonlySet<string>;
  /** Hosts, matched against the authority without its port. */
  readonly exact: ReadonlySet<string>;
  /** Wildcards' suffixes with their dot (".example.com"). */
  readonly wildcards: readonly string[];
  /** No hostnames: any host. */
  readonly any: boolean;
};

/** One (rule, match) of a route, with its rank within a hostname's list and the names it is filed under. */
type Candidate = { readonly matched: MatchedRule; readonly test: Test; readonly rank: readonly number[]; readonly names: Names };

const HOST_EXACT_PORT = 0;
const HOST_EXACT = 1;
const HOST_WILDCARD = 2;
const HOST_ANY = 3;
type Tier = typeof HOST_EXACT_PORT | typeof HOST_EXACT | typeof HOST_WILDCARD | typeof HOST_ANY;

/**
 * Compiles every route attached to `listenerName` (an empty `parentRefs` attaches to all).
 * Called once per listener per config; regular expressions are compiled here, and the
 * config must already be validated (an invalid regex throws).
 */
export function compileRouteTable(routes: readonly HttpRoute[], listenerName: string): RouteTable {
  const candidates: Candidate[] = [];
  let size = 0;
  routes.forEach((route, routeIndex) => {
    if (route.parentRefs.length > 0 && !route.parentRefs.includes(listenerName)) return;
    const lower = route.hostnames.map((h) => h.toLowerCase());
    const names: Names = {
      withPort: new Set(lower.filter((h) => hasPort(h))),
      exact: new Set(lower.filter((h) => !h.startsWith('*.') && !hasPort(h))),
      wildcards: lower.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)),
      any: lower.length === 0,
    };
    route.rules.forEach((rule, ruleIndex) => {
      const pickBackend = weightedPicker(rule.backendRefs);
      const statName = `${route.name}/${rule.name ?? ruleIndex}`;
      rule.matches.forEach((match, matchIndex) => {
        const matched: MatchedRule = Object.freeze({ routeName: route.name, ruleIndex, rule, match, statName, pickBackend });
        const rank = [...pathRank(match.path), match.method === undefined ? 1 : 0, -match.headers.length, -match.queryParams.length, routeIndex, ruleIndex, matchIndex];
        candidates.push({ matched, test: compileMatch(match), rank, names });
        size += (names.any ? 1 : 0) + (names.withPort.size > 0 ? 1 : 0) + (names.exact.size > 0 ? 1 : 0) + names.wildcards.length;
      });
    });
  });
  return new IndexedRouteTable(candidates, size);
}

/**
 * One candidate in the list of one name or suffix. The lists are linked, each head the
 * map's value, so a lookup reaches its first candidate in one step: at 5 000 Services the
 * table no longer fits a CPU cache, and each object between the key and the answer is
 * another miss.
 */
type Node = {
  readonly matched: MatchedRule;
  readonly test: Test;
  /** Which list it is in: a name with a port and one without share a map. */
  readonly tier: Tier;
  readonly next: Node | null;
};

class IndexedRouteTable implements RouteTable {
  readonly size: number;
  /**
   * Lower-cased names: `host:port` ones (HOST_EXACT_PORT, matched against the whole
   * authority) and the others (HOST_EXACT, matched against the host without its port). No
   * name is both, and one map spares a Host without a port a second lookup.
   */
  readonly #byName = new Map<string, Node>();
  /** A wildcard's suffix with its dot (".example.com"), matched by a host with more before it. */
  readonly #bySuffix = new Map<string, Node>();
  readonly #anyHost: Node | null;
  readonly #ports: boolean;
  readonly #names: boolean;
  readonly #scratch: QueryScratch = { raw: '', params: null };

  /**
   * Files each candidate under each of its names. Every list holds one tier, so it is in
   * precedence order when the candidates are sorted by the rest of the rank first (and
   * filed last to first, as each node links to the next); `match` reads the tiers in order.
   */
  constructor(candidates: Candidate[], size: number) {
    this.size = size;
    candidates.sort((a, b) => compareRanks(b.rank, a.rank));
    let anyHost: Node | null = null;
    const file = (map: Map<string, Node>, key: string, c: Candidate, tier: Tier) => map.set(key, { matched: c.matched, test: c.test, tier, next: map.get(key) ?? null });
    for (const c of candidates) {
      if (c.names.any) anyHost = { matched: c.matched, test: c.test, tier: HOST_ANY, next: anyHost };
      for (const name of c.names.withPort) file(this.#byName, name, c, HOST_EXACT_PORT);
      for (const name of c.names.exact) file(this.#byName, name, c, HOST_EXACT);
      for (const suffix of c.names.wildcards) file(this.#bySuffix, suffix, c, HOST_WILDCARD);
    }
    this.#anyHost = anyHost;
    this.#ports = candidates.some((c) => c.names.withPort.size > 0);
    this.#names = candidates.some((c) => c.names.exact.size > 0 || c.names.wildcards.length > 0);
    Object.freeze(this);
  }

  match(req: RouteRequest): MatchedRule | undefined {
    const scratch = this.#scratch;
    scratch.raw = req.query;
    scratch.params = null;
    const found = this.#named(req, scratch) ?? first(this.#anyHost, req, scratch);
    scratch.params = null;
    return found;
  }

  /** The named tiers: `host:port`, then the host, then each wildcard suffix, longest first. */
  #named(req: RouteRequest, scratch: QueryScratch): MatchedRule | undefined {
    if (!this.#ports && !this.#names) return undefined;
    const authority = req.host.toLowerCase();
    const whole = this.#byName.get(authority);
    let found = whole?.tier === HOST_EXACT_PORT ? first(whole, req, scratch) : undefined;
    if (found !== undefined || !this.#names) return found;
    const end = hostEnd(req.host);
    // Without a port the host is the authority, already looked up.
    const bare = end <= 0 || end === req.host.length;
    const host = bare ? authority : req.host.slice(0, end).toLowerCase();
    const named = bare ? whole : this.#byName.get(host);
    if (named?.tier === HOST_EXACT && (found = first(named, req, scratch)) !== undefined) return found;
    if (this.#bySuffix.size === 0) return undefined;
    // "*.example.com" matches a host ending in ".example.com" with something before it: the
    // suffixes at each dot past the first character, the longest first.
    for (let dot = host.indexOf('.', 1); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const wild = this.#bySuffix.get(host.slice(dot));
      if (wild !== undefined && (found = first(wild, req, scratch)) !== undefined) return found;
    }
    return undefined;
  }
}

function first(node: Node | null | undefined, req: RouteRequest, scratch: QueryScratch): MatchedRule | undefined {
  for (let n = node; n != null; n = n.next) if (n.test === ALWAYS || n.test(req, scratch)) return n.matched;
  return undefined;
}

function pathRank(p: PathMatch): [number, number] {
  const kind = p.type === 'Exact' ? 0 : p.type === 'RegularExpression' ? 1 : 2;
  return [kind, -trimSlash(p.value).length];
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

// --- conditions, compiled once per match ---

function compileMatch(m: RouteMatch): Test {
  const tests: Test[] = [compilePath(m.path)];
  if (m.method !== undefined) {
    const method = m.method;
    tests.push((req) => req.method === method);
  }
  for (const h of m.headers) tests.push(compileHeader(h));
  for (const q of m.queryParams) tests.push(compileQueryParam(q));
  if (tests.length === 1) return tests[0];
  return (req, query) => {
    for (const t of tests) if (!t(req, query)) return false;
    return true;
  };
}

function compilePath(p: PathMatch): Test {
  if (p.type === 'Exact') {
    const value = p.value;
    return (req) => req.path === value;
  }
  if (p.type === 'RegularExpression') {
    const re = fullMatch(p.value);
    return (req) => re.test(req.path);
  }
  const prefix = trimSlash(p.value);
  if (prefix === '') return ALWAYS;
  // Element-wise: "/api" matches "/api", "/api/" and "/api/x", never "/apix".
  return (req) => req.path.startsWith(prefix) && (req.path.length === prefix.length || req.path.charCodeAt(prefix.length) === 47);
}

function compileHeader(h: HeaderMatch): Test {
  const ok = valueTest(h.type, h.value);
  const name = h.name;
  return (req) => headerMatches(req.headers[name], ok);
}

function compileQueryParam(q: QueryParamMatch): Test {
  const ok = valueTest(q.type, q.value);
  const name = q.name;
  return (_req, query) => {
    // Parsed at most once per request, and only when a candidate gets this far.
    const v = (query.params ??= new URLSearchParams(query.raw)).get(name);
    return v !== null && ok(v);
  };
}

function valueTest(type: 'Exact' | 'RegularExpression', value: string): (v: string) => boolean {
  if (type === 'Exact') return (v) => v === value;
  const re = fullMatch(value);
  return (v) => re.test(v);
}

/** No 'g' or 'y' flag: `test` must keep no lastIndex state between requests. */
function fullMatch(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/** A repeated header arrives as an array, or comma-joined by Node: any one value may match. */
function headerMatches(v: string | string[] | undefined, ok: (v: string) => boolean): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'string') {
    for (const one of v) if (headerMatches(one, ok)) return true;
    return false;
  }
  if (ok(v)) return true;
  if (!v.includes(',')) return false;
  for (const one of v.split(',')) if (ok(one.trim())) return true;
  return false;
}

// --- helpers ---

function weightedPicker(refs: readonly BackendRef[]): (random: () => number) => BackendRef | undefined {
  const live = refs.filter((r) => r.weight > 0);
  if (live.length === 0) return () => undefined;
  if (live.length === 1) {
    const only = live[0];
    return () => only;
  }
  const cumulative: number[] = [];
  let total = 0;
  for (const r of live) cumulative.push((total += r.weight));
  return (random) => {
    const x = random() * total;
    for (let i = 0; i < cumulative.length; i++) if (x < cumulative[i]) return live[i];
    // Only reachable if random() broke its [0, 1) contract.
    return live[live.length - 1];
  };
}

function trimSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

/** "svc:8080", "[::1]:80": a name with a port ("[::1]" alone has none). */
function hasPort(name: string): boolean {
  return /:\d+$/.test(name) && (name.charCodeAt(0) !== 91 /* [ */ || name.includes(']:'));
}

/** Where the host ends and its port starts: "[::1]:80" -> 5, "svc:8080" -> 3; 0 or less: the whole. */
function hostEnd(authority: string): number {
  return authority.charCodeAt(0) === 91 /* [ */ ? authority.indexOf(']') + 1 : authority.lastIndexOf(':');
}
