// A listener's routes compiled once into an ordered candidate list. Order is Gateway API
// precedence, so `match` is a walk that stops at the first candidate whose conditions hold:
//   1. hostname: an exact hostname, then wildcards (longest suffix first), then routes with none;
//   2. path: Exact, then RegularExpression, then PathPrefix, longer values first (Envoy
//      Gateway's order: a catch-all prefix "/" must not shadow a regex rule);
//   3. a method match; 4. more header matches; 5. more query matches;
//   6. route order, then rule order, then match order.

import type { BackendRef, HttpRoute, PathMatch, RouteMatch, RouteRule } from '../config/model.ts';

export type RouteRequest = {
  /** Host / :authority, possibly with a port. */
  readonly host: string;
  /** Normalized path without the query. */
  readonly path: string;
  /** Raw query without '?'. */
  readonly query: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
};

export type MatchedRule = {
  readonly routeName: string;
  readonly ruleIndex: number;
  readonly rule: RouteRule;
  readonly match: RouteMatch;
  /** "route/rule-name" or "route/rule-index": the metrics and access-log label. */
  readonly statName: string;
  /** Weighted pick; undefined when every weight is 0 or there are no backendRefs. */
  pickBackend(random: () => number): BackendRef | undefined;
};

export interface RouteTable {
  match(req: RouteRequest): MatchedRule | undefined;
  readonly size: number;
}

type Candidate = {
  readonly matched: MatchedRule;
  /** null: any host; a Set: exact names; a string: a wildcard suffix such as ".example.com". */
  readonly host: ReadonlySet<string> | string | null;
  readonly test: (req: RouteRequest, query: () => URLSearchParams) => boolean;
  readonly rank: readonly number[];
};

export function compileRouteTable(routes: readonly HttpRoute[], listenerName: string): RouteTable {
  const candidates: Candidate[] = [];
  routes.forEach((route, routeIndex) => {
    if (route.parentRefs.length > 0 && !route.parentRefs.includes(listenerName)) return;
    const exact = new Set(route.hostnames.filter((h) => !h.startsWith('*.')).map((h) => h.toLowerCase()));
    const wildcards = route.hostnames.filter((h) => h.startsWith('*.')).map((h) => h.slice(1).toLowerCase());
    route.rules.forEach((rule, ruleIndex) => {
      const pick = weightedPicker(rule.backendRefs);
      const statName = `${route.name}/${rule.name ?? ruleIndex}`;
      rule.matches.forEach((match, matchIndex) => {
        const matched: MatchedRule = { routeName: route.name, ruleIndex, rule, match, statName, pickBackend: pick };
        const test = compileMatch(match);
        const base = [...pathRank(match.path), match.method ? 0 : 1, -match.headers.length, -match.queryParams.length, routeIndex, ruleIndex, matchIndex];
        if (route.hostnames.length === 0) candidates.push({ matched, host: null, test, rank: [2, 0, ...base] });
        if (exact.size > 0) candidates.push({ matched, host: exact, test, rank: [0, 0, ...base] });
        for (const suffix of wildcards) candidates.push({ matched, host: suffix, test, rank: [1, -suffix.length, ...base] });
      });
    });
  });
  candidates.sort((a, b) => compareRanks(a.rank, b.rank));

  return {
    size: candidates.length,
    match(req) {
      const host = hostOnly(req.host);
      let params: URLSearchParams | null = null;
      const query = () => (params ??= new URLSearchParams(req.query));
      for (const c of candidates) {
        if (c.host !== null) {
          if (typeof c.host === 'string' ? !(host.endsWith(c.host) && host.length > c.host.length) : !c.host.has(host)) continue;
        }
        if (c.test(req, query)) return c.matched;
      }
      return undefined;
    },
  };
}

function pathRank(p: PathMatch): number[] {
  const kind = p.type === 'Exact' ? 0 : p.type === 'RegularExpression' ? 1 : 2;
  return [kind, -trimSlash(p.value).length];
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

// --- conditions, compiled once per match ---

type Test = (req: RouteRequest, query: () => URLSearchParams) => boolean;

function compileMatch(m: RouteMatch): Test {
  const tests: Test[] = [compilePath(m.path)];
  if (m.method !== undefined) {
    const method = m.method;
    tests.push((req) => req.method === method);
  }
  for (const h of m.headers) {
    const ok = valueTest(h.type, h.value);
    const name = h.name;
    tests.push((req) => headerMatches(req.headers[name], ok));
  }
  for (const q of m.queryParams) {
    const ok = valueTest(q.type, q.value);
    const name = q.name;
    tests.push((_req, query) => {
      const v = query().get(name);
      return v !== null && ok(v);
    });
  }
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
    const re = new RegExp(`^(?:${p.value})$`);
    return (req) => re.test(req.path);
  }
  const prefix = trimSlash(p.value);
  if (prefix === '') return () => true;
  // Element-wise: "/api" matches "/api" and "/api/x", never "/apix".
  return (req) => req.path.startsWith(prefix) && (req.path.length === prefix.length || req.path.charCodeAt(prefix.length) === 47);
}

function valueTest(type: 'Exact' | 'RegularExpression', value: string): (v: string) => boolean {
  if (type === 'Exact') return (v) => v === value;
  const re = new RegExp(`^(?:${value})$`);
  return (v) => re.test(v);
}

/** A repeated header arrives as an array, or comma-joined by Node: any one value may match. */
function headerMatches(v: string | string[] | undefined, ok: (v: string) => boolean): boolean {
  if (v === undefined) return false;
  if (Array.isArray(v)) return v.some((one) => headerMatches(one, ok));
  if (ok(v)) return true;
  return v.includes(',') && v.split(',').some((one) => ok(one.trim()));
}

// --- helpers ---

function weightedPicker(refs: readonly BackendRef[]): (random: () => number) => BackendRef | undefined {
  const live = refs.filter((r) => r.weight > 0);
  if (live.length === 0) return () => undefined;
  if (live.length === 1) return () => live[0];
  const cumulative: number[] = [];
  let total = 0;
  for (const r of live) cumulative.push((total += r.weight));
  return (random) => {
    const x = random() * total;
    for (let i = 0; i < cumulative.length; i++) if (x < cumulative[i]) return live[i];
    return live[live.length - 1];
  };
}

function trimSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

/** Lower-cased host without a port; "[::1]:80" -> "[::1]". */
function hostOnly(authority: string): string {
  const end = authority.charCodeAt(0) === 91 /* [ */ ? authority.indexOf(']') + 1 : authority.lastIndexOf(':');
  const host = end > 0 ? authority.slice(0, end) : authority;
  return host.toLowerCase();
}
