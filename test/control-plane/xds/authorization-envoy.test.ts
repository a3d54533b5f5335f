// The RBAC the control plane generates means, to Envoy, what the policy means to a Sluice
// proxy: the filters are evaluated here as Envoy's RBAC documents it (a policy matches when
// any principal and any permission does; `authenticated` never matches a plaintext peer; a
// header matcher never matches an absent header; url_path and safe_regex match the whole
// value; a DENY filter denies on a match, an ALLOW filter denies without one) and the
// decision on every request of a table is the engine's, denial names included. No Envoy
// runs here; the evaluator is the reading of Envoy's docs that rbac.ts is written against.
// A header sent twice is left out: Envoy matches the values joined by ',', the engine each
// value (README, "The mesh over xDS").

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuthorizationSpec } from '../../../kinds/authz-spec.ts';
import { compileAuthorization } from '../../../proxy/authz/engine.ts';
import type { AuthzRequest } from '../../../proxy/authz/model.ts';
import { resolveAuthorization } from '../../../proxy/config/authz-spec.ts';
import { rbacConfigs } from '../../../control-plane/xds/policies/authorization/rbac.ts';
import { parsePolicyKey } from '../../../xds/rbac-form.ts';

type Pb = Record<string, any>;
type Req = { peer: string | null; method: string; path: string; host: string; headers: Record<string, string>; claims?: Record<string, unknown> | null };

const TD = 'spiffe://cluster.local';
const WEB = `${TD}/ns/shop/sa/web`;

// --- Envoy's RBAC, as documented ---

function stringMatches(m: Pb, v: string): boolean {
  if (m.exact !== undefined) return v === m.exact;
  if (m.prefix !== undefined) return v.startsWith(m.prefix);
  if (m.safe_regex !== undefined) return new RegExp(`^(?:${m.safe_regex.regex})$`).test(v);
  throw new Error(`matcher not modelled: ${JSON.stringify(m)}`);
}

function headerValue(req: Req, name: string): string | undefined {
  if (name === ':method') return req.method;
  if (name === ':authority') return req.host;
  return req.headers[name];
}

function principal(p: Pb, req: Req): boolean {
  if (p.any === true) return true;
  if (p.and_ids) return p.and_ids.ids.every((x: Pb) => principal(x, req));
  if (p.or_ids) return p.or_ids.ids.some((x: Pb) => principal(x, req));
  if (p.not_id) return !principal(p.not_id, req);
  if (p.authenticated) return req.peer !== null && (p.authenticated.principal_name === undefined || stringMatches(p.authenticated.principal_name, req.peer));
  if (p.metadata) return metadataMatches(p.metadata, req);
  throw new Error(`principal not modelled: ${JSON.stringify(p)}`);
}

function permission(p: Pb, req: Req): boolean {
  if (p.any === true) return true;
  if (p.and_rules) return p.and_rules.rules.every((x: Pb) => permission(x, req));
  if (p.or_rules) return p.or_rules.rules.some((x: Pb) => permission(x, req));
  if (p.not_rule) return !permission(p.not_rule, req);
  if (p.url_path) return stringMatches(p.url_path.path, req.path);
  if (p.header) {
    const v = headerValue(req, p.header.name);
    return v !== undefined && stringMatches(p.header.string_match, v);
  }
  if (p.metadata) return metadataMatches(p.metadata, req);
  throw new Error(`permission not modelled: ${JSON.stringify(p)}`);
}

/**
 * A metadata matcher on the payload jwt_authn wrote (payload_in_metadata), as Envoy's
 * MetadataMatcher and ValueMatcher read it: the path walks struct fields only; a path that
 * is not there matches nothing; present_match takes any value there, null, lists and
 * structs included; string/double/bool matchers take only their own kind; list_match
 * needs an element that matches.
 */
function metadataMatches(m: Pb, req: Req): boolean {
  if (m.filter !== 'envoy.filters.http.jwt_authn' || m.invert !== undefined) throw new Error(`metadata not modelled: ${JSON.stringify(m)}`);
  let v: unknown = req.claims == null ? undefined : { payload: req.claims };
  for (const { key } of m.path as { key: string }[]) {
    v = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, key) ? (v as Pb)[key] : undefined;
  }
  return v !== undefined && valueMatches(m.value, v);
}

function valueMatches(m: Pb, v: unknown): boolean {
  if (m.present_match !== undefined) return m.present_match === true;
  if (m.string_match) return typeof v === 'string' && stringMatches(m.string_match, v);
  if (m.double_match) return typeof v === 'number' && (m.double_match.exact !== undefined ? v === m.double_match.exact : v >= m.double_match.range.start && v < m.double_match.range.end);
  if (m.bool_match !== undefined) return v === m.bool_match;
  if (m.list_match) return Array.isArray(v) && v.some((e) => valueMatches(m.list_match.one_of, e));
  if (m.or_match) return m.or_match.value_matchers.some((x: Pb) => valueMatches(x, v));
  throw new Error(`value matcher not modelled: ${JSON.stringify(m)}`);
}

/** The filters in order: the first to deny answers, naming the policy (Envoy's map order) or 'none'. */
function envoyDecides(filters: readonly Pb[], req: Req): string | null {
  for (const f of filters) {
    const names = Object.keys(f.rules.policies ?? {}).sort();
    const matched = names.find((n) => f.rules.policies[n].principals.some((x: Pb) => principal(x, req)) && f.rules.policies[n].permissions.some((x: Pb) => permission(x, req)));
    if (f.rules.action === 'DENY' && matched !== undefined) return parsePolicyKey(matched).name;
    if (f.rules.action === 'ALLOW' && matched === undefined) return 'none';
  }
  return null;
}

// --- the table ---

const POLICY_SETS: Record<string, Record<string, AuthorizationSpec>> = {
  identities: { 'allow-web': { rules: [{ from: [{ identities: [WEB] }] }, { from: [{ identities: ['*'] }], to: [{ methods: ['GET'] }] }] } },
  namespaces: { 'allow-shop': { rules: [{ from: [{ namespaces: ['shop'] }] }] }, 'deny-billing': { action: 'DENY', rules: [{ from: [{ namespaces: ['billing'] }], to: [{ paths: [{ value: '/admin' }] }] }] } },
  'negations-allow': { 'allow-but': { rules: [{ from: [{ notIdentities: [WEB], notNamespaces: ['billing'] }] }, { to: [{ notMethods: ['DELETE'], notPaths: [{ value: '/admin' }], notHosts: ['internal.example.com'] }] }] } },
  'negations-deny': { 'deny-but': { action: 'DENY', rules: [{ from: [{ notIdentities: ['*'] }] }, { from: [{ notNamespaces: ['shop'] }], to: [{ notHosts: ['*.example.com'] }] }, { to: [{ notMethods: ['GET', 'HEAD'], notPaths: [{ type: 'Exact', value: '/' }] }] }] } },
  operations: {
    'deny-ops': {
      action: 'DENY',
      rules: [
        { to: [{ paths: [{ value: '/admin/' }, { type: 'Exact', value: '/debug' }] }] },
        { to: [{ hosts: ['internal.example.com', '*.internal.example.com:8443', '[::1]'] }] },
        { to: [{ headers: [{ name: 'X-Debug', value: 'on' }, { name: 'x-tenant', type: 'RegularExpression', value: 'blue|gr.en' }] }] },
      ],
    },
    'allow-get': { rules: [{ to: [{ methods: ['GET', 'post'], hosts: ['*.example.com', 'orders'] }] }] },
  },
  'allow-nothing': { nothing: { rules: [] }, 'deny-nothing': { action: 'DENY' } },
};

const PEERS = [WEB, `${TD}/ns/shop/sa/batch`, `${TD}/ns/billing/sa/web`, `spiffe://other.example/ns/shop/sa/web`, `${TD}/ns/shop/sa/web/extra`, `${TD}/workload`, null];
const METHODS = ['GET', 'POST', 'DELETE'];
const PATHS = ['/', '/admin', '/admin/', '/admin/x', '/administrator', '/debug', '/debug/x', '/public'];
const HOSTS = ['orders', 'Orders:80', 'internal.example.com', 'INTERNAL.example.com.', 'x.internal.example.com:8443', 'x.internal.example.com:80', 'internal.example.com.evil', 'api.example.com', 'example.com', '[::1]:8080', ''];
const HEADERS: Record<string, string>[] = [{}, { 'x-debug': 'on' }, { 'x-debug': 'on', 'x-tenant': 'green' }, { 'x-tenant': 'blue' }];

for (const [set, policies] of Object.entries(POLICY_SETS)) {
  test(`${set}: Envoy reading the generated RBAC decides every request as a Sluice proxy does`, () => {
    const filters = rbacConfigs(Object.entries(policies).map(([name, spec]) => ({ namespace: 'shop', name, spec }))) as Pb[];
    const engine = compileAuthorization(Object.entries(policies).map(([name, spec]) => resolveAuthorization(name, spec)));
    let checked = 0;
    for (const peer of PEERS) for (const method of METHODS) for (const path of PATHS) for (const host of HOSTS) for (const headers of HEADERS) {
      const req: Req = { peer, method, path, host, headers };
      const view: AuthzRequest = { peer, method, path, host, claims: null, principal: null, headerValues: (n) => (headers[n] === undefined ? [] : [headers[n]]) };
      const d = engine(view);
      const ours = d.allowed ? null : (d.policy ?? 'none');
      assert.equal(envoyDecides(filters, req), ours, `${JSON.stringify(req)}`);
      checked++;
    }
    assert.equal(checked, PEERS.length * METHODS.length * PATHS.length * HOSTS.length * HEADERS.length);
  });
}

// --- what reads the verified JWT (xds/jwt-form.ts) ---

const ISS = 'https://sso.example.com/realms/demo';
const JWT_SETS: Record<string, Record<string, AuthorizationSpec>> = {
  'request-principals': {
    'allow-alice': { rules: [{ from: [{ requestPrincipals: [`${ISS}/alice`] }] }, { from: [{ notRequestPrincipals: [`${ISS}/bob`] }], to: [{ methods: ['GET'] }] }, { from: [{ identities: [WEB], requestPrincipals: ['*'] }] }] },
    'deny-no-jwt': { action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }], to: [{ paths: [{ value: '/admin' }] }] }, { from: [{ requestPrincipals: [`${ISS}/mallory`] }] }] },
  },
  'claims-allow': {
    'allow-claims': {
      rules: [
        { when: [{ claim: 'realm_access.roles', values: ['admin'] }] },
        { to: [{ methods: ['GET'] }], when: [{ claim: 'scope', notValues: ['guest'] }, { claim: 'level', values: ['5', 'true'] }] },
        { when: [{ claim: 'https://example.com/groups', values: ['ops'] }] },
      ],
    },
  },
  'claims-deny': {
    'deny-claims': {
      action: 'DENY',
      rules: [{ to: [{ paths: [{ value: '/admin' }] }], when: [{ claim: 'scope', notValues: ['read'] }] }, { from: [{ requestPrincipals: ['*'] }], when: [{ claim: 'realm_access.roles', values: ['banned'], notValues: ['admin'] }] }],
    },
  },
};

// An empty list and a list of objects are left out: the ALLOW guard of notValues reads them otherwise (xds/jwt-form.ts, DEFINED).
const CLAIMS: (Record<string, unknown> | null)[] = [
  null,
  { iss: ISS, sub: 'alice', scope: 'read', level: 5, realm_access: { roles: ['admin', 'user'] } },
  { iss: ISS, sub: 'bob', scope: 'guest', level: '5', realm_access: { roles: ['user', 'banned'] } },
  // The same principal split elsewhere: the engine compares '<iss>/<sub>' whole.
  { iss: 'https://sso.example.com/realms', sub: 'demo/alice', level: 'true' },
  { iss: ISS, sub: 'carol', scope: null, level: true, 'realm_access.roles': ['admin'], realm_access: { roles: ['banned'] } },
  { iss: ISS, sub: 'dave', scope: { a: 1 }, level: 6, 'https://example.com/groups': ['ops', 'dev'], 'realm_access.roles': { admin: true }, realm_access: { roles: ['admin'] } },
  { iss: ISS, scope: ['read', 'guest'], level: [5], realm_access: 'admin' },
  // A number or boolean claim matches the value that is its JSON text.
  { iss: ISS, sub: 'gina', scope: 'read', level: 5 },
  { iss: ISS, sub: 'hank', scope: ['write'], level: [true] },
  { iss: ISS, sub: 'mallory', scope: 'write', 'https://example': { 'com/groups': 'ops' }, realm_access: { roles: ['banned', 'admin'] } },
];

for (const [set, policies] of Object.entries(JWT_SETS)) {
  test(`${set}: Envoy reading the generated RBAC on jwt_authn's payload decides every request as a Sluice proxy does`, () => {
    const filters = rbacConfigs(Object.entries(policies).map(([name, spec]) => ({ namespace: 'shop', name, spec }))) as Pb[];
    const engine = compileAuthorization(Object.entries(policies).map(([name, spec]) => resolveAuthorization(name, spec)));
    const outcomes = new Set<string | null>();
    for (const claims of CLAIMS) for (const peer of [WEB, null]) for (const method of ['GET', 'POST']) for (const path of ['/', '/admin']) {
      const req: Req = { peer, method, path, host: 'orders', headers: {}, claims };
      const principal = claims === null ? null : `${claims.iss}/${typeof claims.sub === 'string' ? claims.sub : ''}`;
      const d = engine({ peer, method, path, host: 'orders', claims, principal, headerValues: () => [] });
      const ours = d.allowed ? null : (d.policy ?? 'none');
      assert.equal(envoyDecides(filters, req), ours, JSON.stringify(req));
      outcomes.add(ours);
    }
    assert.ok(outcomes.size >= 2, `the table must both allow and deny: ${[...outcomes].join(', ')}`);
  });
}
