// AuthorizationPolicy: a spec that passed the shared schema and checks
// (kinds/authz-spec.ts) resolved into the model proxy/authz compiles.

import type { AuthorizationSpec } from '../../kinds/authz-spec.ts';
import type { AuthorizationPolicy, AuthzOperation, AuthzRule, AuthzSource } from '../authz/model.ts';

type RawRule = NonNullable<AuthorizationSpec['rules']>[number];
type RawSource = NonNullable<RawRule['from']>[number];
type RawOperation = NonNullable<RawRule['to']>[number];

/** The validated spec as the engine reads it: defaults filled in, methods upper-case, header names lower-case. */
export function resolveAuthorization(name: string, spec: AuthorizationSpec): AuthorizationPolicy {
  return { name, action: spec.action ?? 'ALLOW', rules: (spec.rules ?? []).map(resolveRule) };
}

function resolveRule(r: RawRule): AuthzRule {
  return {
    from: (r.from ?? []).map(resolveSource),
    to: (r.to ?? []).map(resolveOperation),
    when: (r.when ?? []).map((c) => ({ claim: c.claim, values: c.values ?? [], notValues: c.notValues ?? [] })),
  };
}

function resolveSource(s: RawSource): AuthzSource {
  return {
    identities: s.identities ?? [],
    notIdentities: s.notIdentities ?? [],
    namespaces: s.namespaces ?? [],
    notNamespaces: s.notNamespaces ?? [],
    requestPrincipals: s.requestPrincipals ?? [],
    notRequestPrincipals: s.notRequestPrincipals ?? [],
  };
}

function resolveOperation(o: RawOperation): AuthzOperation {
  const paths = (list: RawOperation['paths']) => (list ?? []).map((p) => ({ type: p.type ?? 'PathPrefix', value: p.value }));
  return {
    methods: (o.methods ?? []).map((m) => m.toUpperCase()),
    notMethods: (o.notMethods ?? []).map((m) => m.toUpperCase()),
    paths: paths(o.paths),
    notPaths: paths(o.notPaths),
    hosts: o.hosts ?? [],
    notHosts: o.notHosts ?? [],
    headers: (o.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), type: h.type ?? 'Exact', value: h.value })),
  };
}
