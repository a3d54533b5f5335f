// One RBAC policy of a filter -> one rule of an AuthorizationPolicy (translate-rbac.ts reads
// the filter): its principals, each the and_ids of one source's conditions, and its
// permissions, each the and_rules of one operation's, in the spellings of xds/rbac-form.ts
// (xds/SUBSET.md has the table). A condition is read only in the form the control plane
// writes it, and a not* condition only with the guard its action needs: anything else is a
// problem with its path.

import { parseSpiffeId } from '../../certs/spiffe-id.ts';
import { HEADER_NAME_PATTERN, HTTP_METHODS } from '../../kinds/http-names.ts';
import { readClaimCondition, readsJwt, sameForm } from '../../xds/jwt-form.ts';
import { ANY_HOST, ANY_PEER, ANY_WORKLOAD, parseHostRegex, parseNamespaceRegex } from '../../xds/rbac-form.ts';
import type { AuthzAction, AuthzCondition, AuthzOperation, AuthzPathMatch, AuthzRule, AuthzSource } from '../authz/model.ts';
import type { HeaderMatch } from '../config/model.ts';
import type { Pb, Sink } from './shape.ts';
import { requestPrincipals } from './translate-rbac-jwt.ts';

/** The rule an RBAC policy (not the matches-nothing entry) says. */
export function ruleOf(p: Pb, action: AuthzAction, sink: Sink): AuthzRule {
  const { to, when } = operations(p.permissions ?? [], action, sink.at('permissions'));
  return { from: sources(p.principals ?? [], action, sink.at('principals')), to, when };
}

/** A lone { any: true }, or each entry the and_ids of one source (`and` of `and`, as Istio writes them). */
function entries<T>(list: readonly Pb[], set: 'and_ids' | 'and_rules', what: string, sink: Sink, read: (items: readonly Pb[], at: Sink) => T): T[] {
  if (list.length === 0) sink.add('', `required: at least one (a lone { any: true } for any ${what})`);
  if (list.length === 1 && list[0].any === true) return [];
  return list.flatMap((e, i) => {
    const at = sink.at(`[${i}]`);
    const items: Pb[] | undefined = e[set]?.[set === 'and_ids' ? 'ids' : 'rules'];
    if (items === undefined || Object.keys(e).length !== 1) {
      at.add('', `a Sluice proxy reads each entry as ${set} of one ${what}'s conditions, or a lone { any: true }`);
      return [];
    }
    if (items.length === 0) at.add(set, 'needs at least one condition');
    return [read(items, at.at(`${set}.${set === 'and_ids' ? 'ids' : 'rules'}`))];
  });
}

// --- principals ---

type PeerKind = 'identities' | 'namespaces';
type SourceField = keyof AuthzSource;
const NOT_PEER: Record<PeerKind, SourceField> = { identities: 'notIdentities', namespaces: 'notNamespaces' };
const PEER_GUARD: Record<PeerKind, string> = { identities: ANY_PEER, namespaces: ANY_WORKLOAD };

function sources(list: readonly Pb[], action: AuthzAction, sink: Sink): AuthzSource[] {
  return entries(list, 'and_ids', 'source', sink, (ids, at) => {
    const s: Record<SourceField, readonly string[]> = { identities: [], notIdentities: [], namespaces: [], notNamespaces: [], requestPrincipals: [], notRequestPrincipals: [] };
    const seen = new Set<SourceField>();
    ids.forEach((id, i) => {
      const field = sourceField(id, action, at.at(`[${i}]`));
      if (field === undefined) return;
      if (seen.has(field.key)) at.add(`[${i}]`, `a second ${field.key} condition in one source would have to hold too; list every value in one`);
      seen.add(field.key);
      s[field.key] = field.values;
    });
    return s as AuthzSource;
  });
}

function sourceField(id: Pb, action: AuthzAction, sink: Sink): { key: SourceField; values: string[] } | undefined {
  if (readsJwt(id)) return requestPrincipals(id, action, sink);
  if (id.or_ids !== undefined) return peers(id.or_ids.ids ?? [], sink.at('or_ids.ids'));
  if (id.not_id !== undefined) {
    if (action === 'ALLOW') {
      sink.add('not_id', `alone, it admits a request without a peer, which an ALLOW policy never does through a not* condition here; guard it: and_ids [{ authenticated: { principal_name: { safe_regex: { regex: '${ANY_PEER}' } } } }, { not_id }]`);
      return undefined;
    }
    const set = notSet(id.not_id, 'or_ids', sink.at('not_id'));
    const read = set === undefined ? undefined : peers(set, sink.at('not_id.or_ids.ids'));
    return read === undefined ? undefined : { key: NOT_PEER[read.key as PeerKind], values: read.values };
  }
  const pair: Pb[] | undefined = id.and_ids?.ids;
  if (pair !== undefined && pair.length === 2 && pair[1].not_id !== undefined) {
    if (action === 'DENY') {
      sink.add('and_ids.ids[0]', 'a guard on a not* condition: a DENY policy here denies a request without a peer, which the guard would let through; write the not_id alone');
      return undefined;
    }
    const set = notSet(pair[1].not_id, 'or_ids', sink.at('and_ids.ids[1].not_id'));
    const read = set === undefined ? undefined : peers(set, sink.at('and_ids.ids[1].not_id.or_ids.ids'));
    if (read === undefined) return undefined;
    const want = PEER_GUARD[read.key as PeerKind];
    if (pair[0].authenticated?.principal_name?.safe_regex?.regex !== want) {
      sink.add('and_ids.ids[0]', `must be { authenticated: { principal_name: { safe_regex: { regex: '${want}' } } } }: the peers a not* condition on ${read.key} reads`);
      return undefined;
    }
    return { key: NOT_PEER[read.key as PeerKind], values: read.values };
  }
  sink.add('', 'a Sluice proxy reads a source condition as or_ids of authenticated peers, not_id of that (DENY), or and_ids [guard, not_id] (ALLOW)');
  return undefined;
}

/** `{ not_id: { or_ids } }` -> the set's items. */
function notSet(inner: Pb, set: 'or_ids' | 'or_rules', sink: Sink): Pb[] | undefined {
  const items: Pb[] | undefined = inner[set]?.[set === 'or_ids' ? 'ids' : 'rules'];
  if (items === undefined || Object.keys(inner).length !== 1) {
    sink.add('', `a Sluice proxy reads a negated condition as the negation of ${set}`);
    return undefined;
  }
  return items;
}

/** or_ids of authenticated.principal_name: SPIFFE IDs (exact), any peer ('.+'), or namespaces; one kind per set. */
function peers(ids: readonly Pb[], sink: Sink): { key: SourceField; values: string[] } | undefined {
  const kinds = new Set<PeerKind>();
  const values: string[] = [];
  if (ids.length === 0) sink.add('', 'needs at least one');
  ids.forEach((id, i) => {
    const at = sink.at(`[${i}]`);
    const m: Pb | undefined = id.authenticated?.principal_name;
    if (m === undefined || Object.keys(id).length !== 1) return at.add('', 'must be { authenticated: { principal_name } }: a Sluice proxy matches the mTLS peer by its SPIFFE ID');
    if (m.exact !== undefined) {
      const parsed = parseSpiffeId(String(m.exact));
      if (!parsed.ok) return at.add('authenticated.principal_name.exact', `is not a SPIFFE ID (${parsed.error}): a Sluice proxy knows a peer by its URI SAN only, so it would never match`);
      kinds.add('identities');
      values.push(String(m.exact));
      return;
    }
    const regex: unknown = m.safe_regex?.regex;
    const ns = typeof regex === 'string' ? parseNamespaceRegex(regex) : null;
    if (regex === ANY_PEER) {
      kinds.add('identities');
      values.push('*');
    } else if (ns !== null) {
      kinds.add('namespaces');
      values.push(ns);
    } else {
      at.add('authenticated.principal_name', `a Sluice proxy reads exact (a SPIFFE ID), safe_regex '${ANY_PEER}' (any peer) or safe_regex 'spiffe://[^/]+/ns/<namespace>/sa/[^/]+' (a namespace)`);
    }
  });
  if (kinds.size > 1) {
    sink.add('', 'mixes SPIFFE IDs and namespaces: in one source they are two conditions, each in its own or_ids');
    return undefined;
  }
  const [kind] = kinds;
  return kind === undefined ? undefined : { key: kind, values };
}

// --- permissions ---

type SetKind = 'methods' | 'paths' | 'hosts';
type OperationField = keyof AuthzOperation;
type SetValue = { kind: SetKind; value: string | AuthzPathMatch };
const NOT_SET: Record<SetKind, OperationField> = { methods: 'notMethods', paths: 'notPaths', hosts: 'notHosts' };

/**
 * The operations, and the rule's `when` conditions: every operation's and_rules ends with the
 * same claim conditions (xds/jwt-form.ts), or with no operation the one permission is theirs.
 */
function operations(list: readonly Pb[], action: AuthzAction, sink: Sink): { to: AuthzOperation[]; when: AuthzCondition[] } {
  let claims: Pb[] | undefined;
  let when: AuthzCondition[] = [];
  let bare = false;
  const to = entries(list, 'and_rules', 'operation', sink, (rules, at) => {
    const mine = rules.filter((r) => readsJwt(r));
    if (claims === undefined) {
      claims = mine;
      when = rules.flatMap((r, i) => {
        if (!readsJwt(r)) return [];
        const c = readClaimCondition(r, action);
        if (c === null) at.add(`[${i}]`, `a Sluice proxy reads a claim condition in the form xds/jwt-form.ts writes for ${action}: and_rules of the values' match and the notValues' negation (guarded in ALLOW) on jwt_authn's payload metadata (xds/SUBSET.md)`);
        return c === null ? [] : [{ claim: c.claim, values: c.values ?? [], notValues: c.notValues ?? [] }];
      });
    } else if (!sameForm(mine, claims)) {
      at.add('', "every operation of a rule must end with the same claim conditions: they are the rule's 'when'");
    }
    if (mine.length === rules.length) {
      bare = true;
      return undefined;
    }
    const o: Record<OperationField, readonly unknown[]> = { methods: [], notMethods: [], paths: [], notPaths: [], hosts: [], notHosts: [], headers: [] };
    const headers: HeaderMatch[] = [];
    const seen = new Set<OperationField>();
    rules.forEach((r, i) => {
      if (readsJwt(r)) return;
      const field = operationField(r, action, at.at(`[${i}]`));
      if (field === undefined) return;
      if (field.key === 'headers') return headers.push(field.values[0] as HeaderMatch);
      if (seen.has(field.key)) at.add(`[${i}]`, `a second ${field.key} condition in one operation would have to hold too; list every value in one`);
      seen.add(field.key);
      o[field.key] = field.values;
    });
    o.headers = headers;
    return o as AuthzOperation;
  });
  // Claim conditions alone: the rule has no `to`, so they must be the one permission.
  if (bare && list.length !== 1) sink.add('', "claim conditions alone are a rule without 'to': the only permission");
  return { to: to.filter((o): o is AuthzOperation => o !== undefined), when };
}

function operationField(r: Pb, action: AuthzAction, sink: Sink): { key: OperationField; values: unknown[] } | undefined {
  if (r.or_rules !== undefined) {
    const set = ruleSet(r.or_rules.rules ?? [], sink.at('or_rules.rules'));
    return set && { key: set.kind, values: set.values };
  }
  if (r.header !== undefined) {
    const h = headerMatch(r.header, sink.at('header'));
    return h && { key: 'headers', values: [h] };
  }
  if (r.not_rule !== undefined) {
    const items = notSet(r.not_rule, 'or_rules', sink.at('not_rule'));
    const set = items === undefined ? undefined : ruleSet(items, sink.at('not_rule.or_rules.rules'));
    if (set === undefined) return undefined;
    if (set.kind === 'hosts' && action === 'ALLOW') {
      sink.add('not_rule', `alone, it admits a request without a host, which an ALLOW policy never does through notHosts; guard it: and_rules [{ header: { name: ':authority', string_match: { safe_regex: { regex: '${ANY_HOST}' } } } }, { not_rule }]`);
      return undefined;
    }
    return { key: NOT_SET[set.kind], values: set.values };
  }
  const pair: Pb[] | undefined = r.and_rules?.rules;
  if (pair !== undefined && pair.length === 2 && pair[1].not_rule !== undefined) {
    const guard: Pb | undefined = pair[0].header;
    const items = notSet(pair[1].not_rule, 'or_rules', sink.at('and_rules.rules[1].not_rule'));
    const set = items === undefined ? undefined : ruleSet(items, sink.at('and_rules.rules[1].not_rule.or_rules.rules'));
    if (set === undefined) return undefined;
    if (set.kind !== 'hosts' || action === 'DENY' || guard?.name !== ':authority' || guard.string_match?.safe_regex?.regex !== ANY_HOST) {
      sink.add('and_rules.rules[0]', `a guard is read on notHosts in an ALLOW policy only, as { header: { name: ':authority', string_match: { safe_regex: { regex: '${ANY_HOST}' } } } }`);
      return undefined;
    }
    return { key: 'notHosts', values: set.values };
  }
  sink.add('', 'a Sluice proxy reads an operation condition as or_rules of methods, paths or hosts, not_rule of that, a header, or and_rules [guard, not_rule] (notHosts in ALLOW)');
  return undefined;
}

/** or_rules of one kind: ':method' headers (exact), url_path matches, or ':authority' host patterns. */
function ruleSet(rules: readonly Pb[], sink: Sink): { kind: SetKind; values: unknown[] } | undefined {
  const read = rules.map((r, i) => setValue(r, sink.at(`[${i}]`)));
  if (rules.length === 0) sink.add('', 'needs at least one');
  const kinds = new Set(read.flatMap((v) => (v === undefined ? [] : [v.kind])));
  if (kinds.size > 1) {
    sink.add('', `mixes ${[...kinds].join(' and ')}: in one operation they are separate conditions, each in its own or_rules`);
    return undefined;
  }
  const [kind] = kinds;
  return kind === undefined ? undefined : { kind, values: read.flatMap((v) => (v === undefined ? [] : [v.value])) };
}

function setValue(r: Pb, sink: Sink): SetValue | undefined {
  const h: Pb | undefined = r.header;
  if (h !== undefined && h.name === ':method') {
    const m = h.string_match?.exact;
    if (typeof m !== 'string' || Object.keys(h.string_match).length !== 1) return void sink.add('header.string_match', 'a method is matched exactly');
    if (!(HTTP_METHODS as readonly string[]).includes(m)) return void sink.add('header.string_match.exact', `must be one of ${HTTP_METHODS.join(', ')} (methods are case-sensitive); got '${m}'`);
    return { kind: 'methods', value: m };
  }
  if (h !== undefined && h.name === ':authority') {
    const host = typeof h.string_match?.safe_regex?.regex === 'string' ? parseHostRegex(h.string_match.safe_regex.regex) : null;
    if (host === null) return void sink.add('header.string_match', "a host is read as safe_regex '(?i:<host>)\\.*(?::[0-9]*)?' (any case, trailing dots, any port) or '(?i:<host>)\\.*:<port>', <host> perhaps starting with '.+\\.' (a wildcard)");
    return { kind: 'hosts', value: host };
  }
  if (r.url_path !== undefined) {
    const p: Pb = r.url_path.path ?? {};
    if (p.exact !== undefined && Object.keys(p).length === 1) return { kind: 'paths', value: { type: 'Exact', value: String(p.exact) } };
    if (p.prefix === '/' && Object.keys(p).length === 1) return { kind: 'paths', value: { type: 'PathPrefix', value: '/' } };
    return void sink.add('url_path.path', "a Sluice proxy reads exact, or prefix '/'; a prefix of whole segments is or_rules [{ exact: P }, { prefix: P/ }]");
  }
  const pair: Pb[] | undefined = r.or_rules?.rules;
  const [exact, prefix] = [pair?.[0]?.url_path?.path?.exact, pair?.[1]?.url_path?.path?.prefix];
  if (pair?.length === 2 && typeof exact === 'string' && exact.startsWith('/') && !exact.endsWith('/') && prefix === `${exact}/`) {
    return { kind: 'paths', value: { type: 'PathPrefix', value: exact } };
  }
  sink.add('', "a Sluice proxy reads a ':method' header, an ':authority' host pattern, a url_path, or or_rules [{ url_path exact P }, { url_path prefix P/ }] (PathPrefix P)");
  return undefined;
}

function headerMatch(h: Pb, sink: Sink): HeaderMatch | undefined {
  const name = String(h.name ?? '').toLowerCase();
  if (name.startsWith(':')) return void sink.add('name', `'${name}': :method and :authority are read in or_rules (methods, hosts); a Sluice proxy matches no other pseudo-header`);
  if (name === 'host') return void sink.add('name', "match the host with ':authority' host patterns (any case, port and trailing dot), not the host header");
  if (!new RegExp(HEADER_NAME_PATTERN).test(name)) return void sink.add('name', `'${name}' is not a header name`);
  const m: Pb = h.string_match ?? {};
  if (m.exact !== undefined && Object.keys(m).length === 1) return { name, type: 'Exact', value: String(m.exact) };
  if (typeof m.safe_regex?.regex === 'string' && Object.keys(m).length === 1) {
    try {
      new RegExp(`^(?:${m.safe_regex.regex})$`);
    } catch (err) {
      return void sink.add('string_match.safe_regex.regex', `JavaScript cannot compile it: ${(err as Error).message}`);
    }
    return { name, type: 'RegularExpression', value: m.safe_regex.regex };
  }
  sink.add('string_match', 'a Sluice proxy matches a header with exact or safe_regex');
  return undefined;
}
