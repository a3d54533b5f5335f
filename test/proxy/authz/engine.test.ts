// The authorization engine decides as Istio's AuthorizationPolicy does, on the request the
// proxy has already normalized. The security cases are regression tests for known mesh
// bypasses: host case (CVE-2021-39155), path prefixes, duplicate headers, and conditions on
// attributes a request does not carry.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AuthzRequest, compileAuthorization } from '../../../proxy/authz/index.ts';
import type { AuthorizationSpec } from '../../../kinds/authz-spec.ts';
import { resolveAuthorization } from '../../../proxy/config/authz-spec.ts';

// --- builders ---

const authz = (...policies: [name: string, spec: AuthorizationSpec][]) => compileAuthorization(policies.map(([name, spec]) => resolveAuthorization(name, spec)));

type Rule = NonNullable<AuthorizationSpec['rules']>[number];
const deny = (...rules: Rule[]) => authz(['deny', { action: 'DENY', rules }]);
const allow = (...rules: Rule[]) => authz(['allow', { action: 'ALLOW', rules }]);

type RequestInit = Partial<Omit<AuthzRequest, 'headerValues'>> & { headers?: Record<string, string[]> };
function request(init: RequestInit = {}): AuthzRequest {
  const { headers = {}, ...rest } = init;
  return { peer: null, method: 'GET', path: '/', host: 'api.example.com', claims: null, principal: null, ...rest, headerValues: (name) => headers[name] ?? [] };
}

/** The verdict of `a` for each request, to compare with a list of booleans. */
const verdicts = (a: (r: AuthzRequest) => { allowed: boolean }, inits: RequestInit[]) => inits.map((i) => a(request(i)).allowed);

const FRONTEND = 'spiffe://example.org/ns/web/sa/frontend';
const EVIL = 'spiffe://example.org/ns/evil/sa/x';
const ISSUER = 'https://issuer.example/realms/demo';

// --- evaluation order ---

describe('evaluation order', () => {
  test('with no policy every request is allowed', () => {
    assert.deepEqual(compileAuthorization([])(request()), { allowed: true, policy: null });
  });

  test('a matching DENY policy wins over a matching ALLOW policy, and the decision names it', () => {
    const a = authz(['allow-get', { rules: [{ to: [{ methods: ['GET'] }] }] }], ['block-admin', { action: 'DENY', rules: [{ to: [{ paths: [{ value: '/admin' }] }] }] }]);
    assert.deepEqual(a(request({ path: '/admin' })), { allowed: false, policy: 'block-admin', reason: "denied by DENY policy 'block-admin' (rules[0])" });
    assert.deepEqual(a(request({ path: '/shop' })), { allowed: true, policy: 'allow-get' });
  });

  test('with only DENY policies, a request none of them matches is allowed', () => {
    assert.deepEqual(deny({ to: [{ methods: ['DELETE'] }] })(request()), { allowed: true, policy: null });
  });

  test('with an ALLOW policy, a request no ALLOW policy matches is denied', () => {
    assert.deepEqual(allow({ to: [{ methods: ['POST'] }] })(request()), { allowed: false, policy: null, reason: "no ALLOW policy matched ('allow')" });
  });

  test('an ALLOW policy without rules allows nothing, while another ALLOW policy still allows what it matches', () => {
    assert.equal(authz(['lockdown', { rules: [] }])(request()).allowed, false);
    assert.equal(authz(['lockdown', {}])(request()).allowed, false, 'rules omitted is the same allow-nothing');
    const a = authz(['lockdown', {}], ['health', { rules: [{ to: [{ paths: [{ type: 'Exact', value: '/healthz' }] }] }] }]);
    assert.deepEqual(verdicts(a, [{ path: '/healthz' }, { path: '/orders' }]), [true, false]);
  });

  test('a DENY policy without rules denies nothing', () => {
    assert.equal(authz(['noop', { action: 'DENY' }])(request()).allowed, true);
    assert.equal(authz(['noop', { action: 'DENY', rules: [] }])(request()).allowed, true);
  });

  test('a rule matches only when its from, to and when all match', () => {
    const a = allow({ from: [{ identities: [FRONTEND] }], to: [{ methods: ['GET'] }], when: [{ claim: 'role', values: ['admin'] }] });
    const ok: RequestInit = { peer: FRONTEND, method: 'GET', claims: { role: 'admin' } };
    assert.deepEqual(verdicts(a, [ok, { ...ok, peer: EVIL }, { ...ok, method: 'POST' }, { ...ok, claims: { role: 'user' } }]), [true, false, false, false]);
  });

  test('any entry of from or to is enough, and any rule of a policy', () => {
    const a = allow({ from: [{ identities: [EVIL] }, { identities: [FRONTEND] }], to: [{ methods: ['POST'] }, { methods: ['GET'] }] }, { to: [{ paths: [{ value: '/public' }] }] });
    assert.deepEqual(verdicts(a, [{ peer: FRONTEND }, { peer: EVIL, method: 'POST' }, { path: '/public/x' }, { peer: FRONTEND, method: 'PUT' }]), [true, true, true, false]);
  });

  test('decisions are shared frozen objects, not allocated per request', () => {
    const a = deny({ to: [{ paths: [{ value: '/admin' }] }] });
    const first = a(request({ path: '/admin' }));
    assert.equal(a(request({ path: '/admin/x' })), first);
    assert.ok(Object.isFrozen(first));
  });

  test('a header regular expression is compiled once, not per request', (t) => {
    const a = allow({ to: [{ headers: [{ name: 'x-tenant', type: 'RegularExpression', value: 'blue|green' }] }] });
    const Original = globalThis.RegExp;
    let compiled = 0;
    t.after(() => void (globalThis.RegExp = Original));
    globalThis.RegExp = new Proxy(Original, { construct: (target, args) => (compiled++, new target(...(args as [string]))) });
    for (let i = 0; i < 10; i++) assert.equal(a(request({ headers: { 'x-tenant': ['blue'] } })).allowed, true);
    assert.equal(compiled, 0);
  });
});

// --- operations ---

describe('paths', () => {
  const denyPath = (type: 'Exact' | 'PathPrefix', value: string) => deny({ to: [{ paths: [{ type, value }] }] });
  const denied = (a: ReturnType<typeof deny>, paths: string[]) => verdicts(a, paths.map((path) => ({ path }))).map((allowed) => !allowed);

  test('Exact is string equality, case-sensitive', () => {
    assert.deepEqual(denied(denyPath('Exact', '/healthz'), ['/healthz', '/healthz/', '/healthz/x', '/HEALTHZ']), [true, false, false, false]);
  });

  test('PathPrefix matches whole segments: /admin covers /admin, /admin/ and /admin/x, not /administrator or /Admin', () => {
    assert.deepEqual(denied(denyPath('PathPrefix', '/admin'), ['/admin', '/admin/', '/admin/x', '/administrator', '/Admin', '/x/admin']), [true, true, true, false, false, false]);
  });

  test('a PathPrefix with a trailing slash also covers the path without it', () => {
    assert.deepEqual(denied(denyPath('PathPrefix', '/admin/'), ['/admin', '/admin/', '/admin/x', '/administrator']), [true, true, true, false]);
  });

  test('PathPrefix / matches every path', () => {
    assert.deepEqual(denied(denyPath('PathPrefix', '/'), ['/', '/x/y']), [true, true]);
  });

  test('notPaths matches every path but the listed ones', () => {
    const a = allow({ to: [{ notPaths: [{ value: '/admin' }] }] });
    assert.deepEqual(verdicts(a, [{ path: '/shop' }, { path: '/admin/users' }]), [true, false]);
  });
});

describe('hosts', () => {
  const denyHost = (...hosts: string[]) => deny({ to: [{ hosts }] });
  const denied = (a: ReturnType<typeof deny>, hosts: string[]) => verdicts(a, hosts.map((host) => ({ host }))).map((allowed) => !allowed);

  test('hosts match whatever the case on either side (CVE-2021-39155)', () => {
    assert.deepEqual(denied(denyHost('admin.example.com'), ['ADMIN.example.com', 'Admin.Example.COM', 'api.example.com']), [true, true, false]);
    assert.deepEqual(denied(denyHost('ADMIN.Example.com'), ['admin.example.com']), [true]);
  });

  test("the request's port is ignored unless the pattern names one", () => {
    assert.deepEqual(denied(denyHost('admin.example.com'), ['admin.example.com:8080', 'admin.example.com:443']), [true, true]);
    assert.deepEqual(denied(denyHost('admin.example.com:8443'), ['admin.example.com:8443', 'admin.example.com:443', 'admin.example.com']), [true, false, false]);
  });

  test('trailing dots are ignored, with or without a port', () => {
    assert.deepEqual(denied(denyHost('admin.example.com'), ['admin.example.com.', 'ADMIN.example.com.:443', 'admin.example.com..']), [true, true, true]);
    assert.deepEqual(denied(denyHost('admin.example.com.'), ['admin.example.com']), [true]);
  });

  test('*.example.com matches any subdomain, not example.com itself nor a look-alike', () => {
    const hosts = ['a.example.com', 'A.B.Example.com:80', 'example.com', 'badexample.com', '.example.com'];
    assert.deepEqual(denied(denyHost('*.example.com'), hosts), [true, true, false, false, false]);
  });

  test('an IPv6 literal keeps its colons: the port is split after the bracket', () => {
    assert.deepEqual(denied(denyHost('[::1]'), ['[::1]:8080', '[::1]', '[::2]:8080']), [true, true, false]);
  });

  test('a request without a host never matches hosts; notHosts then holds in DENY and fails in ALLOW', () => {
    assert.deepEqual(denied(denyHost('api.example.com'), ['']), [false]);
    assert.deepEqual(verdicts(deny({ to: [{ notHosts: ['api.example.com'] }] }), [{ host: '' }, { host: 'api.example.com' }]), [false, true]);
    assert.deepEqual(verdicts(allow({ to: [{ notHosts: ['admin.example.com'] }] }), [{ host: '' }, { host: 'api.example.com' }]), [false, true]);
  });
});

describe('headers', () => {
  const rule = (type: 'Exact' | 'RegularExpression' = 'Exact', value = 'admin', name = 'x-user'): Rule => ({ to: [{ headers: [{ name, type, value }] }] });
  const sent = (...values: string[]): RequestInit => ({ headers: { 'x-user': values } });

  test('in a DENY policy, a header sent twice matches if any of its values matches', () => {
    assert.deepEqual(verdicts(deny(rule()), [sent('guest', 'admin'), sent('admin', 'guest'), sent('guest'), sent()]), [false, false, true, true]);
  });

  test('in a DENY policy, each comma-separated element of a value counts as a value', () => {
    assert.deepEqual(verdicts(deny(rule()), [sent('guest, admin'), sent('guest,admin'), sent('guest, administrator')]), [false, false, true]);
  });

  test('in an ALLOW policy, every value must match and at least one must be sent', () => {
    const a = allow(rule());
    assert.deepEqual(verdicts(a, [sent('admin'), sent('admin', 'admin'), sent('guest', 'admin'), sent('admin', 'guest'), sent()]), [true, true, false, false, false]);
  });

  test('a RegularExpression must match the whole value', () => {
    const a = allow(rule('RegularExpression', 'blue|green'));
    assert.deepEqual(verdicts(a, [sent('blue'), sent('green'), sent('blue-team'), sent('xgreen')]), [true, true, false, false]);
  });

  test('a header name is matched whatever case the policy wrote it in', () => {
    assert.equal(deny(rule('Exact', 'admin', 'X-User'))(request(sent('admin'))).allowed, false);
    const hand = compileAuthorization([{ name: 'hand', action: 'DENY', rules: [{ from: [], when: [], to: [{ methods: [], notMethods: [], paths: [], notPaths: [], hosts: [], notHosts: [], headers: [{ name: 'X-User', type: 'Exact', value: 'admin' }] }] }] }]);
    assert.equal(hand(request(sent('admin'))).allowed, false, 'a hand-built model is folded too');
  });
});

describe('methods', () => {
  test('methods and notMethods compare the upper-case method exactly', () => {
    assert.deepEqual(verdicts(allow({ to: [{ methods: ['GET', 'HEAD'] }] }), [{ method: 'GET' }, { method: 'HEAD' }, { method: 'POST' }, { method: 'Get' }]), [true, true, false, false]);
    assert.deepEqual(verdicts(deny({ to: [{ notMethods: ['GET', 'HEAD'] }] }), [{ method: 'GET' }, { method: 'POST' }]), [true, false]);
  });
});

// --- sources ---

describe('peers', () => {
  test("identities compare whole IDs, '*' is any authenticated peer, and a plaintext peer matches neither", () => {
    assert.deepEqual(verdicts(allow({ from: [{ identities: [FRONTEND] }] }), [{ peer: FRONTEND }, { peer: `${FRONTEND}2` }, { peer: null }]), [true, false, false]);
    assert.deepEqual(verdicts(allow({ from: [{ identities: ['*'] }] }), [{ peer: EVIL }, { peer: null }]), [true, false]);
  });

  test('namespaces read the <ns> of /ns/<ns>/sa/<sa> and nothing else', () => {
    const peers = [FRONTEND, 'spiffe://example.org/ns/webx/sa/x', 'spiffe://example.org/ns/web', 'spiffe://example.org/x/ns/web/sa/a', null];
    const of = (ns: string) => verdicts(allow({ from: [{ namespaces: [ns] }] }), peers.map((peer) => ({ peer })));
    assert.deepEqual(of('web'), [true, false, false, false, false]);
    assert.deepEqual(of('we'), [false, false, false, false, false]);
    assert.deepEqual(of('web/sa'), [false, false, false, false, false]);
  });

  test('notIdentities: DENY treats a plaintext peer as not listed (denied), ALLOW never admits it', () => {
    assert.deepEqual(verdicts(deny({ from: [{ notIdentities: ['*'] }] }), [{ peer: null }, { peer: FRONTEND }]), [false, true]);
    assert.deepEqual(verdicts(allow({ from: [{ notIdentities: [EVIL] }] }), [{ peer: FRONTEND }, { peer: EVIL }, { peer: null }]), [true, false, false]);
  });

  test('notNamespaces: a plaintext peer or one without a namespace is denied by DENY and not admitted by ALLOW', () => {
    const peers = [null, 'spiffe://example.org/legacy', FRONTEND, EVIL].map((peer) => ({ peer }));
    assert.deepEqual(verdicts(deny({ from: [{ notNamespaces: ['web'] }] }), peers), [false, false, true, false]);
    assert.deepEqual(verdicts(allow({ from: [{ notNamespaces: ['evil'] }] }), peers), [false, false, true, false]);
  });
});

describe('request principals and claims', () => {
  const ALICE = `${ISSUER}/alice`;

  test("requestPrincipals compare '<iss>/<sub>' whole; '*' is any verified JWT", () => {
    assert.deepEqual(verdicts(allow({ from: [{ requestPrincipals: [ALICE] }] }), [{ principal: ALICE }, { principal: `${ISSUER}/bob` }, { principal: null }]), [true, false, false]);
    assert.deepEqual(verdicts(allow({ from: [{ requestPrincipals: ['*'] }] }), [{ principal: ALICE }, { principal: null }]), [true, false]);
  });

  test("DENY notRequestPrincipals: ['*'] denies requests without a JWT; in ALLOW a not* field never admits them", () => {
    assert.deepEqual(verdicts(deny({ from: [{ notRequestPrincipals: ['*'] }] }), [{ principal: null }, { principal: ALICE }]), [false, true]);
    assert.deepEqual(verdicts(allow({ from: [{ notRequestPrincipals: [`${ISSUER}/mallory`] }] }), [{ principal: ALICE }, { principal: null }]), [true, false]);
  });

  test('a string claim equals one of the values, a list claim contains one, and a dot path reads nested claims', () => {
    const a = allow({ when: [{ claim: 'realm_access.roles', values: ['admin', 'ops'] }] });
    const roles = (r: unknown) => ({ claims: { realm_access: { roles: r } } });
    assert.deepEqual(verdicts(a, [roles(['user', 'ops']), roles(['user']), roles('admin'), roles('administrator'), { claims: { 'realm_access.roles': 'x' } }]), [true, false, true, false, false]);
  });

  test("a claim name holding dots is first read whole (namespaced claims like 'https://example.com/roles')", () => {
    const a = allow({ when: [{ claim: 'https://example.com/roles', values: ['admin'] }] });
    assert.deepEqual(verdicts(a, [{ claims: { 'https://example.com/roles': ['admin'] } }, { claims: {} }]), [true, false]);
  });

  test('without a JWT a claim condition never matches: ALLOW does not admit, DENY on values does not deny', () => {
    assert.equal(allow({ when: [{ claim: 'role', values: ['admin'] }] })(request()).allowed, false);
    assert.equal(deny({ when: [{ claim: 'role', values: ['guest'] }] })(request()).allowed, true);
    assert.equal(deny({ when: [{ claim: 'role', values: ['guest'] }] })(request({ claims: {} })).allowed, true, 'nor does a missing claim');
  });

  test('notValues on a missing claim holds in DENY (denied) and fails in ALLOW (not admitted)', () => {
    const requests: RequestInit[] = [{ claims: null }, { claims: {} }, { claims: { groups: ['admins'] } }, { claims: { groups: ['users'] } }];
    assert.deepEqual(verdicts(deny({ when: [{ claim: 'groups', notValues: ['admins'] }] }), requests), [false, false, true, false]);
    assert.deepEqual(verdicts(allow({ when: [{ claim: 'groups', notValues: ['admins'] }] }), requests), [false, false, false, true]);
  });

  test('numbers and booleans compare by their JSON text; an object claim is treated as missing', () => {
    const a = allow({ when: [{ claim: 'email_verified', values: ['true'] }, { claim: 'level', values: ['3'] }] });
    assert.deepEqual(verdicts(a, [{ claims: { email_verified: true, level: 3 } }, { claims: { email_verified: false, level: 3 } }]), [true, false]);
    assert.equal(allow({ when: [{ claim: 'org', notValues: ['acme'] }] })(request({ claims: { org: { name: 'acme' } } })).allowed, false);
  });
});
