// HTTPRoute as an API resource: Gateway API's mesh (GAMMA) routes are accepted as written
// for any GAMMA mesh, and Gateway API's own validation rules (its CEL rules and limits) are
// enforced with each mistake at its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import { accepted, assertViolations, type Expected } from './assert-kind.ts';

const API = 'gateway.networking.k8s.io/v1';
const PARENT = '{ group: "", kind: Service, name: orders, port: 8080 }';

/** An HTTPRoute in shop with `spec` given as YAML. */
function route(spec: string): object {
  return { apiVersion: API, kind: 'HTTPRoute', metadata: { name: 'orders', namespace: 'shop' }, spec: parse(spec) };
}

/** A route to the orders Service with the one rule given as YAML. */
function rule(yaml: string): object {
  return route(`{ parentRefs: [${PARENT}], rules: [${yaml}] }`);
}

/** Gateway API's GAMMA traffic-splitting example (conformance: mesh-weighted-backends). */
const WEIGHTED = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: mesh-weighted-backends
  namespace: gateway-conformance-mesh
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: echo
    port: 80
  rules:
  - backendRefs:
    - name: echo-v1
      port: 8080
      weight: 70
    - name: echo-v2
      port: 8080
      weight: 30
`;

describe('HTTPRoute', () => {
  test("accepts Gateway API's GAMMA example with a weighted split", () => {
    accepted(parse(WEIGHTED));
  });

  test('accepts a route as kubectl prints it, status included', () => {
    const status = { parents: [{ parentRef: { group: '', kind: 'Service', name: 'echo', port: 80 }, controllerName: 'sluice.dev/mesh', conditions: [] }] };
    assert.deepEqual(accepted({ ...parse(WEIGHTED), status }).status, status);
  });

  test('accepts a route using every standard match, filter and timeout', () => {
    accepted(route(`
      parentRefs: [{ group: "", kind: Service, name: orders, sectionName: http }, { group: core, kind: Service, name: orders, sectionName: admin }]
      hostnames: [orders.shop.svc.cluster.local, '*.example.com']
      rules:
        - name: api
          matches: [{ path: { type: PathPrefix, value: /api/v1 }, headers: [{ name: x-canary, value: 'true' }, { type: RegularExpression, name: x-user, value: '^(alice|bob)$' }], queryParams: [{ name: debug, value: '1' }, { name: Debug, value: '1' }], method: POST }]
          filters:
            - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-route, value: api }], add: [{ name: x-trace, value: 'on' }], remove: [x-internal] } }
            - { type: ResponseHeaderModifier, responseHeaderModifier: { remove: [server] } }
            - { type: URLRewrite, urlRewrite: { hostname: orders.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: '' } } }
            - { type: RequestMirror, requestMirror: { backendRef: { name: orders-shadow, port: 8080 }, fraction: { numerator: 1, denominator: 1000 } } }
            - { type: RequestMirror, requestMirror: { backendRef: { name: orders-audit, namespace: audit, port: 80 }, percent: 5 } }
          backendRefs:
            - name: orders-v1
              port: 8080
              weight: 90
              filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-version, value: v1 }] } }]
            - { name: orders-v2, port: 8080, weight: 10, group: "", kind: Service }
          timeouts: { request: 10s, backendRequest: 2s }
        - name: old-api
          matches: [{ path: { type: Exact, value: /v0/orders } }]
          filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, path: { type: ReplaceFullPath, replaceFullPath: /api/v1/orders }, statusCode: 301 } }]
        - matches: [{ path: { type: RegularExpression, value: '^/orders/[0-9]+$' } }]
          backendRefs: [{ name: orders-v1, port: 8080 }]
          timeouts: { request: 0s, backendRequest: 30s }`));
  });

  test('lists parents, hostnames and backends with their weights', () => {
    const kind = findKind('httproutes')!;
    const r = accepted(route(`
      parentRefs: [{ group: "", kind: Service, name: orders, port: 8080 }]
      rules:
        - backendRefs: [{ name: orders-v1, port: 8080, weight: 90 }, { name: orders-v2, port: 8080, weight: 10 }]
        - { matches: [{ path: { value: /admin } }], backendRefs: [{ name: admin, namespace: ops, port: 80 }] }`));
    assert.deepEqual(kind.columns.map((c) => [c.name, c.value(r)]), [
      ['PARENTS', 'orders:8080'],
      ['HOSTNAMES', '*'],
      ['BACKENDS', 'orders-v1:8080 (90), orders-v2:8080 (10); ops/admin:80'],
    ]);
    assert.equal(kind.crd, false);
  });

  const many = (n: number, item: string) => `[${Array(n).fill(item).join(', ')}]`;

  const BAD: readonly (readonly [string, object, Expected])[] = [
    // --- structure ---
    ['an unknown field, with the one meant', rule('{ backendRef: [{ name: a, port: 80 }] }'), [['spec.rules[0].backendRef', /unknown field 'backendRef'; did you mean 'backendRefs'\?/]]],
    ['a misspelt path type', rule('{ matches: [{ path: { type: PathPrefx, value: / } }] }'), [['spec.rules[0].matches[0].path.type', /must be one of Exact, PathPrefix, RegularExpression; got 'PathPrefx'; did you mean 'PathPrefix'\?/]]],
    ['a lower-case method', rule('{ matches: [{ method: get }] }'), [['spec.rules[0].matches[0].method', /did you mean 'GET'\?/]]],
    ['a quoted weight', rule(`{ backendRefs: [{ name: a, port: 80, weight: '90' }] }`), [['spec.rules[0].backendRefs[0].weight', /must be a whole number; got '90'/]]],
    ['a weight above 1000000', rule('{ backendRefs: [{ name: a, port: 80, weight: 1000001 }] }'), [['spec.rules[0].backendRefs[0].weight', /between 0 and 1000000/]]],
    ['an upper-case hostname', route(`{ parentRefs: [${PARENT}], hostnames: [Orders.example.com] }`), [['spec.hostnames[0]', /is not a valid hostname: lower-case DNS labels/]]],
    ['more than 16 rules', route(`{ parentRefs: [${PARENT}], rules: ${many(17, '{}')} }`), [['spec.rules', /16/]]],
    ['a redirect status code Gateway API does not know', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 300 } }] }'), [['spec.rules[0].filters[0].requestRedirect.statusCode', /must be one of 301, 302, 303, 307, 308; got 300/]]],
    ['a header value with a line break', rule(`{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: "a\\r\\nx-b: b" }] } }] }`), [['spec.rules[0].filters[0].requestHeaderModifier.set[0].value', /must not contain CR, LF or NUL/]]],
    ['a duration with a space', rule(`{ timeouts: { request: '10 s' } }`), [['spec.rules[0].timeouts.request', /is not a duration: write it like 500ms, 10s/]]],
    ['a group that is not an API group', route('{ parentRefs: [{ group: Core, kind: Service, name: orders }] }'), [['spec.parentRefs[0].group', /'Core' is not an API group/]]],
    // --- GAMMA parents ---
    ['no parentRefs', route('{ rules: [{ backendRefs: [{ name: a, port: 80 }] }] }'), [['spec.parentRefs', /is required: a mesh route attaches to the Service whose traffic it routes/]]],
    ['a parent with no kind (a Gateway)', route('{ parentRefs: [{ name: mesh-gateway }] }'), [['spec.parentRefs[0].kind', /defaults to Gateway, but Sluice routes mesh traffic and has no Gateway; attach the route to a Service/]]],
    ['a Gateway parent', route('{ parentRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: public }] }'), [['spec.parentRefs[0].kind', /cannot be Gateway: Sluice routes mesh traffic and has no Gateway/]]],
    ['a ServiceImport parent', route('{ parentRefs: [{ group: multicluster.x-k8s.io, kind: ServiceImport, name: orders }] }'), [['spec.parentRefs[0].kind', /must be Service: Sluice attaches routes to Services only; got 'ServiceImport'/]]],
    ['a Service parent without its group', route('{ parentRefs: [{ kind: Service, name: orders }] }'), [['spec.parentRefs[0].group', /defaults to gateway.networking.k8s.io, which has no Service; write group: ""/]]],
    ['a Service parent in another group', route('{ parentRefs: [{ group: apps, kind: Service, name: orders }] }'), [['spec.parentRefs[0].group', /must be "" \(the core group\) for a Service parent; got 'apps'/]]],
    ['one Service as parent twice', route(`{ parentRefs: [${PARENT}, { group: "", kind: Service, name: orders, port: 9090 }] }`), [['spec.parentRefs[1]', /refers to Service 'orders' as parentRefs\[0\] does; to attach to several of its ports, give each reference a sectionName/]]],
    ['a sectionName on one reference to a Service only', route(`{ parentRefs: [${PARENT}, { group: "", kind: Service, name: orders, sectionName: grpc }] }`), [['spec.parentRefs[0].sectionName', /is required: parentRefs\[1\] names a port of the same Service 'orders'/]]],
    ['one port of a Service twice', route('{ parentRefs: [{ group: "", kind: Service, name: orders, sectionName: http }, { group: "", kind: Service, name: orders, sectionName: http }] }'), [['spec.parentRefs[1]', /refers to port 'http' of Service 'orders' as parentRefs\[0\] does/]]],
    ['an IP address as hostname', route(`{ parentRefs: [${PARENT}], hostnames: [10.0.0.1] }`), [['spec.hostnames[0]', /must be a DNS name, not an IP address/]]],
    // --- rules and matches ---
    ['a rule name used twice', route(`{ parentRefs: [${PARENT}], rules: [{ name: api }, { name: api }] }`), [['spec.rules[1].name', /rule name 'api' is already used by rules\[0\]/]]],
    ['more than 128 matches in a route', route(`{ parentRefs: [${PARENT}], rules: ${many(3, `{ matches: ${many(44, '{ method: GET }')} }`)} }`), [['spec.rules', /has 132 matches across its rules; a route may have at most 128/]]],
    ['a path without its leading /', rule('{ matches: [{ path: { value: orders } }] }'), [['spec.rules[0].matches[0].path.value', /must be an absolute path starting with '\/'/]]],
    ['a path with //', rule('{ matches: [{ path: { type: Exact, value: /a//b } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '\/\/'/]]],
    ['a path with /./', rule('{ matches: [{ path: { value: /a/./b } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '.' or '..' segments/]]],
    ['a path with /../', rule('{ matches: [{ path: { value: /a/../b } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '.' or '..' segments/]]],
    ['a path ending in /..', rule('{ matches: [{ path: { type: Exact, value: /a/.. } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '.' or '..' segments/]]],
    ['a path with %2f', rule('{ matches: [{ path: { value: /a%2fb } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '%2F'/]]],
    ['a path with #', rule(`{ matches: [{ path: { value: '/a#b' } }] }`), [['spec.rules[0].matches[0].path.value', /must not contain '#'/]]],
    ['a path with a query', rule('{ matches: [{ path: { value: /a?b=1 } }] }'), [['spec.rules[0].matches[0].path.value', /must not contain '\?': match the query with queryParams/]]],
    ['a path with a space', rule(`{ matches: [{ path: { value: '/a b' } }] }`), [['spec.rules[0].matches[0].path.value', /may hold only letters, digits/]]],
    ['a path regular expression that does not compile', rule(`{ matches: [{ path: { type: RegularExpression, value: '/(a' } }] }`), [['spec.rules[0].matches[0].path.value', /is not a valid regular expression/]]],
    ['one header matched twice, in another case', rule('{ matches: [{ headers: [{ name: X-Canary, value: a }, { name: x-canary, value: b }] }] }'), [['spec.rules[0].matches[0].headers[1].name', /header 'x-canary' is already matched by headers\[0\] \(header names ignore case\)/]]],
    ['a header regular expression that does not compile', rule(`{ matches: [{ headers: [{ type: RegularExpression, name: x-a, value: '[a' }] }] }`), [['spec.rules[0].matches[0].headers[0].value', /is not a valid regular expression/]]],
    ['one query parameter matched twice', rule('{ matches: [{ queryParams: [{ name: page, value: "1" }, { name: page, value: "2" }] }] }'), [['spec.rules[0].matches[0].queryParams[1].name', /query parameter 'page' is already matched by queryParams\[0\]/]]],
    ['a query regular expression that does not compile', rule(`{ matches: [{ queryParams: [{ type: RegularExpression, name: q, value: '(' }] }] }`), [['spec.rules[0].matches[0].queryParams[0].value', /is not a valid regular expression/]]],
    // --- filters ---
    ['a filter without the field its type names', rule('{ filters: [{ type: RequestHeaderModifier }] }'), [['spec.rules[0].filters[0].requestHeaderModifier', /is required when type is RequestHeaderModifier/]]],
    ['a filter whose field disagrees with its type', rule('{ filters: [{ type: RequestHeaderModifier, responseHeaderModifier: { remove: [server] } }] }'), [
      ['spec.rules[0].filters[0].responseHeaderModifier', /does not go with type RequestHeaderModifier; put it in a filter of its own with type ResponseHeaderModifier/],
      ['spec.rules[0].filters[0].requestHeaderModifier', /is required when type is RequestHeaderModifier/],
    ]],
    ['a header modifier twice in a rule', rule('{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [a] } }, { type: RequestHeaderModifier, requestHeaderModifier: { remove: [b] } }] }'), [['spec.rules[0].filters[1].type', /RequestHeaderModifier appears more than once in this list \(first at filters\[0\]\); only RequestMirror may repeat/]]],
    ['one header set and added in a modifier', rule('{ filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-A, value: "1" }], add: [{ name: x-a, value: "2" }] } }] }'), [['spec.rules[0].filters[0].responseHeaderModifier.add[0].name', /header 'x-a' is already modified by set\[0\]/]]],
    ['a redirect and a rewrite in one rule', rule('{ filters: [{ type: URLRewrite, urlRewrite: { hostname: a.example } }, { type: RequestRedirect, requestRedirect: { scheme: https } }] }'), [['spec.rules[0].filters[1].type', /RequestRedirect \(filters\[1\]\) and URLRewrite \(filters\[0\]\) cannot be combined/]]],
    ['a redirect beside backendRefs', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }], backendRefs: [{ name: a, port: 80 }] }'), [['spec.rules[0].backendRefs', /must be empty when a RequestRedirect filter \(filters\[0\]\) answers the request/]]],
    ['an ExtensionRef filter', rule('{ filters: [{ type: ExtensionRef, extensionRef: { group: example.com, kind: Auth, name: a } }] }'), [['spec.rules[0].filters[0].type', /ExtensionRef filters are not supported: Sluice has no extension filters; use RequestHeaderModifier, /]]],
    ['a redirect to the same URL', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301 } }] }'), [['spec.rules[0].filters[0].requestRedirect', /redirects to the URL that was requested, a loop/]]],
    ['a rewrite of nothing', rule('{ filters: [{ type: URLRewrite, urlRewrite: {} }] }'), [['spec.rules[0].filters[0].urlRewrite', /rewrites nothing: give hostname, path or both/]]],
    ['a path modifier whose value disagrees with its type', rule('{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replacePrefixMatch: /v2 } } }] }'), [
      ['spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch', /does not go with type ReplaceFullPath; use type: ReplacePrefixMatch/],
      ['spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', /is required when type is ReplaceFullPath/],
    ]],
    ['a full-path rewrite without its leading /', rule('{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: v2 } } }] }'), [['spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', /must start with '\/'/]]],
    ['ReplacePrefixMatch on an Exact match', rule('{ matches: [{ path: { type: Exact, value: /v1 } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }] }'), [['spec.rules[0].filters[0].urlRewrite.path.type', /needs the rule to have exactly one match, a PathPrefix match .*; matches\[0\] has type Exact/]]],
    ['ReplacePrefixMatch with two matches, in a backendRef filter', rule('{ matches: [{ path: { value: /a } }, { path: { value: /b } }], backendRefs: [{ name: a, port: 80, filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }] }] }'), [['spec.rules[0].backendRefs[0].filters[0].urlRewrite.path.type', /this rule has 2 matches/]]],
    ['a redirect replacing the prefix with no matches', rule('{ matches: [], filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }] }'), [['spec.rules[0].filters[0].requestRedirect.path.type', /this rule has no matches/]]],
    ['a mirror with percent and fraction', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: m, port: 80 }, percent: 10, fraction: { numerator: 1 } } }] }'), [['spec.rules[0].filters[0].requestMirror.fraction', /does not go with percent/]]],
    ['a mirror fraction above 1', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: m, port: 80 }, fraction: { numerator: 3, denominator: 2 } } }] }'), [['spec.rules[0].filters[0].requestMirror.fraction.numerator', /must not be greater than the denominator \(2\)/]]],
    ['a mirror to a Service without its port', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: m } } }] }'), [['spec.rules[0].filters[0].requestMirror.backendRef.port', /is required for a Service backendRef/]]],
    // --- backends and timeouts ---
    ['missing port on a Service backendRef', rule('{ backendRefs: [{ name: orders-v1 }] }'), [['spec.rules[0].backendRefs[0].port', /required/]]],
    ['a backendRef that is not a Service', rule('{ backendRefs: [{ group: multicluster.x-k8s.io, kind: ServiceImport, name: a, port: 80 }] }'), [['spec.rules[0].backendRefs[0].kind', /must be Service: Sluice sends traffic to Services/]]],
    ['a Service backendRef in another group', rule('{ backendRefs: [{ group: apps, name: a, port: 80 }] }'), [['spec.rules[0].backendRefs[0].group', /must be "" \(the core group\) for a Service; got 'apps'/]]],
    ['a backend timeout longer than the request timeout', rule('{ timeouts: { request: 1s, backendRequest: 1500ms } }'), [['spec.rules[0].timeouts.backendRequest', /must not be longer than the request timeout \(1s\), which covers every try; got 1500ms/]]],
    ['a timeout longer than a timer can wait', rule('{ timeouts: { request: 99999h } }'), [['spec.rules[0].timeouts.request', /must be at most 2147483647 ms/]]],
  ];

  for (const [title, doc, expected] of BAD) test(`refuses ${title}`, () => assertViolations(doc, expected));
});
