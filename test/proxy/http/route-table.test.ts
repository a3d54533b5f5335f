// The route table is compiled once per listener; a request walks it in precedence order and
// gets the most specific (rule, match) whose conditions hold, whatever order the rules were
// written in. Ties go to the first route, then the first rule.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BackendRef, HeaderMatch, HttpRoute, PathMatch, QueryParamMatch, RouteMatch, RouteRule } from '../../../proxy/config/model.ts';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../../proxy/http/route-table.ts';

// --- builders: the loader's output shape, defaults filled in ---

const prefix = (value: string): PathMatch => ({ type: 'PathPrefix', value });
const exact = (value: string): PathMatch => ({ type: 'Exact', value });
const regex = (value: string): PathMatch => ({ type: 'RegularExpression', value });
const header = (name: string, value: string, type: HeaderMatch['type'] = 'Exact'): HeaderMatch => ({ type, name, value });
const param = (name: string, value: string, type: QueryParamMatch['type'] = 'Exact'): QueryParamMatch => ({ type, name, value });
const match = (m: Partial<RouteMatch> = {}): RouteMatch => ({ path: prefix('/'), headers: [], queryParams: [], ...m });
/** A rule whose first backend is named `to`: the tests read which rule won from it. */
const rule = (to: string, matches: RouteMatch[] = [match()], more: Partial<RouteRule> = {}): RouteRule => ({
  matches,
  filters: [],
  backendRefs: [{ name: to, weight: 1 }],
  timeouts: {},
  ...more,
});
const route = (name: string, rules: RouteRule[], more: Partial<HttpRoute> = {}): HttpRoute => ({ name, parentRefs: [], hostnames: [], rules, ...more });

const req = (path: string, more: Partial<RouteRequest> = {}): RouteRequest => ({ host: 'svc', path, query: '', method: 'GET', headers: {}, ...more });
const winner = (t: RouteTable, r: RouteRequest) => t.match(r)?.rule.backendRefs[0]?.name;

type Case = [title: string, request: RouteRequest, want: string | undefined];
function table(cases: Case[], t: RouteTable): void {
  for (const [title, r, want] of cases) test(title, () => assert.equal(winner(t, r), want));
}

// --- precedence ---

describe('route precedence', () => {
  const canaryRules = [
    rule('default'),
    rule('api', [match({ path: prefix('/api') })]),
    rule('canary', [match({ path: prefix('/api'), headers: [header('x-canary', '1')] }), match({ headers: [header('x-canary', '1')] })]),
  ];
  const canaryCases: Case[] = [
    ['a prefix with a header beats the same prefix without one', req('/api/x', { headers: { 'x-canary': '1' } }), 'canary'],
    ['a longer prefix beats a shorter one written first', req('/api/x'), 'api'],
    ['a header match on / beats a bare /', req('/', { headers: { 'x-canary': '1' } }), 'canary'],
    ['the catch-all takes what nothing else wants', req('/other'), 'default'],
    ['a header with another value does not match', req('/other', { headers: { 'x-canary': '2' } }), 'default'],
  ];
  describe('rules written general-first', () => table(canaryCases, compileRouteTable([route('r', canaryRules)], 'main')));
  describe('rules written specific-first', () => table(canaryCases, compileRouteTable([route('r', [...canaryRules].reverse())], 'main')));
  describe('rules spread over routes', () => table(canaryCases, compileRouteTable(canaryRules.map((r, k) => route(`r${k}`, [r])), 'main')));

  describe('path kinds', () => {
    const t = compileRouteTable(
      [
        route('r', [
          rule('prefix', [match({ path: prefix('/users') })]),
          rule('regex', [match({ path: regex('/users/[0-9]+') })]),
          rule('exact', [match({ path: exact('/users/42') })]),
          rule('slash-prefix', [match({ path: prefix('/teams/') })]),
        ]),
      ],
      'main',
    );
    table(
      [
        ['Exact beats RegularExpression and PathPrefix', req('/users/42'), 'exact'],
        ['RegularExpression beats PathPrefix (Envoy Gateway order)', req('/users/7'), 'regex'],
        ['a regular expression must match the whole path', req('/users/7/x'), 'prefix'],
        ['Exact compares bytes: a trailing slash is another path', req('/users/42/'), 'prefix'],
        ['PathPrefix matches the value itself', req('/users'), 'prefix'],
        ['PathPrefix matches the value with a trailing slash', req('/users/'), 'prefix'],
        ['PathPrefix matches whole segments only', req('/usersx'), undefined],
        ['a trailing slash in the prefix value is ignored', req('/teams'), 'slash-prefix'],
        ['matching is case-sensitive', req('/Users/42'), undefined],
      ],
      t,
    );
  });

  describe('method, headers and query parameters', () => {
    const t = compileRouteTable(
      [
        route('r', [
          rule('query', [match({ path: prefix('/x'), queryParams: [param('v', '2')] })]),
          rule('one-header', [match({ path: prefix('/x'), headers: [header('a', '1')] })]),
          rule('two-headers', [match({ path: prefix('/x'), headers: [header('a', '1'), header('b', '1')] })]),
          rule('method', [match({ path: prefix('/x'), method: 'POST' })]),
          rule('short-method', [match({ path: prefix('/'), method: 'DELETE' })]),
          rule('long', [match({ path: prefix('/x/y') })]),
        ]),
      ],
      'main',
    );
    const both = { a: '1', b: '1' };
    table(
      [
        ['a header match beats a query match written first', req('/x', { headers: both, query: 'v=2' }), 'two-headers'],
        ['more header matches beat fewer', req('/x', { headers: both }), 'two-headers'],
        ['a method match beats more header matches', req('/x', { method: 'POST', headers: both }), 'method'],
        ['a query match applies when nothing outranks it', req('/x', { query: 'v=2' }), 'query'],
        ['a longer prefix beats a method match on a shorter one', req('/x/y', { method: 'DELETE' }), 'long'],
        ['a method match applies under its own prefix', req('/z', { method: 'DELETE' }), 'short-method'],
        ['the method is compared exactly', req('/z', { method: 'delete' }), undefined],
      ],
      t,
    );
  });

  describe('ties', () => {
    const t = compileRouteTable(
      [
        route('first', [rule('first-a', [match({ path: prefix('/t') })]), rule('first-b', [match({ path: prefix('/t') })])]),
        route('second', [rule('second-a', [match({ path: prefix('/t') })]), rule('second-specific', [match({ path: exact('/t/1') })])]),
      ],
      'main',
    );
    table(
      [
        ['an equal match goes to the first route and its first rule', req('/t/0'), 'first-a'],
        ['a more specific match in a later route still wins', req('/t/1'), 'second-specific'],
      ],
      t,
    );
  });
});

// --- hosts and listeners ---

describe('hostnames', () => {
  const t = compileRouteTable(
    [
      route('any', [rule('any')]),
      route('wild', [rule('wild')], { hostnames: ['*.example.com'] }),
      route('deeper', [rule('deeper')], { hostnames: ['*.b.example.com'] }),
      route('exact', [rule('exact', [match({ path: prefix('/api') })])], { hostnames: ['api.example.com', 'API2.example.com'] }),
    ],
    'main',
  );
  table(
    [
      ['an exact hostname beats a wildcard', req('/api', { host: 'api.example.com' }), 'exact'],
      ['hostnames ignore case and the port', req('/api', { host: 'API.Example.COM:8443' }), 'exact'],
      ['a hostname written in upper case still matches', req('/api', { host: 'api2.example.com' }), 'exact'],
      ['a wildcard matches one label', req('/', { host: 'www.example.com' }), 'wild'],
      ['a wildcard matches several labels', req('/', { host: 'a.c.example.com' }), 'wild'],
      ['a longer wildcard beats a shorter one', req('/', { host: 'a.b.example.com' }), 'deeper'],
      ['a wildcard does not match its own suffix', req('/', { host: 'example.com' }), 'any'],
      ['a wildcard does not match a lookalike', req('/', { host: 'badexample.com' }), 'any'],
      ['a request falls through to a wildcard when the exact route has no matching rule', req('/other', { host: 'api.example.com' }), 'wild'],
      ['an IPv6 literal with a port routes as an unnamed host', req('/', { host: '[::1]:8080' }), 'any'],
      ['a request without a Host header routes as an unnamed host', req('/', { host: '' }), 'any'],
    ],
    t,
  );

  describe('a name with a port (from xDS: the virtual host of one Service port)', () => {
    const ports = compileRouteTable(
      [
        route('port-80', [rule('port-80')], { hostnames: ['web.ns', 'web.ns:80'] }),
        route('port-8080', [rule('port-8080')], { hostnames: ['web.ns:8080'] }),
        route('v6', [rule('v6')], { hostnames: ['[fd00::1]:9090'] }),
      ],
      'main',
    );
    table(
      [
        ['the port in Host picks the name with that port', req('/', { host: 'web.ns:8080' }), 'port-8080'],
        ['in any case', req('/', { host: 'WEB.ns:8080' }), 'port-8080'],
        ['no port picks the name without one', req('/', { host: 'web.ns' }), 'port-80'],
        ['the port named beside the bare name', req('/', { host: 'web.ns:80' }), 'port-80'],
        ['a port no name has falls back to the name without a port', req('/', { host: 'web.ns:9999' }), 'port-80'],
        ['a name with a port never matches a Host without it', req('/', { host: '[fd00::1]' }), undefined],
        ['an IPv6 literal with its port', req('/', { host: '[fd00::1]:9090' }), 'v6'],
      ],
      ports,
    );
  });

  test('the hostname outranks the path', () => {
    const t2 = compileRouteTable([route('path', [rule('path', [match({ path: exact('/x') })])]), route('host', [rule('host')], { hostnames: ['h.io'] })], 'main');
    assert.equal(winner(t2, req('/x', { host: 'h.io' })), 'host');
    assert.equal(winner(t2, req('/x', { host: 'other.io' })), 'path');
  });
});

describe('listener attachment', () => {
  const routes = [
    route('everywhere', [rule('everywhere')]),
    route('main-only', [rule('main-only', [match({ path: prefix('/m') })])], { parentRefs: ['main'] }),
    route('other-only', [rule('other-only', [match({ path: prefix('/o') })])], { parentRefs: ['other'] }),
  ];
  const cases: [listener: string, path: string, want: string][] = [
    ['main', '/m', 'main-only'],
    ['main', '/o', 'everywhere'],
    ['other', '/o', 'other-only'],
    ['other', '/m', 'everywhere'],
  ];
  for (const [listener, path, want] of cases) {
    test(`on listener ${listener}, ${path} goes to ${want}`, () => assert.equal(winner(compileRouteTable(routes, listener), req(path)), want));
  }
  test('counts one candidate per attached match', () => {
    assert.equal(compileRouteTable(routes, 'main').size, 2);
    assert.equal(compileRouteTable(routes, 'nowhere').size, 1);
  });
});

// --- values ---

describe('header and query values', () => {
  const t = compileRouteTable(
    [
      route('r', [
        rule('exact-header', [match({ headers: [header('x-env', 'prod')] })]),
        rule('regex-header', [match({ headers: [header('x-tier', 'gold|platinum', 'RegularExpression')] })]),
        rule('exact-query', [match({ queryParams: [param('v', 'a b')] })]),
        rule('regex-query', [match({ queryParams: [param('id', '[0-9]+', 'RegularExpression')] })]),
        rule('none'),
      ]),
    ],
    'main',
  );
  const at = (more: Partial<RouteRequest>) => req('/', more);
  table(
    [
      ['a repeated header (array) matches when any value does', at({ headers: { 'x-env': ['dev', 'prod'] } }), 'exact-header'],
      ['a comma-joined header matches when any value does', at({ headers: { 'x-env': 'dev, prod' } }), 'exact-header'],
      ['an Exact header value is compared exactly', at({ headers: { 'x-env': 'production' } }), 'none'],
      ['a header value regex must match a whole value', at({ headers: { 'x-tier': 'golden' } }), 'none'],
      ['a header value regex matches one of several values', at({ headers: { 'x-tier': 'silver, gold' } }), 'regex-header'],
      ['a query value is URL-decoded (+ and %20 are spaces)', at({ query: 'v=a+b' }), 'exact-query'],
      ['a percent-encoded query value is decoded', at({ query: 'x=1&v=a%20b' }), 'exact-query'],
      ['the first of repeated query parameters is used', at({ query: 'v=a+b&v=c' }), 'exact-query'],
      ['a later repeated query parameter is not used', at({ query: 'v=c&v=a+b' }), 'none'],
      ['query parameter names are case-sensitive', at({ query: 'V=a+b' }), 'none'],
      ['a query value regex must match the whole value', at({ query: 'id=12x' }), 'none'],
      ['a query value regex matches', at({ query: 'id=12' }), 'regex-query'],
    ],
    t,
  );
});

describe('the matched rule', () => {
  const canary = rule('canary', [match({ path: prefix('/api'), headers: [header('x-canary', '1')] }), match({ headers: [header('x-canary', '1')] })], { name: 'canary' });
  const t = compileRouteTable([route('shop', [rule('default'), canary])], 'main');

  test('names the route, the rule and the match that won', () => {
    const m = t.match(req('/', { headers: { 'x-canary': '1' } }));
    assert.ok(m);
    assert.equal(m.routeName, 'shop');
    assert.equal(m.ruleIndex, 1);
    assert.equal(m.rule, canary);
    assert.equal(m.match, canary.matches[1]);
    assert.equal(m.statName, 'shop/canary');
  });
  test('labels an unnamed rule by its index', () => assert.equal(t.match(req('/'))?.statName, 'shop/0'));
  test('returns undefined when nothing matches', () => {
    assert.equal(compileRouteTable([route('r', [rule('x', [match({ path: exact('/x') })])])], 'main').match(req('/y')), undefined);
  });
});

describe('weighted backend pick', () => {
  const pickerOf = (refs: BackendRef[]) => compileRouteTable([route('r', [rule('-', [match()], { backendRefs: refs })])], 'main').match(req('/'))!;

  /** xorshift32: deterministic, so the counts below are the same on every run. */
  function seeded(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 2 ** 32;
    };
  }

  test('splits a uniform sweep exactly in proportion to weight, never picking a zero weight', () => {
    const m = pickerOf([{ name: 'a', weight: 1 }, { name: 'off', weight: 0 }, { name: 'b', weight: 3 }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const name = m.pickBackend(() => i / 1000)!.name;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.deepEqual(counts, { a: 250, b: 750 });
  });

  test('splits seeded random draws within 2% of each weight share', () => {
    const m = pickerOf([{ name: 'a', weight: 10 }, { name: 'b', weight: 30 }, { name: 'c', weight: 60 }]);
    const random = seeded(0x5eed);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[m.pickBackend(random)!.name]++;
    for (const [name, share] of [['a', 0.1], ['b', 0.3], ['c', 0.6]] as const) {
      assert.ok(Math.abs(counts[name] / n - share) < 0.02, `${name}: ${counts[name]} of ${n}`);
    }
  });

  const edges: [title: string, refs: BackendRef[], random: number, want: string | undefined][] = [
    ['a single backend is always picked', [{ name: 'a', weight: 5 }], 0.99, 'a'],
    ['the bottom of the range picks the first live backend', [{ name: 'off', weight: 0 }, { name: 'a', weight: 1 }, { name: 'b', weight: 1 }], 0, 'a'],
    ['the top of the range picks the last live backend', [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'off', weight: 0 }], 0.9999999, 'b'],
    ['every weight 0 picks nothing', [{ name: 'a', weight: 0 }, { name: 'b', weight: 0 }], 0.5, undefined],
    ['no backendRefs picks nothing', [], 0.5, undefined],
  ];
  for (const [title, refs, r, want] of edges) {
    test(title, () => assert.equal(pickerOf(refs).pickBackend(() => r)?.name, want));
  }
});
