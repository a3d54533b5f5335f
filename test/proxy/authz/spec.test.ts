// The AuthorizationPolicy spec: its schema (closed, composable with the caller's targetRefs),
// the checks a schema cannot express, each reported at its field path, and its resolution
// into the engine's model.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ajv, type ErrorObject } from 'ajv';
import Type from 'typebox';
import { AuthorizationSpec, authorizationSpecFields, checkAuthorization } from '../../../kinds/authz-spec.ts';
import { resolveAuthorization } from '../../../proxy/config/authz-spec.ts';
import { closed, structuralViolation } from '../../../proxy/config/schema.ts';

const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
const validate = ajv.compile(AuthorizationSpec);
const AT = 'policies[0].spec';

/** Every violation of `spec`, as `path: message`: the schema's first, then the checks', as policies.ts reports them. */
function violations(spec: unknown): string[] {
  if (!validate(spec)) {
    return (validate.errors ?? []).map((e) => {
      const v = structuralViolation({ ...e, instancePath: `/policies/0/spec${e.instancePath}` } as ErrorObject);
      return `${v.path}: ${v.message}`;
    });
  }
  const out: string[] = [];
  checkAuthorization(spec as AuthorizationSpec, AT, (path, message) => out.push(`${path}: ${message}`));
  return out;
}

/** The violations of one `to` entry, one `from` entry or one `when` condition of the first rule. */
const ofTo = (to: object, action = 'DENY') => violations({ action, rules: [{ to: [to] }] });
const ofFrom = (from: object, action = 'DENY') => violations({ action, rules: [{ from: [from] }] });

const EXAMPLE = {
  action: 'ALLOW',
  rules: [
    {
      from: [
        { identities: ['spiffe://example.org/ns/web/sa/frontend'], namespaces: ['web'], notIdentities: ['spiffe://example.org/ns/web/sa/old'], notNamespaces: ['legacy'] },
        { requestPrincipals: ['https://issuer.example/realms/demo/alice', '*'], notRequestPrincipals: ['https://issuer.example/realms/demo/mallory'] },
      ],
      to: [
        {
          methods: ['GET', 'head'],
          notMethods: ['DELETE'],
          paths: [{ type: 'PathPrefix', value: '/api' }, { type: 'Exact', value: '/healthz' }],
          notPaths: [{ value: '/api/internal/' }],
          hosts: ['api.example.com', '*.example.com', 'API.example.com:8443', '10.0.0.1', '[::1]:80', 'svc.local.'],
          notHosts: ['admin.example.com'],
          headers: [{ name: 'x-tenant', type: 'Exact', value: 'blue' }, { name: 'X-Trace', type: 'RegularExpression', value: '[0-9a-f]{32}' }],
        },
      ],
      when: [{ claim: 'realm_access.roles', values: ['admin'], notValues: ['suspended'] }],
    },
  ],
};

describe('the schema', () => {
  test('accepts the documented example and the checks find nothing in it', () => {
    assert.deepEqual(violations(EXAMPLE), []);
  });

  test("composes with the caller's targetRefs into one closed spec", () => {
    const TargetRefs = Type.Array(Type.Object({ kind: Type.String(), name: Type.String() }, closed), { minItems: 1 });
    const withTargets = ajv.compile(Type.Object({ targetRefs: TargetRefs, ...authorizationSpecFields }, closed));
    assert.equal(withTargets({ targetRefs: [{ kind: 'Listener', name: 'inbound' }], ...EXAMPLE }), true);
    assert.equal(withTargets({ targetRefs: [{ kind: 'Listener', name: 'inbound' }], ...EXAMPLE, selector: {} }), false);
  });

  test('rejects an unknown field at its path, with the field it was probably meant as', () => {
    assert.deepEqual(violations({ action: 'DENY', rules: [{ from: [{}, { notIdentites: ['spiffe://example.org/x'] }] }] }), [
      `${AT}.rules[0].from[1].notIdentites: unknown field 'notIdentites'; did you mean 'notIdentities'?`,
    ]);
  });

  test('rejects an empty list, which Istio would read as "anything"', () => {
    assert.deepEqual(ofFrom({ identities: [] }, 'ALLOW'), [`${AT}.rules[0].from[0].identities: must not be empty`]);
  });

  test('knows only the ALLOW and DENY actions, and only Exact and PathPrefix paths', () => {
    assert.deepEqual(violations({ action: 'AUDIT' }), [`${AT}.action: must be one of ALLOW, DENY; got 'AUDIT'`]);
    assert.deepEqual(ofTo({ paths: [{ type: 'RegularExpression', value: '/a.*' }] }), [`${AT}.rules[0].to[0].paths[0].type: must be one of Exact, PathPrefix; got 'RegularExpression'`]);
  });
});

describe('the checks', () => {
  test('an identity that is not a SPIFFE ID is reported with the rule it breaks', () => {
    const spec = { action: 'DENY', rules: [{ from: [{ identities: ['*'] }, { notIdentities: ['spiffe://example.org/a', '*', 'spiffe://Example.org/ns/a'] }] }] };
    assert.deepEqual(violations(spec), [
      `${AT}.rules[0].from[1].notIdentities[2]: is not a SPIFFE ID: the trust domain may contain only lower-case letters, digits, '.', '-' and '_'; got 'Example.org'`,
    ]);
    assert.deepEqual(ofFrom({ identities: ['spiffe://example.org/ns/web/sa/*'] }), [
      `${AT}.rules[0].from[0].identities[0]: is not a SPIFFE ID: a path segment may not contain a wildcard ('*'); got '*'`,
    ]);
  });

  test('a namespace must be one segment of an ID, not a wildcard', () => {
    assert.deepEqual(ofFrom({ namespaces: ['web/sa', '*', 'web'] }), [
      `${AT}.rules[0].from[0].namespaces[0]: 'web/sa' is not a namespace: it is the <ns> of a peer spiffe://<trust-domain>/ns/<ns>/sa/<sa>, one segment of letters, digits, '.', '-' and '_'`,
      `${AT}.rules[0].from[0].namespaces[1]: '*' is not a namespace; to match any authenticated peer, use identities: ['*']`,
    ]);
  });

  test("a request principal must be '<iss>/<sub>' or '*' alone", () => {
    assert.deepEqual(ofFrom({ requestPrincipals: ['alice', 'https://issuer.example/realms/demo/*', '*'] }), [
      `${AT}.rules[0].from[0].requestPrincipals[0]: must be '<iss>/<sub>' of a verified JWT (the issuer, '/', the subject) or '*'; got 'alice'`,
      `${AT}.rules[0].from[0].requestPrincipals[1]: only '*' on its own is a wildcard; to match every subject of an issuer, use a 'when' condition on claim 'iss'; got 'https://issuer.example/realms/demo/*'`,
    ]);
  });

  test("'*' in a not* source field is reported in an ALLOW policy, where it matches nothing, and accepted in a DENY policy", () => {
    const from = { notIdentities: ['*'], notRequestPrincipals: ['*'] };
    assert.deepEqual(ofFrom(from, 'DENY'), []);
    assert.deepEqual(
      ofFrom(from, 'ALLOW').map((v) => v.split(':')[0]),
      [`${AT}.rules[0].from[0].notIdentities[0]`, `${AT}.rules[0].from[0].notRequestPrincipals[0]`],
    );
  });

  test("a path must start with '/', hold no query, and be in the normalized form requests are matched in", () => {
    const paths = ['admin', '/a?b=1', '/admin/../x', '/a//b', '/%7euser', '/ok/%2F'];
    assert.deepEqual(ofTo({ notPaths: paths.map((value) => ({ value })) }), [
      `${AT}.rules[0].to[0].notPaths[0].value: must start with '/'; got 'admin'`,
      `${AT}.rules[0].to[0].notPaths[1].value: must not contain '?' or '#': it is compared with the path alone; got '/a?b=1'`,
      `${AT}.rules[0].to[0].notPaths[2].value: can never match: requests are matched after path normalization, which turns it into '/x'; write that instead`,
      `${AT}.rules[0].to[0].notPaths[3].value: can never match: requests are matched after path normalization, which turns it into '/a/b'; write that instead`,
      `${AT}.rules[0].to[0].notPaths[4].value: can never match: requests are matched after path normalization, which turns it into '/~user'; write that instead`,
    ]);
  });

  test('a header regular expression that does not compile is reported', () => {
    const v = ofTo({ headers: [{ name: 'x-user', type: 'RegularExpression', value: 'adm(in' }, { name: 'x-a', value: 'adm(in' }] });
    assert.equal(v.length, 1);
    assert.match(v[0], /^policies\[0\]\.spec\.rules\[0\]\.to\[0\]\.headers\[0\]\.value: is not a valid regular expression: /);
  });

  test("a 'host' header match is steered to 'hosts'", () => {
    assert.deepEqual(ofTo({ headers: [{ name: 'Host', value: 'admin.example.com' }] }).map((v) => v.split(': ')[0]), [`${AT}.rules[0].to[0].headers[0].name`]);
  });

  test('a method is any case of a known method; a typo gets a suggestion', () => {
    assert.deepEqual(ofTo({ methods: ['get', 'GTE'] }), [`${AT}.rules[0].to[0].methods[1]: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH; got 'GTE'; did you mean 'GET'?`]);
  });

  test('a host is a name, an IP address or *.<domain>, with an optional port', () => {
    assert.deepEqual(ofTo({ hosts: ['admin.*.com', '*', 'api.example.com:99999', 'bad_host', '[nope]', '*.example.com:8443'] }), [
      `${AT}.rules[0].to[0].hosts[0]: a wildcard may only be the whole first label, as in *.example.com; got 'admin.*.com'`,
      `${AT}.rules[0].to[0].hosts[1]: '*' matches every host; leave out 'hosts' instead`,
      `${AT}.rules[0].to[0].hosts[2]: the port must be a number from 1 to 65535; got 'api.example.com:99999'`,
      `${AT}.rules[0].to[0].hosts[3]: 'bad_host' is not a host name (labels of letters, digits and '-', joined by '.'), an IP address or *.<domain>`,
      `${AT}.rules[0].to[0].hosts[4]: '[nope]' holds no IPv6 address between '[' and ']'`,
    ]);
  });

  test('an empty rule is reported in both actions, and so is one whose lists are all empty', () => {
    assert.deepEqual(violations({ action: 'DENY', rules: [{ to: [{ methods: ['GET'] }] }, {}] }), [
      `${AT}.rules[1]: an empty rule matches every request; here it would deny them all. Say which requests with 'from', 'to' or 'when'`,
    ]);
    assert.deepEqual(violations({ rules: [{ from: [], to: [], when: [] }] }), [
      `${AT}.rules[0]: an empty rule matches every request; here it would allow them all, whatever the other rules say. Say which requests with 'from', 'to' or 'when' (an ALLOW policy with rules: [] allows nothing)`,
    ]);
    assert.deepEqual(violations({ rules: [] }), [], 'allow-nothing is a deliberate policy');
  });

  test('an empty source or operation, which matches everything, is reported', () => {
    assert.deepEqual(violations({ action: 'DENY', rules: [{ from: [{}], to: [{}] }] }).map((v) => v.split(': ')[0]), [`${AT}.rules[0].from[0]`, `${AT}.rules[0].to[0]`]);
  });

  test("a claim condition needs values or notValues, and a claim path no empty segment", () => {
    assert.deepEqual(violations({ action: 'DENY', rules: [{ when: [{ claim: 'role' }, { claim: 'realm_access..roles', values: ['a'] }] }] }), [
      `${AT}.rules[0].when[0]: needs 'values', 'notValues' or both`,
      `${AT}.rules[0].when[1].claim: is a claim name or a dot path into the claims such as realm_access.roles, so it may not start or end with '.' or hold '..'; got 'realm_access..roles'`,
    ]);
  });

  test('every problem is reported, not only the first', () => {
    const spec = { action: 'DENY', rules: [{ from: [{ identities: ['nope'] }], to: [{ paths: [{ value: 'x' }] }] }, {}] };
    assert.deepEqual(violations(spec).map((v) => v.split(': ')[0]), [`${AT}.rules[0].from[0].identities[0]`, `${AT}.rules[0].to[0].paths[0].value`, `${AT}.rules[1]`]);
  });
});

describe('resolution', () => {
  test('fills the defaults: ALLOW, no rules, PathPrefix, Exact, empty lists', () => {
    assert.deepEqual(resolveAuthorization('p', {}), { name: 'p', action: 'ALLOW', rules: [] });
    const p = resolveAuthorization('p', { rules: [{ to: [{ paths: [{ value: '/api' }], headers: [{ name: 'x-a', value: 'b' }] }] }] });
    assert.deepEqual(p.rules[0], {
      from: [],
      to: [{ methods: [], notMethods: [], paths: [{ type: 'PathPrefix', value: '/api' }], notPaths: [], hosts: [], notHosts: [], headers: [{ name: 'x-a', type: 'Exact', value: 'b' }] }],
      when: [],
    });
  });

  test('upper-cases methods and lower-cases header names', () => {
    const p = resolveAuthorization('p', { action: 'DENY', rules: [{ to: [{ methods: ['get'], notMethods: ['Post'], headers: [{ name: 'X-User', value: 'admin' }] }], when: [{ claim: 'c', notValues: ['v'] }] }] });
    const to = p.rules[0].to[0];
    assert.deepEqual([to.methods, to.notMethods, to.headers[0].name], [['GET'], ['POST'], 'x-user']);
    assert.deepEqual(p.rules[0].when, [{ claim: 'c', values: [], notValues: ['v'] }]);
  });
});
