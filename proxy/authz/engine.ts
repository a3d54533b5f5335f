// The authorization engine: a listener's AuthorizationPolicies compiled once into closures,
// then one synchronous call per request. Istio's order: a DENY policy with a matching rule
// denies; else with no ALLOW policy the request is allowed; else it is allowed iff some ALLOW
// policy has a matching rule. So an ALLOW policy with no rules denies everything on its
// listener (Istio's allow-nothing), and a DENY policy with no rules denies nothing.
//
// Where a request lacks what a condition reads, the engine takes the side that cannot open a
// hole, which depends on the action (a match ALLOWs in one, DENYs in the other):
//   - Positive fields (identities, namespaces, requestPrincipals, hosts, headers, `values`)
//     never match a missing attribute: a plaintext peer is in no namespace.
//   - Negated fields (not*, `notValues`) on a missing attribute HOLD in DENY and FAIL in
//     ALLOW: DENY `notRequestPrincipals: ["*"]` denies requests without a JWT (Istio's
//     require-JWT recipe), ALLOW `notNamespaces: [evil]` never admits a plaintext peer.
//     Missing: a null peer, a peer ID not shaped /ns/<ns>/sa/<sa> (for namespaces), a null
//     principal, an empty host, null claims, a claim absent or not a string/number/bool/list.
//   - A header sent twice (`x-user: guest`, `x-user: admin`): in DENY it matches if ANY value
//     does, each comma-separated element counting too (RFC 9110 makes `guest, admin` the
//     same list); in ALLOW EVERY value must match whole, and at least one be sent. Either
//     way, a value a client adds can only make it less likely to get through.

import { parseSpiffeId, workloadOf } from '../../certs/spiffe-id.ts';
import type { HeaderMatch } from '../config/model.ts';
import type { AuthorizationPolicy, AuthzAction, AuthzCondition, AuthzDecision, AuthzOperation, AuthzPathMatch, AuthzRequest, AuthzRule, AuthzSource } from './model.ts';

/**
 * Decides one request, synchronously; not re-entrant (one scratch object holds the host).
 * Returns shared frozen decisions. Allocates only the lower-cased host (when a rule reads it),
 * the elements of a comma-holding header value (DENY header matches) and a number claim's text.
 */
export type Authorizer = (req: AuthzRequest) => AuthzDecision;

/** The request's host once per request: lower-cased, no trailing dot, with and without its port. */
type HostView = { name: string; withPort: string };
type Test = (req: AuthzRequest) => boolean;
type CompiledRule = { readonly test: Test; readonly decision: AuthzDecision };

/** What compiling one policy needs, and what it reports back (whether the host is read). */
type Scope = {
  readonly action: AuthzAction;
  /** Filled in before the rules run, for each request, when `readsHost` ends up true. */
  readonly host: HostView;
  /** What a negated field says about a request that lacks the attribute (see the top). */
  readonly absentHolds: boolean;
  readonly namespaceOf: (peer: string) => string | null;
  readsHost: boolean;
};

const [SLASH, COLON, DOT, BRACKET] = [47, 58, 46, 91]; // '/', ':', '.', '['
const ALLOWED_NO_POLICY: AuthzDecision = Object.freeze({ allowed: true, policy: null });

export function compileAuthorization(policies: readonly AuthorizationPolicy[]): Authorizer {
  const namespaceOf = namespaceCache();
  const host: HostView = { name: '', withPort: '' };
  const deny: CompiledRule[] = [];
  const allow: CompiledRule[] = [];
  let readsHost = false;
  for (const p of policies) {
    const scope: Scope = { action: p.action, host, absentHolds: p.action === 'DENY', namespaceOf, readsHost: false };
    const allowed: AuthzDecision = Object.freeze({ allowed: true, policy: p.name });
    p.rules.forEach((r, i) => {
      const test = compileRule(r, scope);
      if (p.action === 'ALLOW') allow.push({ test, decision: allowed });
      else deny.push({ test, decision: Object.freeze({ allowed: false, policy: p.name, reason: `denied by DENY policy '${p.name}' (rules[${i}])` }) });
    });
    readsHost ||= scope.readsHost;
  }
  const allowNames = policies.filter((p) => p.action === 'ALLOW').map((p) => `'${p.name}'`);
  const noneMatched: AuthzDecision = Object.freeze({ allowed: false, policy: null, reason: `no ALLOW policy matched (${allowNames.join(', ')})` });
  return (req) => {
    if (readsHost) viewHost(req.host, host);
    for (let i = 0; i < deny.length; i++) if (deny[i].test(req)) return deny[i].decision;
    if (allowNames.length === 0) return ALLOWED_NO_POLICY;
    for (let i = 0; i < allow.length; i++) if (allow[i].test(req)) return allow[i].decision;
    return noneMatched;
  };
}

// --- rules ---

function compileRule(r: AuthzRule, scope: Scope): Test {
  const tests: Test[] = [];
  if (r.from.length > 0) tests.push(someOf(r.from.map((s) => compileSource(s, scope))));
  if (r.to.length > 0) tests.push(someOf(r.to.map((o) => compileOperation(o, scope))));
  for (const w of r.when) tests.push(compileCondition(w, scope));
  return allOf(tests);
}

function compileSource(s: AuthzSource, scope: Scope): Test {
  const tests: Test[] = [];
  const { namespaceOf } = scope;
  field(tests, scope, (req) => req.peer, s.identities, s.notIdentities, oneOf);
  field(tests, scope, (req) => (req.peer === null ? null : namespaceOf(req.peer)), s.namespaces, s.notNamespaces, setOf);
  field(tests, scope, (req) => req.principal, s.requestPrincipals, s.notRequestPrincipals, oneOf);
  return allOf(tests);
}

function compileOperation(o: AuthzOperation, scope: Scope): Test {
  const tests: Test[] = [];
  // Method and path are always there, so their negations never meet the absent rule.
  field(tests, scope, (req) => req.method, o.methods, o.notMethods, setOf);
  field(tests, scope, (req) => req.path, o.paths, o.notPaths, (list) => someOf(list.map(pathTest)));
  if (o.hosts.length > 0 || o.notHosts.length > 0) scope.readsHost = true;
  const host = scope.host;
  field(tests, scope, () => (host.name === '' ? null : host), o.hosts, o.notHosts, (list) => someOf(list.map(hostTest)));
  for (const h of o.headers) tests.push(compileHeader(h, scope.action));
  return allOf(tests);
}

/**
 * The tests of one attribute and its negation: `read` gives null when the request lacks the
 * attribute, which matches `list` never and `notList` as the absent rule says.
 */
function field<T, M>(tests: Test[], scope: Scope, read: (req: AuthzRequest) => T | null, list: readonly M[], notList: readonly M[], compile: (list: readonly M[]) => (v: T) => boolean): void {
  if (list.length > 0) {
    const matches = compile(list);
    tests.push((req) => {
      const v = read(req);
      return v !== null && matches(v);
    });
  }
  if (notList.length > 0) {
    const matches = compile(notList);
    const absentHolds = scope.absentHolds;
    tests.push((req) => {
      const v = read(req);
      return v === null ? absentHolds : !matches(v);
    });
  }
}

// --- paths and hosts ---

/** Exact is string equality; PathPrefix is element-wise and ignores the prefix's trailing '/' (Gateway API). */
function pathTest(p: AuthzPathMatch): (path: string) => boolean {
  const value = p.value;
  if (p.type === 'Exact') return (path) => path === value;
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === SLASH) end--;
  const prefix = value.slice(0, end);
  if (prefix === '') return () => true;
  // "/admin" matches "/admin", "/admin/" and "/admin/x", never "/administrator".
  return (path) => path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === SLASH);
}

/** A port in the pattern is compared; without one, the request's port is ignored. */
function hostTest(pattern: string): (host: HostView) => boolean {
  const view: HostView = { name: '', withPort: '' };
  viewHost(pattern, view);
  const hasPort = view.withPort !== view.name;
  const want = hasPort ? view.withPort : view.name;
  if (want.startsWith('*.')) {
    // "*.example.com" is any subdomain, however deep, never example.com itself.
    const suffix = want.slice(1);
    return (host) => {
      const got = hasPort ? host.withPort : host.name;
      return got.length > suffix.length && got.endsWith(suffix);
    };
  }
  return hasPort ? (host) => host.withPort === want : (host) => host.name === want;
}

/**
 * Host and authority are case-insensitive and "admin.example.com." (any number of dots) is
 * admin.example.com, so both are folded before any comparison (CVE-2021-39155 was a DENY on
 * a host bypassed by case). The port is split as the route table splits it: after ']' for an
 * IPv6 literal, else at the last ':'.
 */
function viewHost(raw: string, out: HostView): void {
  const h = raw.toLowerCase();
  let end = h.length;
  let colon = -1;
  if (h.charCodeAt(0) === BRACKET) {
    const close = h.indexOf(']');
    if (close !== -1 && h.charCodeAt(close + 1) === COLON) colon = close + 1;
  } else {
    colon = h.lastIndexOf(':');
  }
  if (colon !== -1) end = colon;
  let bare = end;
  while (bare > 0 && h.charCodeAt(bare - 1) === DOT) bare--;
  out.name = bare === h.length ? h : h.slice(0, bare);
  if (colon === -1 || colon === h.length - 1) out.withPort = out.name;
  else out.withPort = bare === end ? h : out.name + h.slice(colon);
}

// --- headers and claims ---

function compileHeader(h: HeaderMatch, action: AuthzAction): Test {
  const ok = valueTest(h);
  // Header names are case-insensitive; a hand-built model with 'X-User' must still match.
  const name = h.name.toLowerCase();
  if (action === 'DENY') {
    return (req) => {
      const values = req.headerValues(name);
      for (let i = 0; i < values.length; i++) if (ok(values[i]) || anyElement(values[i], ok)) return true;
      return false;
    };
  }
  return (req) => {
    const values = req.headerValues(name);
    if (values.length === 0) return false;
    for (let i = 0; i < values.length; i++) if (!ok(values[i])) return false;
    return true;
  };
}

/** A regular expression must match the whole value, as in the route table; no 'g'/'y': no state between requests. */
function valueTest(h: HeaderMatch): (v: string) => boolean {
  const value = h.value;
  if (h.type === 'Exact') return (v) => v === value;
  const re = new RegExp(`^(?:${value})$`);
  return (v) => re.test(v);
}

/** Each comma-separated element, trimmed; only values that hold a ',' pay for the slices. */
function anyElement(value: string, ok: (v: string) => boolean): boolean {
  if (!value.includes(',')) return false;
  for (let start = 0; start <= value.length; ) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    if (ok(value.slice(start, end).trim())) return true;
    start = end + 1;
  }
  return false;
}

function compileCondition(c: AuthzCondition, scope: Scope): Test {
  const whole = c.claim;
  const path = c.claim.split('.');
  const values = c.values.length > 0 ? new Set(c.values) : null;
  const notValues = c.notValues.length > 0 ? new Set(c.notValues) : null;
  const absentHolds = scope.absentHolds;
  return (req) => {
    const v = claimOf(req.claims, whole, path);
    // `values` cannot hold for a claim that is not there; `notValues` alone follows the absent rule.
    if (v === undefined) return values === null && absentHolds;
    return (values === null || claimHasAny(v, values)) && (notValues === null || !claimHasAny(v, notValues));
  };
}

type ClaimValue = string | number | boolean | readonly unknown[];

/**
 * The claim at `path`, or undefined when it is missing or not a string, number, boolean or
 * list. A whole-name key wins over the dot path so that namespaced claims such as
 * 'https://example.com/roles' can be named. Only own properties are read: 'constructor' is
 * not a claim.
 */
function claimOf(claims: Readonly<Record<string, unknown>> | null, whole: string, path: readonly string[]): ClaimValue | undefined {
  if (claims === null) return undefined;
  let v: unknown = claims;
  if (path.length > 1 && Object.hasOwn(claims, whole)) v = claims[whole];
  else {
    for (let i = 0; i < path.length; i++) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, path[i])) return undefined;
      v = (v as Record<string, unknown>)[path[i]];
    }
  }
  if (typeof v === 'string' || typeof v === 'boolean' || Array.isArray(v) || (typeof v === 'number' && Number.isFinite(v))) return v as ClaimValue;
  return undefined;
}

/** A scalar claim equals one of `set`; a list claim holds one of them. Numbers and booleans compare by their JSON text. */
function claimHasAny(v: ClaimValue, set: ReadonlySet<string>): boolean {
  if (!Array.isArray(v)) return scalarIn(v, set);
  for (let i = 0; i < v.length; i++) if (scalarIn(v[i], set)) return true;
  return false;
}

function scalarIn(v: unknown, set: ReadonlySet<string>): boolean {
  if (typeof v === 'string') return set.has(v);
  if (typeof v === 'boolean' || typeof v === 'number') return set.has(String(v));
  return false;
}

// --- helpers ---

/** '*' in the list is "any value that is there"; otherwise whole-string equality. */
function oneOf(list: readonly string[]): (v: string) => boolean {
  return list.includes('*') ? () => true : setOf(list);
}

function setOf(list: readonly string[]): (v: string) => boolean {
  const set = new Set(list);
  return (v) => set.has(v);
}

function someOf<T>(tests: readonly ((v: T) => boolean)[]): (v: T) => boolean {
  if (tests.length === 1) return tests[0];
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (tests[i](v)) return true;
    return false;
  };
}

function allOf<T>(tests: readonly ((v: T) => boolean)[]): (v: T) => boolean {
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0];
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i](v)) return false;
    return true;
  };
}

/**
 * The namespace of a verified peer ID, parsed once per distinct peer: a peer speaks many
 * requests over one connection. Bounded, since peers come and go over a config's lifetime.
 */
function namespaceCache(): (peer: string) => string | null {
  const known = new Map<string, string | null>();
  return (peer) => {
    let ns = known.get(peer);
    if (ns === undefined) {
      const id = parseSpiffeId(peer);
      ns = id.ok ? (workloadOf(id.value)?.namespace ?? null) : null;
      if (known.size >= 4096) known.clear();
      known.set(peer, ns);
    }
    return ns;
  };
}
