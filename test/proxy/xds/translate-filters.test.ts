// Envoy's route fields for Gateway API filters (headers to add and remove on a route or a
// weighted cluster entry, host and path rewrites, redirect, request mirrors) -> the
// proxy's filter model, the one a static file's `filters` give; and every one a Sluice
// proxy cannot honour, NACKed with its path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RouteRule } from '../../../proxy/config/model.ts';
import { formatProblem, translate, type NodeContext } from '../../../proxy/xds/translate.ts';
import { assignment, cluster, listener, locality, resources, rootCa, routeConfig } from './resources.ts';

const NODE: NodeContext = { identity: null };
type Obj = Record<string, unknown>;

/** One listener `web` reading route config `web`, whose one virtual host has `routes`; clusters `orders` and `shadow`. */
function input(routes: Obj[]) {
  return resources({
    listeners: [listener('web')],
    routes: [routeConfig('web', [{ name: 'orders', domains: ['*'], routes }])],
    clusters: [cluster('orders'), cluster('shadow')],
    endpoints: ['orders', 'shadow'].map((n) => assignment(n, [locality('', [['10.0.0.1', 8080]])])),
    secrets: [rootCa()],
  });
}

function rules(routes: Obj[]): readonly RouteRule[] {
  const r = translate(input(routes), NODE);
  if (!r.ok) assert.fail(r.error.map(formatProblem).join('\n'));
  return r.value.config.routes[0].rules;
}

function problems(routes: Obj[]): string[] {
  const r = translate(input(routes), NODE);
  if (r.ok) assert.fail('expected problems, got a config');
  return r.error.map(formatProblem);
}

const header = (key: string, value: string, overwrite = false) => ({ header: { key, value }, ...(overwrite ? { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } : {}) });
const to = (cluster_: string, extra: Obj = {}) => ({ cluster: cluster_, ...extra });

describe('filter fields a Sluice proxy reads', () => {
  test("a route's header fields: overwrite is set, append is add, removes are removes; '%%' is a '%'", () => {
    const [rule] = rules([{ match: { prefix: '' }, route: to('orders'), request_headers_to_add: [header('X-Set', '100%%', true), header('x-add', 'two')], request_headers_to_remove: ['X-Drop'], response_headers_to_add: [header('x-resp', 'r', true)], response_headers_to_remove: ['x-upstream'] }]);
    assert.deepEqual(rule.filters, [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: '100%' }], add: [{ name: 'x-add', value: 'two' }], remove: ['x-drop'] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'r' }], add: [], remove: ['x-upstream'] } },
    ]);
  });

  test('host_rewrite_literal and a whole-path regex_rewrite are a URLRewrite; prefix_rewrite on a path match is the whole path, on a prefix a prefix', () => {
    const [host, exact, prefix] = rules([
      { match: { prefix: '/a/' }, route: to('orders', { host_rewrite_literal: 'new.internal', regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: '/full\\\\x' } }) },
      { match: { path: '/b' }, route: to('orders', { prefix_rewrite: '/xyz' }) },
      { match: { prefix: '/b/' }, route: to('orders', { prefix_rewrite: '/xyz/' }) },
    ]);
    assert.deepEqual(host.filters, [{ type: 'URLRewrite', urlRewrite: { hostname: 'new.internal', path: { type: 'ReplaceFullPath', replaceFullPath: '/full\\x' } } }]);
    assert.deepEqual(exact.filters, [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/xyz' } } }]);
    assert.deepEqual(prefix.filters, [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/xyz/' } } }]);
  });

  test("a redirect answers instead of forwarding: no backends, no timeout; Envoy's 301 when response_code is unset", () => {
    const [moved, renamed] = rules([
      { match: { prefix: '/m/' }, redirect: { scheme_redirect: 'https', host_redirect: 'elsewhere.example.com', port_redirect: 8443 } },
      { match: { path: '/r' }, redirect: { path_redirect: '/new', response_code: 'TEMPORARY_REDIRECT' } },
    ]);
    assert.deepEqual([moved.filters, moved.backendRefs, moved.timeouts], [[{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'elsewhere.example.com', port: 8443, statusCode: 301 } }], [], {}]);
    assert.deepEqual(renamed.filters, [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, statusCode: 307 } }]);
  });

  test('request_mirror_policies: each a RequestMirror to its cluster, every request unless runtime_fraction says a share', () => {
    const [rule] = rules([{ match: { prefix: '' }, route: to('orders', { request_mirror_policies: [{ cluster: 'shadow' }, { cluster: 'shadow', runtime_fraction: { default_value: { numerator: 2500, denominator: 'TEN_THOUSAND' } } }] }) }]);
    assert.deepEqual(rule.filters, [
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' }, percent: 100 } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' }, percent: 25 } },
    ]);
  });

  test("a weighted cluster entry's header fields are that backendRef's filters", () => {
    const [rule] = rules([{ match: { prefix: '' }, route: { weighted_clusters: { clusters: [{ name: 'orders', weight: { value: 1 }, request_headers_to_add: [header('x-backend', 'v1', true)], response_headers_to_remove: ['x-internal'] }, { name: 'shadow', weight: { value: 1 } }] } } }]);
    assert.deepEqual(rule.backendRefs, [
      {
        name: 'orders',
        weight: 1,
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-backend', value: 'v1' }], add: [], remove: [] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [], remove: ['x-internal'] } },
        ],
      },
      { name: 'shadow', weight: 1 },
    ]);
  });
});

describe('filter fields a Sluice proxy cannot honour: each a problem with its path', () => {
  const at = (i: number, rest: string) => `RouteConfiguration web: virtual_hosts[0].routes[${i}].${rest}`;
  const cases: [string, Obj[], string[]][] = [
    [
      "an Envoy command in a value, Host, a header changed twice, another append_action, the old 'append'",
      [
        { match: { prefix: '/a/' }, route: to('orders'), request_headers_to_add: [header('x-ip', '%DOWNSTREAM_REMOTE_ADDRESS%'), header('host', 'h', true), header('x-ip', 'again')], request_headers_to_remove: [':path'] },
        { match: { prefix: '' }, route: to('orders'), response_headers_to_add: [{ header: { key: 'x-a', value: '1' }, append_action: 'ADD_IF_ABSENT' }, { header: { key: 'x-b', value: '1' }, append: { value: true } }] },
      ],
      [
        at(1, 'response_headers_to_add[0].append_action: "ADD_IF_ABSENT" is not supported; a Sluice proxy reads APPEND_IF_EXISTS_OR_ADD or OVERWRITE_IF_EXISTS_OR_ADD (xds/SUBSET.md)'),
        at(1, 'response_headers_to_add[1].append: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)'),
        at(0, "request_headers_to_add[0].header.value: '%DOWNSTREAM_REMOTE_ADDRESS%': a Sluice proxy does not evaluate Envoy's %COMMAND% substitutions; a literal '%' is written '%%'"),
        at(0, "request_headers_to_add[1].header.key: 'host': Envoy does not let a route's header fields change pseudo-headers or Host"),
        at(0, "request_headers_to_add[2].header.key: header 'x-ip' is already changed at request_headers_to_add[0].header.key: a Sluice proxy changes each header once per route or backend, as a Gateway API modifier does"),
        at(0, "request_headers_to_remove[0]: ':path': Envoy does not let a route's header fields change pseudo-headers or Host"),
      ],
    ],
    [
      'a prefix_rewrite that is not whole segments, on a regex, a regex_rewrite of part of the path or with a group',
      [
        { match: { prefix: '/a/' }, route: to('orders', { prefix_rewrite: '/b' }) },
        { match: { safe_regex: { regex: '/c.*' } }, route: to('orders', { prefix_rewrite: '/d/' }) },
        { match: { prefix: '/e/' }, route: to('orders', { regex_rewrite: { pattern: { regex: '^/e/(.*)$' }, substitution: '/\\1' } }) },
        { match: { prefix: '' }, route: to('orders', { regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: '/\\1' } }) },
      ],
      [
        at(0, "route.prefix_rewrite: '/b' after prefix '/a/': a Sluice proxy replaces whole path segments, so the prefix and its rewrite both end in '/' (Gateway API's PathPrefix /foo is sent as path /foo and prefix /foo/)"),
        at(1, 'route.prefix_rewrite: a Sluice proxy rewrites the prefix of a prefix or path match, not of a safe_regex match'),
        at(2, "route.regex_rewrite.pattern.regex: '^/e/(.*)$': a Sluice proxy rewrites the whole path only, with pattern '^/.*$'"),
        at(3, "route.regex_rewrite.substitution: '/\\1': a Sluice proxy takes a literal path ('\\\\' for a backslash), no group references"),
      ],
    ],
    [
      'a redirect to another scheme, with https_redirect or a query; a mirror to a cluster not received, with a runtime key',
      [
        { match: { prefix: '/a/' }, redirect: { scheme_redirect: 'ftp', path_redirect: '/x?y=1' } },
        { match: { prefix: '/b/' }, redirect: { https_redirect: true } },
        { match: { prefix: '' }, route: to('orders', { request_mirror_policies: [{ cluster: 'nowhere' }, { cluster: 'shadow', runtime_fraction: { default_value: { numerator: 5 }, runtime_key: 'mirror' } }] }) },
      ],
      [
        at(1, 'redirect.https_redirect: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)'),
        at(2, 'route.request_mirror_policies[1].runtime_fraction.runtime_key: field not supported by Sluice proxies (xds/SUBSET.md lists what they read)'),
        at(0, "redirect.scheme_redirect: a Sluice proxy redirects to http or https; got 'ftp'"),
        at(0, "redirect.path_redirect: must be a path starting with '/', without a query; got '/x?y=1'"),
        at(2, "route.request_mirror_policies[0].cluster: no Cluster 'nowhere' was received"),
      ],
    ],
    [
      "a header a weighted cluster entry changes that its route changes too",
      [{ match: { prefix: '' }, route: { weighted_clusters: { clusters: [{ name: 'orders', weight: { value: 1 }, request_headers_to_remove: ['x-a'] }] } }, request_headers_to_add: [header('x-a', '1', true)] }],
      [at(0, "route.weighted_clusters.clusters[0].request_headers_to_remove[0]: header 'x-a' is changed by the route too: Envoy would apply the route's change after this one, a Sluice proxy applies them the other way round; change it in one place")],
    ],
  ];
  for (const [name, routes, expected] of cases) test(name, () => assert.deepEqual(problems(routes), expected));
});
