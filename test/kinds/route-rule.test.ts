// One route rule model (kinds/route-rule.ts): the same HTTPRoute rule, written into the
// proxy's static file and into an HTTPRoute applied to the control plane, is accepted by
// both or refused by both with the same violations, path for path and word for word. Only
// what a backendRef names differs: a `backends` entry in the file, a Service port in the API.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { validateResource } from '../../control-plane/api/validate.ts';
import { parseStaticConfig } from '../../proxy/config/load-static.ts';

type Side = { readonly backend: string };
const STATIC: Side = { backend: 'name: api' };
const API: Side = { backend: 'name: api, port: 8080' };

/** The rule's YAML for one side: `REF` stands for a reference to the one backend, `REF_FIELDS` for its fields. */
const written = (rule: string, side: Side) => rule.replaceAll('REF_FIELDS', side.backend).replaceAll('REF', `{ ${side.backend} }`);

/** `path: message` of each violation under the rule, its prefix cut, sorted. */
function underRule(violations: readonly { path: string; message: string }[], prefix: string): string[] {
  return violations.map((v) => {
    assert.ok(v.path.startsWith(prefix), `a violation outside the rule: ${v.path}: ${v.message}`);
    return `rule${v.path.slice(prefix.length)}: ${v.message}`;
  }).sort();
}

function throughStaticFile(rule: string): string[] {
  const text = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
backends: [{ name: api, endpoints: [{ address: 127.0.0.1, port: 8080 }] }]
routes: [{ name: r, rules: [${written(rule, STATIC)}] }]`;
  const r = parseStaticConfig(text);
  return r.ok ? [] : underRule(r.error, 'routes[0].rules[0]');
}

function throughApi(rule: string): string[] {
  const doc = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r', namespace: 'shop' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [parse(written(rule, API))] },
  };
  const r = validateResource(doc);
  return r.ok ? [] : underRule(r.violations, 'spec.rules[0]');
}

/** A rule, and the paths (under the rule) both sides must refuse it at; none: both accept it. */
const RULES: readonly (readonly [string, string, readonly string[]])[] = [
  // --- accepted ---
  ['every match, filter and timeout', `{ name: items, matches: [{ path: { type: PathPrefix, value: /v1 }, headers: [{ name: x-canary, value: 'on' }, { type: RegularExpression, name: x-user, value: '^u[0-9]+$' }], queryParams: [{ name: debug, value: '1' }], method: POST }],
     filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-env, value: prod }], remove: [x-internal] } }, { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: via, value: sluice }] } },
               { type: URLRewrite, urlRewrite: { hostname: api.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }, { type: RequestMirror, requestMirror: { backendRef: REF, percent: 10 } }, { type: RequestMirror, requestMirror: { backendRef: REF, fraction: { numerator: 1, denominator: 1000 } } }],
     backendRefs: [{ REF_FIELDS, weight: 3, filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-version, value: v1 }] } }] }], timeouts: { request: 10s, backendRequest: 2s } }`, []],
  ['a redirect without backendRefs', '{ matches: [{ path: { type: Exact, value: /old } }], filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, path: { type: ReplaceFullPath, replaceFullPath: /new }, statusCode: 301 } }] }', []],
  // --- matches ---
  ['a path without its leading /', '{ matches: [{ path: { value: api } }], backendRefs: [REF] }', ['rule.matches[0].path.value']],
  ['a path with //', '{ matches: [{ path: { type: Exact, value: /a//b } }], backendRefs: [REF] }', ['rule.matches[0].path.value']],
  ['a path with a query', '{ matches: [{ path: { value: "/a?b=1" } }], backendRefs: [REF] }', ['rule.matches[0].path.value']],
  ['a path regular expression that does not compile', '{ matches: [{ path: { type: RegularExpression, value: "/(a" } }], backendRefs: [REF] }', ['rule.matches[0].path.value']],
  ['a misspelt path type', '{ matches: [{ path: { type: Prefix, value: /a } }], backendRefs: [REF] }', ['rule.matches[0].path.type']],
  ['one header matched twice, in another case', '{ matches: [{ headers: [{ name: X-A, value: a }, { name: x-a, value: b }] }], backendRefs: [REF] }', ['rule.matches[0].headers[1].name']],
  ['a header regular expression that does not compile', '{ matches: [{ headers: [{ type: RegularExpression, name: x-a, value: "[" }] }], backendRefs: [REF] }', ['rule.matches[0].headers[0].value']],
  ['a header value with a line break', '{ matches: [{ headers: [{ name: x-a, value: "a\\r\\nb" }] }], backendRefs: [REF] }', ['rule.matches[0].headers[0].value']],
  ['one query parameter matched twice', '{ matches: [{ queryParams: [{ name: page, value: "1" }, { name: page, value: "2" }] }], backendRefs: [REF] }', ['rule.matches[0].queryParams[1].name']],
  ['a query regular expression that does not compile', '{ matches: [{ queryParams: [{ type: RegularExpression, name: q, value: "(" }] }], backendRefs: [REF] }', ['rule.matches[0].queryParams[0].value']],
  ['a lower-case method', '{ matches: [{ method: get }], backendRefs: [REF] }', ['rule.matches[0].method']],
  // --- filters ---
  ['an unknown filter type', '{ filters: [{ type: Rewrite }], backendRefs: [REF] }', ['rule.filters[0].type']],
  ['a filter whose field disagrees with its type', '{ filters: [{ type: RequestHeaderModifier, responseHeaderModifier: { remove: [server] } }], backendRefs: [REF] }', ['rule.filters[0].requestHeaderModifier', 'rule.filters[0].responseHeaderModifier']],
  ['a header modifier twice in a rule', '{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [a] } }, { type: RequestHeaderModifier, requestHeaderModifier: { remove: [b] } }], backendRefs: [REF] }', ['rule.filters[1].type']],
  ['one header set and added in a modifier', '{ filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-A, value: "1" }], add: [{ name: x-a, value: "2" }] } }], backendRefs: [REF] }', ['rule.filters[0].responseHeaderModifier.add[0].name']],
  ['an ExtensionRef filter', '{ filters: [{ type: ExtensionRef, extensionRef: { group: example.com, kind: Auth, name: a } }], backendRefs: [REF] }', ['rule.filters[0].type']],
  ['a redirect and a rewrite', '{ filters: [{ type: URLRewrite, urlRewrite: { hostname: a.example } }, { type: RequestRedirect, requestRedirect: { scheme: https } }] }', ['rule.filters[1].type']],
  ['a redirect beside backendRefs', '{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }], backendRefs: [REF] }', ['rule.backendRefs']],
  ['a redirect to the URL that was requested', '{ filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301 } }] }', ['rule.filters[0].requestRedirect']],
  ['a redirect status Gateway API does not know', '{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 300 } }] }', ['rule.filters[0].requestRedirect.statusCode']],
  ['a rewrite of nothing', '{ filters: [{ type: URLRewrite, urlRewrite: {} }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite']],
  ['a rewrite to a wildcard hostname', '{ filters: [{ type: URLRewrite, urlRewrite: { hostname: "*.example.com" } }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite.hostname']],
  ['a path modifier whose value disagrees with its type', '{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replacePrefixMatch: /v2 } } }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite.path.replaceFullPath', 'rule.filters[0].urlRewrite.path.replacePrefixMatch']],
  ['a full-path rewrite without its leading /', '{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: v2 } } }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite.path.replaceFullPath']],
  ['ReplacePrefixMatch on an Exact match', '{ matches: [{ path: { type: Exact, value: /v1 } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite.path.type']],
  ['ReplacePrefixMatch with two PathPrefix matches', '{ matches: [{ path: { value: /a } }, { path: { value: /b } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /c } } }], backendRefs: [REF] }', ['rule.filters[0].urlRewrite.path.type']],
  ['a mirror with percent and fraction', '{ filters: [{ type: RequestMirror, requestMirror: { backendRef: REF, percent: 10, fraction: { numerator: 1 } } }], backendRefs: [REF] }', ['rule.filters[0].requestMirror.fraction']],
  ['a mirror fraction above 1', '{ filters: [{ type: RequestMirror, requestMirror: { backendRef: REF, fraction: { numerator: 3, denominator: 2 } } }], backendRefs: [REF] }', ['rule.filters[0].requestMirror.fraction.numerator']],
  ['a mirror percent over 100', '{ filters: [{ type: RequestMirror, requestMirror: { backendRef: REF, percent: 101 } }], backendRefs: [REF] }', ['rule.filters[0].requestMirror.percent']],
  // --- backendRefs, timeouts, fields ---
  ['a weight above 1000000', '{ backendRefs: [{ REF_FIELDS, weight: 1000001 }] }', ['rule.backendRefs[0].weight']],
  ['a backend timeout longer than the request timeout', '{ timeouts: { request: 1s, backendRequest: 1500ms }, backendRefs: [REF] }', ['rule.timeouts.backendRequest']],
  ['a timeout longer than a timer can wait', '{ timeouts: { request: 99999h }, backendRefs: [REF] }', ['rule.timeouts.request']],
  ['a misspelt field', '{ timeout: { request: 1s }, backendRefs: [REF] }', ['rule.timeout']],
  ['a rule name that is not a DNS name', '{ name: Items, backendRefs: [REF] }', ['rule.name']],
];

describe('one HTTPRoute rule model for the static file and the API', () => {
  for (const [title, rule, paths] of RULES) {
    test(`${paths.length === 0 ? 'both accept' : 'both refuse'} ${title}, with the same violations`, () => {
      const fromFile = throughStaticFile(rule);
      const fromApi = throughApi(rule);
      assert.deepEqual(fromFile.map((v) => v.slice(0, v.indexOf(': '))), [...paths].sort(), fromFile.join('\n'));
      assert.deepEqual(fromApi, fromFile);
    });
  }
});
