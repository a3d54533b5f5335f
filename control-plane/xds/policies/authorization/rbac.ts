// AuthorizationPolicy specs -> the configs of Envoy's RBAC HTTP filter
// (envoy.extensions.filters.http.rbac.v3.RBAC), Istio's translation: one filter for the DENY
// policies, then one for the ALLOW policies, one RBAC policy per rule, named
// `ns[NS]-policy[NAME]-rule[i]`; a rule's `from` entries are its principals (and_ids of
// each source's conditions) and its `to` entries its permissions (and_rules of each
// operation's). Envoy takes a DENY filter's decision if any of its policies matches, and an
// ALLOW filter denies unless one does: with the DENY filter first, that is the engine's order
// (proxy/authz/engine.ts), and a proxy reads these fields back into the same model
// (proxy/xds/translate-rbac.ts; xds/SUBSET.md lists them).
//
// Where Envoy and the engine read a request that lacks an attribute differently, the fields
// say what the engine does: a not* field on a peer, a workload ID or a host holds for a
// request without one in a DENY policy (Envoy's not_id / not_rule alone), and fails in an
// ALLOW policy, so there it is guarded by "has one" (and_ids [guard, not_id]).
//
// requestPrincipals and `when` read the JWT RequestAuthentication's jwt_authn filter verified,
// as `metadata` matchers on the payload it writes (xds/jwt-form.ts holds those forms).

import type { AuthorizationSpec } from '../../../../kinds/authz-spec.ts';
import { claimConditionRule, HAS_JWT, requestPrincipalsId } from '../../../../xds/jwt-form.ts';
import { ANY_HOST, ANY_PEER, ANY_WORKLOAD, hostRegex, namespaceRegex, policyKey } from '../../../../xds/rbac-form.ts';
import type { Obj } from '../../generate/envoy.ts';

type Action = 'ALLOW' | 'DENY';
type Rule = NonNullable<AuthorizationSpec['rules']>[number];
type Source = NonNullable<Rule['from']>[number];
type Operation = NonNullable<Rule['to']>[number];
type PathMatch = NonNullable<Operation['paths']>[number];

/** One policy on a listener: its namespace and name (for the RBAC policy names) and its spec. */
export type NamedSpec = { readonly namespace: string; readonly name: string; readonly spec: AuthorizationSpec };

/** What Envoy's RBAC filter has no other way to say: a policy that is there and matches nothing. */
const MATCHES_NOTHING: Obj = { permissions: [{ any: true }], principals: [{ not_id: { any: true } }] };
const ANY: Obj = { any: true };

/**
 * The RBAC filter configs for one listener's policies: DENY then ALLOW, each only when a
 * policy has that action. Within a filter the policies are in name order, as Envoy keeps
 * them (a map: the first matching name is the one a denial reports).
 */
export function rbacConfigs(policies: readonly NamedSpec[]): Obj[] {
  const out: Obj[] = [];
  for (const action of ['DENY', 'ALLOW'] as const) {
    const mine = policies.filter((p) => (p.spec.action ?? 'ALLOW') === action).map((p) => ({ key: policyKey(p.namespace, p.name), p }));
    if (mine.length === 0) continue;
    mine.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const entries: Obj = {};
    for (const { p } of mine) {
      const rules = p.spec.rules ?? [];
      if (rules.length === 0) entries[policyKey(p.namespace, p.name)] = MATCHES_NOTHING;
      rules.forEach((r, i) => (entries[policyKey(p.namespace, p.name, i)] = rbacPolicy(r, action)));
    }
    out.push({ rules: { action, policies: entries } });
  }
  return out;
}

/**
 * A rule's `when` conditions read the claims jwt_authn verified (xds/jwt-form.ts): each is
 * one more rule of every operation's and_rules, or with no `to` the one permission.
 */
function rbacPolicy(r: Rule, action: Action): Obj {
  const when = (r.when ?? []).map((c) => claimConditionRule(c, action));
  const anyOperation = r.to === undefined || r.to.length === 0;
  return {
    permissions: anyOperation ? (when.length === 0 ? [ANY] : [{ and_rules: { rules: when } }]) : r.to!.map((o) => ({ and_rules: { rules: [...operation(o, action), ...when] } })),
    principals: r.from === undefined || r.from.length === 0 ? [ANY] : r.from.map((s) => ({ and_ids: { ids: source(s, action) } })),
  };
}

// --- principals ---

const authenticated = (match: Obj): Obj => ({ authenticated: { principal_name: match } });
const regex = (re: string): Obj => ({ safe_regex: { regex: re } });
const PEER_GUARD = authenticated(regex(ANY_PEER));
const WORKLOAD_GUARD = authenticated(regex(ANY_WORKLOAD));

function source(s: Source, action: Action): Obj[] {
  const ids: Obj[] = [];
  const identities = (list: readonly string[]) => ({ or_ids: { ids: list.map((id) => authenticated(id === '*' ? regex(ANY_PEER) : { exact: id })) } });
  const namespaces = (list: readonly string[]) => ({ or_ids: { ids: list.map((ns) => authenticated(regex(namespaceRegex(ns)))) } });
  const not = (set: Obj, guard: Obj): Obj => (action === 'DENY' ? { not_id: set } : { and_ids: { ids: [guard, { not_id: set }] } });
  if (s.identities !== undefined) ids.push(identities(s.identities));
  if (s.notIdentities !== undefined) ids.push(not(identities(s.notIdentities), PEER_GUARD));
  if (s.namespaces !== undefined) ids.push(namespaces(s.namespaces));
  if (s.notNamespaces !== undefined) ids.push(not(namespaces(s.notNamespaces), WORKLOAD_GUARD));
  // The verified JWT's iss and sub, from jwt_authn's payload metadata; "has one" guards the negation in ALLOW.
  if (s.requestPrincipals !== undefined) ids.push(requestPrincipalsId(s.requestPrincipals));
  if (s.notRequestPrincipals !== undefined) ids.push(not(requestPrincipalsId(s.notRequestPrincipals), HAS_JWT));
  return ids;
}

// --- permissions ---

const header = (name: string, match: Obj): Obj => ({ header: { name, string_match: match } });
const urlPath = (match: Obj): Obj => ({ url_path: { path: match } });
const HOST_GUARD = header(':authority', regex(ANY_HOST));

function operation(o: Operation, action: Action): Obj[] {
  const rules: Obj[] = [];
  const methods = (list: readonly string[]) => ({ or_rules: { rules: list.map((m) => header(':method', { exact: m.toUpperCase() })) } });
  const paths = (list: readonly PathMatch[]) => ({ or_rules: { rules: list.map(pathRule) } });
  const hosts = (list: readonly string[]) => ({ or_rules: { rules: list.map((h) => header(':authority', regex(hostRegex(h)))) } });
  if (o.methods !== undefined) rules.push(methods(o.methods));
  // The method and the path are never missing, so their negations need no guard.
  if (o.notMethods !== undefined) rules.push({ not_rule: methods(o.notMethods) });
  if (o.paths !== undefined) rules.push(paths(o.paths));
  if (o.notPaths !== undefined) rules.push({ not_rule: paths(o.notPaths) });
  if (o.hosts !== undefined) rules.push(hosts(o.hosts));
  if (o.notHosts !== undefined) rules.push(action === 'DENY' ? { not_rule: hosts(o.notHosts) } : { and_rules: { rules: [HOST_GUARD, { not_rule: hosts(o.notHosts) }] } });
  for (const h of o.headers ?? []) rules.push(header(h.name.toLowerCase(), h.type === 'RegularExpression' ? regex(h.value) : { exact: h.value }));
  return rules;
}

/** Exact is the path; PathPrefix whole segments (Gateway API): /admin is /admin and /admin/..., never /administrator. */
function pathRule(p: PathMatch): Obj {
  if ((p.type ?? 'PathPrefix') === 'Exact') return urlPath({ exact: p.value });
  const prefix = p.value.replace(/\/+$/, '');
  if (prefix === '') return urlPath({ prefix: '/' });
  return { or_rules: { rules: [urlPath({ exact: prefix }), urlPath({ prefix: `${prefix}/` })] } };
}
