// What the operator is told about a bad config: every mistake, at its field path, in words.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatViolations, parseStaticConfig } from '../../../proxy/config/load-static.ts';
import type { Violation } from '../../../proxy/errors.ts';

function violations(text: string): Violation[] {
  const r = parseStaticConfig(text);
  if (r.ok) assert.fail('expected violations, got a valid config');
  return r.error;
}

function messageAt(text: string, path: string): string {
  const found = violations(text).filter((v) => v.path === path);
  assert.equal(found.length, 1, `expected one violation at ${path}, got:\n${formatViolations('test.yaml', violations(text))}`);
  return found[0].message;
}

const L = 'listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]';
const B = 'backends: [{ name: api, endpoints: [{ address: 127.0.0.1, port: 8080 }] }, { name: web, endpoints: [] }]';
/** A valid document around one rule, written as a YAML flow mapping. */
const rule = (r: string) => `${L}\n${B}\nroutes: [{ name: r, rules: [${r}] }]`;
const listener = (l: string) => `listeners: [${l}]\n${B}`;
const R = 'routes[0].rules[0]';

const BAD: [string, string, string[]][] = [
  // --- document ---
  ['no listeners at all', `${B}`, ['listeners']],
  ['an empty listener list', 'listeners: []', ['listeners']],
  ['routes that are not a list', `${L}\nroutes: { name: r }`, ['routes']],
  ['an unknown top-level field', `${L}\nclusters: []`, ['clusters']],
  // --- listeners ---
  ['a port out of range', listener('{ name: main, address: 127.0.0.1, port: 70000, protocol: http }'), ['listeners[0].port']],
  ['a port that is a string', listener('{ name: main, address: 127.0.0.1, port: "80", protocol: http }'), ['listeners[0].port']],
  ['an unknown protocol', listener('{ name: main, address: 127.0.0.1, port: 0, protocol: https }'), ['listeners[0].protocol']],
  ['a listener missing its required fields', listener('{ name: main }'), ['listeners[0].address', 'listeners[0].port', 'listeners[0].protocol']],
  ['an upper-case listener name', listener('{ name: Main, address: 127.0.0.1, port: 0, protocol: http }'), ['listeners[0].name']],
  ['a host name as the bind address', listener('{ name: main, address: localhost, port: 0, protocol: http }'), ['listeners[0].address']],
  ['two listeners with one name', listener('{ name: a, address: 127.0.0.1, port: 0, protocol: http }, { name: a, address: 127.0.0.1, port: 1, protocol: http }'), ['listeners[1].name']],
  ['two listeners on one address and port', listener('{ name: a, address: 127.0.0.1, port: 80, protocol: http }, { name: b, address: 127.0.0.1, port: 80, protocol: http }'), ['listeners[1].port']],
  ['a listener under a wildcard on the same port', listener('{ name: a, address: 0.0.0.0, port: 80, protocol: http }, { name: b, address: 10.1.2.3, port: 80, protocol: http }'), ['listeners[1].port']],
  ['a tcp listener without a backend', listener('{ name: db, address: 127.0.0.1, port: 0, protocol: tcp }'), ['listeners[0].backend']],
  ['a tcp listener to an undefined backend', listener('{ name: db, address: 127.0.0.1, port: 0, protocol: tcp, backend: pg }'), ['listeners[0].backend']],
  ['a tcp listener with http limits', listener('{ name: db, address: 127.0.0.1, port: 0, protocol: tcp, backend: api, limits: {} }'), ['listeners[0].limits']],
  ['an http listener with a backend', listener('{ name: main, address: 127.0.0.1, port: 0, protocol: http, backend: api }'), ['listeners[0].backend']],
  ['a zero limit', listener('{ name: main, address: 127.0.0.1, port: 0, protocol: http, limits: { maxHeaders: 0 } }'), ['listeners[0].limits.maxHeaders']],
  // --- routes ---
  ['two routes with one name', `${L}\n${B}\nroutes: [{ name: r, rules: [{ backendRefs: [{ name: api }] }] }, { name: r, rules: [{ backendRefs: [{ name: api }] }] }]`, ['routes[1].name']],
  ['a route without rules', `${L}\nroutes: [{ name: r, rules: [] }]`, ['routes[0].rules']],
  ['a parentRef to an undefined listener', `${L}\n${B}\nroutes: [{ name: r, parentRefs: [{ name: mian }], rules: [{ backendRefs: [{ name: api }] }] }]`, ['routes[0].parentRefs[0].name']],
  [
    'a parentRef to a tcp listener',
    `listeners: [{ name: db, address: 127.0.0.1, port: 0, protocol: tcp, backend: api }]\n${B}\nroutes: [{ name: r, parentRefs: [{ name: db }], rules: [{ backendRefs: [{ name: api }] }] }]`,
    ['routes[0].parentRefs[0].name'],
  ],
  ['bad hostnames', `${L}\n${B}\nroutes: [{ name: r, hostnames: ["*.*.example.com", "example.com:8080", "10.0.0.1", "-a.example.com"], rules: [{ backendRefs: [{ name: api }] }] }]`, [0, 1, 2, 3].map((i) => `routes[0].hostnames[${i}]`)],
  // --- rules ---
  ['a backendRef to an undefined backend', rule('{ backendRefs: [{ name: apx }] }'), [`${R}.backendRefs[0].name`]],
  ['a rule that sends requests nowhere', rule('{ matches: [{ path: { value: /x } }] }'), [`${R}.backendRefs`]],
  ['backendRefs whose weights are all 0', rule('{ backendRefs: [{ name: api, weight: 0 }, { name: web, weight: 0 }] }'), [`${R}.backendRefs`]],
  ['a negative weight', rule('{ backendRefs: [{ name: api, weight: -1 }] }'), [`${R}.backendRefs[0].weight`]],
  ['a wrong path match type', rule('{ matches: [{ path: { type: Prefix, value: /x } }], backendRefs: [{ name: api }] }'), [`${R}.matches[0].path.type`]],
  ['a path without a leading slash', rule('{ matches: [{ path: { value: api } }], backendRefs: [{ name: api }] }'), [`${R}.matches[0].path.value`]],
  ['an exact path with a query', rule('{ matches: [{ path: { type: Exact, value: "/a?b=1" } }], backendRefs: [{ name: api }] }'), [`${R}.matches[0].path.value`]],
  ['a path regex that does not compile', rule('{ matches: [{ path: { type: RegularExpression, value: "/(a" } }], backendRefs: [{ name: api }] }'), [`${R}.matches[0].path.value`]],
  [
    'bad header matches',
    rule('{ matches: [{ headers: [{ name: "x y", value: a }, { name: ok, value: "a\\r\\nb" }, { type: RegularExpression, name: re, value: "[" }, { name: OK, value: b }] }], backendRefs: [{ name: api }] }'),
    [`${R}.matches[0].headers[0].name`, `${R}.matches[0].headers[1].value`, `${R}.matches[0].headers[2].value`, `${R}.matches[0].headers[3].name`],
  ],
  ['an unknown method', rule('{ matches: [{ method: FETCH }], backendRefs: [{ name: api }] }'), [`${R}.matches[0].method`]],
  ['an unknown filter type', rule('{ filters: [{ type: Rewrite }], backendRefs: [{ name: api }] }'), [`${R}.filters[0].type`]],
  [
    'a filter whose type and field disagree',
    rule('{ filters: [{ type: RequestHeaderModifier, responseHeaderModifier: {} }], backendRefs: [{ name: api }] }'),
    [`${R}.filters[0].requestHeaderModifier`, `${R}.filters[0].responseHeaderModifier`],
  ],
  [
    'one filter type twice',
    rule('{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: {} }, { type: RequestHeaderModifier, requestHeaderModifier: {} }], backendRefs: [{ name: api }] }'),
    [`${R}.filters[1].type`],
  ],
  [
    "a backendRef's filter other than a header modifier, and a header modifier twice",
    rule('{ backendRefs: [{ name: api, filters: [{ type: URLRewrite, urlRewrite: { hostname: a.example } }, { type: RequestHeaderModifier, requestHeaderModifier: {} }, { type: RequestHeaderModifier, requestHeaderModifier: {} }] }] }'),
    [`${R}.backendRefs[0].filters[0].type`, `${R}.backendRefs[0].filters[2].type`],
  ],
  ['a redirect beside backendRefs', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }], backendRefs: [{ name: api }] }'), [`${R}.backendRefs`]],
  ['a redirect to the URL that was requested', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301 } }] }'), [`${R}.filters[0].requestRedirect`]],
  [
    'a redirect beside a rewrite',
    rule('{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }, { type: URLRewrite, urlRewrite: { hostname: a.example } }] }'),
    [`${R}.filters[1].type`],
  ],
  ['an unknown redirect status', rule('{ filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 300 } }] }'), [`${R}.filters[0].requestRedirect.statusCode`]],
  [
    'ReplacePrefixMatch on an Exact match',
    rule('{ matches: [{ path: { value: /a } }, { path: { type: Exact, value: /b } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /c } } }], backendRefs: [{ name: api }] }'),
    [`${R}.filters[0].urlRewrite.path.type`],
  ],
  [
    'a path modifier whose type and field disagree',
    rule('{ filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replacePrefixMatch: /c } } }], backendRefs: [{ name: api }] }'),
    [`${R}.filters[0].urlRewrite.path.replaceFullPath`, `${R}.filters[0].urlRewrite.path.replacePrefixMatch`],
  ],
  [
    'header modifiers with bad names and values',
    rule('{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: "a:b", value: x }, { name: v, value: "a\\u0000" }], remove: [X-A, x-a] } }], backendRefs: [{ name: api }] }'),
    [0, 1].map((i) => `${R}.filters[0].requestHeaderModifier.${['set[0].name', 'set[1].value'][i]}`).concat(`${R}.filters[0].requestHeaderModifier.remove[1]`),
  ],
  ['a mirror to an undefined backend', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow } } }], backendRefs: [{ name: api }] }'), [`${R}.filters[0].requestMirror.backendRef.name`]],
  ['a mirror percent over 100', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: web }, percent: 101 } }], backendRefs: [{ name: api }] }'), [`${R}.filters[0].requestMirror.percent`]],
  ['a duration without a unit', rule('{ timeouts: { request: "5" }, backendRefs: [{ name: api }] }'), [`${R}.timeouts.request`]],
  ['a backendRequest timeout over the request timeout', rule('{ timeouts: { request: 1s, backendRequest: 2s }, backendRefs: [{ name: api }] }'), [`${R}.timeouts.backendRequest`]],
  // --- backends ---
  ['two backends with one name', `${L}\nbackends: [{ name: a, endpoints: [] }, { name: a, endpoints: [] }]`, ['backends[1].name']],
  ['an unknown load balancer', `${L}\nbackends: [{ name: a, loadBalancer: maglev, endpoints: [] }]`, ['backends[0].loadBalancer']],
  ['a backend without endpoints', `${L}\nbackends: [{ name: a }]`, ['backends[0].endpoints']],
  ['bad endpoints', `${L}\nbackends: [{ name: a, endpoints: [{ address: 300.1.2.3, port: 1 }, { address: b.example, port: 0, weight: 0 }] }]`, ['backends[0].endpoints[0].address', 'backends[0].endpoints[1].port', 'backends[0].endpoints[1].weight']],
];

describe('violations', () => {
  for (const [what, text, paths] of BAD) {
    test(`reports ${what} at ${paths.join(', ')}`, () => {
      assert.deepEqual(violations(text).map((v) => v.path).sort(), [...paths].sort());
    });
  }

  test('accepts port 0 on many listeners, mirrors more than once and a redirect without backendRefs', () => {
    const r = parseStaticConfig(`
listeners: [{ name: a, address: 127.0.0.1, port: 0, protocol: http }, { name: b, address: 127.0.0.1, port: 0, protocol: http }]
backends: [{ name: api, endpoints: [] }]
routes:
  - name: r
    rules:
      - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: api } } }, { type: RequestMirror, requestMirror: { backendRef: { name: api } } }]
        backendRefs: [{ name: api }]
      - filters: [{ type: RequestRedirect, requestRedirect: { hostname: new.example, statusCode: 301 } }]
`);
    assert.ok(r.ok, r.ok ? '' : formatViolations('test.yaml', r.error));
  });

  test('reports every mistake of a document at once, in document order', () => {
    const text = `
listeners:
  - { name: main, address: 127.0.0.1, port: 70000, protocol: http }
  - { name: main, address: 127.0.0.1, port: 0, protocol: tcp, backend: nope }
routes:
  - name: r
    parentRefs: [{ name: other }]
    rules:
      - matches: [{ path: { type: Prefix, value: /x } }, { headers: [{ name: "bad name", value: v }] }]
        filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]
        backendRefs: [{ name: nowhere }]
        timeout: 5s
backends:
  - { name: web, loadBalancer: random, endpoints: [{ address: 127.0.0.1, port: 1, wieght: 2 }] }
`;
    assert.deepEqual(
      violations(text).map((v) => v.path),
      [
        'listeners[0].port',
        'listeners[1].backend',
        'listeners[1].name',
        'routes[0].parentRefs[0].name',
        `${R}.backendRefs`,
        `${R}.backendRefs[0].name`,
        `${R}.matches[0].path.type`,
        `${R}.matches[1].headers[0].name`,
        `${R}.timeout`,
        'backends[0].endpoints[0].wieght',
        'backends[0].loadBalancer',
      ],
    );
  });
});

describe('violation messages', () => {
  test('name the undefined backend and list the defined ones', () => {
    assert.equal(messageAt(rule('{ backendRefs: [{ name: apx }] }'), `${R}.backendRefs[0].name`), "backend 'apx' is not defined; defined backends: api, web");
  });

  test('suggest the camelCase field for a snake_case one', () => {
    assert.equal(messageAt(rule('{ backend_refs: [{ name: api }] }'), `${R}.backend_refs`), "unknown field 'backend_refs'; did you mean 'backendRefs'?");
  });

  test('suggest a field two edits away', () => {
    assert.equal(messageAt(`${L}\nbackends: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 1, wieght: 2 }] }]`, 'backends[0].endpoints[0].wieght'), "unknown field 'wieght'; did you mean 'weight'?");
  });

  test('list the known fields when no field is close', () => {
    assert.equal(messageAt(rule('{ backendRefs: [{ name: api, port: 80 }] }'), `${R}.backendRefs[0].port`), "unknown field 'port'; known fields: name, weight, filters");
  });

  test('say nothing more about a required field the operator misspelled', () => {
    assert.deepEqual(violations(`listener: []\n${B}`), [{ path: 'listener', message: "unknown field 'listener'; did you mean 'listeners'?" }]);
  });

  test('list the allowed values of an enum, with a hint for a case slip', () => {
    assert.equal(
      messageAt(rule('{ matches: [{ path: { type: pathprefix } }], backendRefs: [{ name: api }] }'), `${R}.matches[0].path.type`),
      "must be one of Exact, PathPrefix, RegularExpression; got 'pathprefix'; did you mean 'PathPrefix'?",
    );
  });

  test('give one message for an unknown filter type, not one per kind of filter', () => {
    assert.deepEqual(violations(rule('{ filters: [{ type: Rewrite, urlRewrite: {} }], backendRefs: [{ name: api }] }')), [
      { path: `${R}.filters[0].type`, message: 'must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, ExtensionRef; got \'Rewrite\'' },
    ]);
  });

  test("pass on the regular-expression engine's own message", () => {
    assert.match(messageAt(rule('{ matches: [{ path: { type: RegularExpression, value: "/(a" } }], backendRefs: [{ name: api }] }'), `${R}.matches[0].path.value`), /^is not a valid regular expression: Invalid regular expression: .*Unterminated group/);
  });

  test('tell the operator to quote a value YAML read as a number', () => {
    assert.equal(messageAt(rule('{ matches: [{ headers: [{ name: x-canary, value: 1 }] }], backendRefs: [{ name: api }] }'), `${R}.matches[0].headers[0].value`), 'must be a string; got 1 (quote it: "1")');
  });

  test('give the range of a number out of bounds', () => {
    assert.equal(messageAt(listener('{ name: main, address: 127.0.0.1, port: 70000, protocol: http }'), 'listeners[0].port'), 'must be between 0 and 65535; got 70000');
  });

  test('say which listener already holds an address and port', () => {
    assert.equal(
      messageAt(listener('{ name: a, address: 0.0.0.0, port: 80, protocol: http }, { name: b, address: 127.0.0.1, port: 80, protocol: http }'), 'listeners[1].port'),
      "127.0.0.1:80 collides with listener 'a' (listeners[0]) on 0.0.0.0:80",
    );
  });
});
