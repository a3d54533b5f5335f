// GRPCRoute as an API resource: GAMMA gRPC routes accepted as written for any GAMMA mesh,
// Gateway API's rules enforced, and the parts shared with HTTPRoute (parents, backends,
// header filters, mirroring) refused in the same words.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import { accepted, assertViolations, type Expected } from './assert-kind.ts';

const PARENT = '{ group: "", kind: Service, name: greeter, port: 50051 }';

/** A GRPCRoute in default with `spec` given as YAML. */
function route(spec: string): object {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'greeter', namespace: 'default' }, spec: parse(spec) };
}

/** A route to the greeter Service with the one rule given as YAML. */
function rule(yaml: string): object {
  return route(`{ parentRefs: [${PARENT}], rules: [${yaml}] }`);
}

describe('GRPCRoute', () => {
  test("accepts Gateway API's GAMMA gRPC example with a weighted split (conformance: mesh-grpc-weighted-backends)", () => {
    accepted(parse(`
      apiVersion: gateway.networking.k8s.io/v1
      kind: GRPCRoute
      metadata:
        name: mesh-grpc-weighted-backends
        namespace: gateway-conformance-mesh
      spec:
        parentRefs:
        - group: ""
          kind: Service
          name: echo
          port: 7070
        rules:
        - backendRefs:
          - { name: echo-v1, port: 7070, weight: 70 }
          - { name: echo-v2, port: 7070, weight: 30 }
          - { name: echo-v3, port: 7070, weight: 0 }`));
  });

  test('accepts method and header matches, header filters and mirroring', () => {
    accepted(route(`
      parentRefs: [${PARENT}]
      rules:
        - name: say-hello
          matches:
            - method: { service: helloworld.Greeter, method: SayHello }
              headers: [{ name: x-canary, value: 'true' }]
            - method: { type: RegularExpression, service: 'helloworld\\..*', method: 'Say.*' }
            - method: { method: Ping }
            - headers: [{ type: RegularExpression, name: x-user, value: '^a' }]
          filters:
            - { type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-route, value: hello }] } }
            - { type: ResponseHeaderModifier, responseHeaderModifier: { remove: [x-internal] } }
            - { type: RequestMirror, requestMirror: { backendRef: { name: greeter-shadow, port: 50051 }, percent: 10 } }
          backendRefs:
            - { name: greeter-v2, port: 50051, filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-version, value: v2 }] } }] }
        - backendRefs: [{ name: greeter, port: 50051 }]`));
  });

  test('lists parents and backends as HTTPRoute does', () => {
    const kind = findKind('grpcroute')!;
    const r = accepted(route(`
      parentRefs: [{ group: "", kind: Service, name: greeter, sectionName: grpc }]
      rules: [{ backendRefs: [{ name: greeter-v1, port: 50051, weight: 90 }, { name: greeter-v2, port: 50051, weight: 10 }] }]`));
    assert.deepEqual(kind.columns.map((c) => [c.name, c.value(r)]), [
      ['PARENTS', 'greeter:grpc'],
      ['HOSTNAMES', '*'],
      ['BACKENDS', 'greeter-v1:50051 (90), greeter-v2:50051 (10)'],
    ]);
  });

  const many = (n: number, item: string) => `[${Array(n).fill(item).join(', ')}]`;

  const BAD: readonly (readonly [string, object, Expected])[] = [
    // --- structure ---
    ['an unknown field, with the one meant', rule('{ matches: [{ methods: { method: SayHello } }] }'), [['spec.rules[0].matches[0].methods', /unknown field 'methods'; did you mean 'method'\?/]]],
    ['a misspelt match type', rule('{ matches: [{ method: { type: Exakt, method: SayHello } }] }'), [['spec.rules[0].matches[0].method.type', /must be one of Exact, RegularExpression; got 'Exakt'; did you mean 'Exact'\?/]]],
    ['an HTTP-only filter', rule('{ filters: [{ type: URLRewrite, urlRewrite: { hostname: a } }] }'), [
      ['spec.rules[0].filters[0].type', /must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef; got 'URLRewrite'/],
      ['spec.rules[0].filters[0].urlRewrite', /unknown field 'urlRewrite'/],
    ]],
    ['HTTPRoute-only timeouts', rule('{ timeouts: { request: 1s } }'), [['spec.rules[0].timeouts', /unknown field 'timeouts'/]]],
    ['a quoted port', rule(`{ backendRefs: [{ name: a, port: '50051' }] }`), [['spec.rules[0].backendRefs[0].port', /must be a whole number; got '50051'/]]],
    ['more than 64 matches in a rule', rule(`{ matches: ${many(65, '{ method: { method: A } }')} }`), [['spec.rules[0].matches', /64/]]],
    // --- method matches ---
    ['a method match with neither service nor method', rule('{ matches: [{ method: { type: Exact } }] }'), [['spec.rules[0].matches[0].method', /needs service, method or both/]]],
    ['the whole gRPC path as the service', rule('{ matches: [{ method: { service: /helloworld.Greeter/SayHello } }] }'), [['spec.rules[0].matches[0].method.service', /is not a gRPC service name: write the service and the method in their own fields, as in service: helloworld.Greeter, method: SayHello/]]],
    ['a service name with a dash', rule('{ matches: [{ method: { service: hello-world.Greeter } }] }'), [['spec.rules[0].matches[0].method.service', /'hello-world.Greeter' is not a gRPC service name: dot-separated identifiers/]]],
    ['a method name with a space', rule(`{ matches: [{ method: { service: a.B, method: 'Say Hello' } }] }`), [['spec.rules[0].matches[0].method.method', /'Say Hello' is not a gRPC method name: an identifier such as SayHello/]]],
    ['a method regular expression that does not compile', rule(`{ matches: [{ method: { type: RegularExpression, service: 'a\\.(', method: '[x' } }] }`), [
      ['spec.rules[0].matches[0].method.service', /is not a valid regular expression/],
      ['spec.rules[0].matches[0].method.method', /is not a valid regular expression/],
    ]],
    ['one header matched twice, in another case', rule('{ matches: [{ headers: [{ name: X-User, value: a }, { name: x-user, value: b }] }] }'), [['spec.rules[0].matches[0].headers[1].name', /header 'x-user' is already matched by headers\[0\] \(header names ignore case\)/]]],
    ['more than 128 matches in a route', route(`{ parentRefs: [${PARENT}], rules: ${many(3, `{ matches: ${many(43, '{ method: { method: A } }')} }`)} }`), [['spec.rules', /has 129 matches across its rules; a route may have at most 128/]]],
    ['a rule name used twice', route(`{ parentRefs: [${PARENT}], rules: [{ name: hello }, { name: hello }] }`), [['spec.rules[1].name', /rule name 'hello' is already used by rules\[0\]/]]],
    // --- shared with HTTPRoute ---
    ['a Gateway parent', route('{ parentRefs: [{ name: public-gateway }] }'), [['spec.parentRefs[0].kind', /defaults to Gateway, but Sluice routes mesh traffic and has no Gateway/]]],
    ['a Service parent without its group', route('{ parentRefs: [{ kind: Service, name: greeter }] }'), [['spec.parentRefs[0].group', /write group: "" \(the core group\)/]]],
    ['no parentRefs', route('{ rules: [] }'), [['spec.parentRefs', /is required/]]],
    ['one Service as parent twice', route(`{ parentRefs: [${PARENT}, ${PARENT}] }`), [['spec.parentRefs[1]', /refers to Service 'greeter' as parentRefs\[0\] does/]]],
    ['an IP address as hostname', route(`{ parentRefs: [${PARENT}], hostnames: [192.168.0.1] }`), [['spec.hostnames[0]', /must be a DNS name, not an IP address/]]],
    ['missing port on a Service backendRef', rule('{ backendRefs: [{ name: greeter-v1 }] }'), [['spec.rules[0].backendRefs[0].port', /required/]]],
    ['a backendRef that is not a Service', rule('{ backendRefs: [{ kind: Pod, name: a, port: 1 }] }'), [['spec.rules[0].backendRefs[0].kind', /must be Service/]]],
    ['a header modifier twice in a backendRef', rule('{ backendRefs: [{ name: a, port: 1, filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { remove: [a] } }, { type: ResponseHeaderModifier, responseHeaderModifier: { remove: [b] } }] }] }'), [['spec.rules[0].backendRefs[0].filters[1].type', /ResponseHeaderModifier appears more than once in this list/]]],
    ['one header removed twice', rule('{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [x-a, X-A] } }] }'), [['spec.rules[0].filters[0].requestHeaderModifier.remove[1]', /header 'X-A' is already modified by remove\[0\]/]]],
    ['a filter without the field its type names', rule('{ filters: [{ type: RequestMirror }] }'), [['spec.rules[0].filters[0].requestMirror', /is required when type is RequestMirror/]]],
    ['a mirror to a Service without its port', rule('{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: m } } }] }'), [['spec.rules[0].filters[0].requestMirror.backendRef.port', /is required for a Service backendRef/]]],
    ['an ExtensionRef filter', rule('{ filters: [{ type: ExtensionRef, extensionRef: { group: "", kind: ConfigMap, name: a } }] }'), [['spec.rules[0].filters[0].type', /ExtensionRef filters are not supported: Sluice has no extension filters; use RequestHeaderModifier, ResponseHeaderModifier, RequestMirror$/]]],
  ];

  for (const [title, doc, expected] of BAD) test(`refuses ${title}`, () => assertViolations(doc, expected));
});
