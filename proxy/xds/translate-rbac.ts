// The `envoy.filters.http.rbac` filters of an HttpConnectionManager -> the listener's
// AuthorizationPolicies (proxy/authz/model.ts), which the same engine as the static file's
// enforces. The fields are read in the form the control plane writes them
// (control-plane/xds/policies/authorization/rbac.ts, Istio's translation; xds/rbac-form.ts
// holds the spellings both sides share): one policy per rule named
// `ns[NS]-policy[NAME]-rule[i]`, principals as and_ids of a source's conditions,
// permissions as and_rules of an operation's (translate-rbac-rule.ts reads those). Anything
// else is a problem with its path, never a guess: a form read otherwise than Envoy would
// read it is a hole in a DENY policy.
//
// The one place the two read a request differently is a request that lacks what a not*
// condition reads (no peer, no workload ID, no host): the engine holds it in DENY and fails
// it in ALLOW. Envoy's not_id / not_rule alone is the DENY reading; in an ALLOW policy the
// condition must be guarded by "has one", and_ids [guard, not_id], or it is refused.

import { parsePolicyKey } from '../../xds/rbac-form.ts';
import type { AuthorizationPolicy, AuthzAction, AuthzRule } from '../authz/model.ts';
import { enumOf, mapOf, message, scalar, type Pb, type Shape, type Sink } from './shape.ts';
import { ruleOf } from './translate-rbac-rule.ts';

export const RBAC_NAME = 'envoy.filters.http.rbac';

// --- shapes (recursive: a Set holds principals / permissions) ---

const STRING_MATCHER = message({ exact: scalar, prefix: scalar, safe_regex: message({ regex: scalar }) });
// jwt_authn's payload metadata (xds/jwt-form.ts): requestPrincipals and `when` claims.
const value: Record<string, Shape> = {};
const VALUE_MATCHER = message(value);
Object.assign(value, { string_match: STRING_MATCHER, double_match: message({ exact: scalar, range: message({ start: scalar, end: scalar }) }), bool_match: scalar, present_match: scalar, list_match: message({ one_of: VALUE_MATCHER }), or_match: message({ value_matchers: VALUE_MATCHER }) });
const METADATA = message({ filter: scalar, path: message({ key: scalar }), value: VALUE_MATCHER });
const principal: Record<string, Shape> = {};
const permission: Record<string, Shape> = {};
const PRINCIPAL = message(principal);
const PERMISSION = message(permission);
Object.assign(principal, { and_ids: message({ ids: PRINCIPAL }), or_ids: message({ ids: PRINCIPAL }), not_id: PRINCIPAL, any: scalar, authenticated: message({ principal_name: STRING_MATCHER }), metadata: METADATA });
Object.assign(permission, {
  and_rules: message({ rules: PERMISSION }),
  or_rules: message({ rules: PERMISSION }),
  not_rule: PERMISSION,
  any: scalar,
  header: message({ name: scalar, string_match: STRING_MATCHER }),
  url_path: message({ path: STRING_MATCHER }),
  metadata: METADATA,
});

const RULES = message({ action: enumOf('ALLOW', 'DENY'), policies: mapOf(message({ permissions: PERMISSION, principals: PRINCIPAL })) });

/** envoy.extensions.filters.http.rbac.v3.RBAC, as far as a Sluice proxy reads it. */
export const RBAC_CONFIG = message({ rules: RULES });

export const NETWORK_RBAC_NAME = 'envoy.filters.network.rbac';
/** envoy.extensions.filters.network.rbac.v3.RBAC: the same rules, on a connection (`stat_prefix` is required by Envoy, and only names its stats). */
export const NETWORK_RBAC_CONFIG = message({ stat_prefix: scalar, rules: RULES });

/** One RBAC filter, read: its action and the policies it holds. */
export type RbacFilter = { readonly action: AuthzAction; readonly policies: readonly AuthorizationPolicy[] };

/** A filter's config (already checked against RBAC_CONFIG) as policies, in Envoy's order (by name); undefined when it cannot be read. */
export function translateRbac(config: Pb, sink: Sink): RbacFilter | undefined {
  const rules: Pb | undefined = config.rules;
  if (rules === undefined) {
    sink.add('rules', 'required: an RBAC filter without rules enforces nothing; leave the filter out instead');
    return undefined;
  }
  // ALLOW is 0, the proto default, which an encoder may leave out.
  const raw: unknown = rules.action ?? 'ALLOW';
  if (raw !== 'ALLOW' && raw !== 'DENY') return undefined;
  const action: AuthzAction = raw;
  const groups = new Map<string, { name: string; rules: { index: number; rule: AuthzRule }[] }>();
  for (const [key, p] of Object.entries((rules.policies ?? {}) as Record<string, Pb>)) {
    const parsed = parsePolicyKey(key);
    let group = groups.get(parsed.group);
    if (group === undefined) groups.set(parsed.group, (group = { name: parsed.name, rules: [] }));
    if (matchesNothing(p)) continue;
    const rule = ruleOf(p, action, sink.at(`rules.policies[${JSON.stringify(key)}]`));
    group.rules.push({ index: parsed.rule ?? -1, rule });
  }
  const policies: AuthorizationPolicy[] = [...groups.keys()].sort().map((k) => {
    const g = groups.get(k)!;
    return { name: g.name, action, rules: g.rules.sort((a, b) => a.index - b.index).map((r) => r.rule) };
  });
  // Envoy's allow-nothing: an ALLOW filter with no policies denies every request; in the model, an ALLOW policy with no rules.
  if (action === 'ALLOW' && policies.length === 0) policies.push({ name: RBAC_NAME, action, rules: [] });
  return { action, policies };
}

/** The filters of one listener, in order: at most one DENY, then at most one ALLOW (two ALLOW filters would each have to allow). */
export function listenerPolicies(filters: readonly { readonly filter: RbacFilter; readonly at: string }[], sink: Sink): AuthorizationPolicy[] {
  let allow: string | undefined;
  let deny: string | undefined;
  for (const { filter, at } of filters) {
    if (filter.action === 'DENY') {
      if (deny !== undefined) sink.add(at, `a second DENY filter (after ${deny}): put every DENY policy in one`);
      else if (allow !== undefined) sink.add(at, `the DENY filter must come before the ALLOW filter (${allow}): a matching DENY policy is what a denial names`);
      deny ??= at;
    } else {
      if (allow !== undefined) sink.add(at, `a second ALLOW filter (after ${allow}): each would have to allow, where any ALLOW policy matching is enough; put them in one`);
      allow ??= at;
    }
  }
  return filters.flatMap((f) => f.filter.policies);
}

/** The entry of a policy with no rules: it is there (an ALLOW one denies what no other allows) and matches nothing. */
function matchesNothing(p: Pb): boolean {
  const [perms, ids]: Pb[][] = [p.permissions ?? [], p.principals ?? []];
  return perms.length === 1 && perms[0].any === true && ids.length === 1 && ids[0].not_id?.any === true && Object.keys(ids[0].not_id).length === 1;
}
