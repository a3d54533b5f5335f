// The route table finds a request's candidates by its Host, not by walking every route: a
// `host:port` name, then the host, then each wildcard suffix (longest first), then routes
// with no hostname. These cases pin what the walk answered, including where it differs from
// a naive index: a name whose rules all fail falls through to the next tier, several routes
// can share a name, and a Host is lower-cased and loses its port (not an IPv6 literal's
// colons) before it is looked up.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpRoute, PathMatch, RouteRule } from '../../../proxy/config/model.ts';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../../proxy/http/route-table.ts';
import { outboundRoutes } from '../../helpers/outbound-routes.ts';

const prefix = (value: string): PathMatch => ({ type: 'PathPrefix', value });
const exact = (value: string): PathMatch => ({ type: 'Exact', value });
/** A rule whose one backend is named `to`: the cases read which rule won from it. */
const rule = (to: string, path: PathMatch = prefix('/')): RouteRule => ({ matches: [{ path, headers: [], queryParams: [] }], filters: [], backendRefs: [{ name: to, weight: 1 }], timeouts: {} });
const route = (name: string, hostnames: string[], rules: RouteRule[]): HttpRoute => ({ name, parentRefs: [], hostnames, rules });

const req = (host: string, path = '/'): RouteRequest => ({ host, path, query: '', method: 'GET', headers: {} });
const winner = (t: RouteTable, r: RouteRequest) => t.match(r)?.rule.backendRefs[0]?.name;

type Case = [title: string, request: RouteRequest, want: string | undefined];
function table(cases: Case[], t: RouteTable): void {
  for (const [title, r, want] of cases) test(title, () => assert.equal(winner(t, r), want));
}

describe('hostname lookup, in the order the walk gave', () => {
  // Written general-first, so file order alone would pick the wrong one every time.
  const t = compileRouteTable(
    [
      route('any', [], [rule('any')]),
      route('wild-short', ['*.example.com'], [rule('wild-short'), rule('wild-short-deep', prefix('/deep/path'))]),
      route('wild-long', ['*.b.example.com'], [rule('wild-long', prefix('/b'))]),
      route('exact-a', ['api.example.com'], [rule('exact-a', prefix('/api'))]),
      route('exact-b', ['API.example.com', 'www.b.example.com'], [rule('exact-b', exact('/api/v1'))]),
      route('port', ['api.example.com:8443'], [rule('port', prefix('/secure'))]),
      route('wild-other', ['*.other.io'], [rule('wild-other', prefix('/o'))]),
      route('v6', ['[fd00::1]'], [rule('v6')]),
      route('v6-port', ['[fd00::1]:9090'], [rule('v6-port')]),
    ],
    'main',
  );
  table(
    [
      ['a later route for the same name wins with a more specific path', req('api.example.com', '/api/v1'), 'exact-b'],
      ['the first route for a name keeps what the later one does not match', req('api.example.com', '/api/x'), 'exact-a'],
      ['an exact name beats a longer wildcard written first', req('www.b.example.com', '/api/v1'), 'exact-b'],
      ['a name with the port beats the name alone', req('api.example.com:8443', '/secure'), 'port'],
      ['the port is matched with the name in any case', req('API.Example.COM:8443', '/secure'), 'port'],
      ['a name with the port falls through to the name alone', req('api.example.com:8443', '/api/x'), 'exact-a'],
      ['an exact name falls through to a wildcard when its rules do not match', req('api.example.com', '/secure'), 'wild-short'],
      ['a longer wildcard beats a shorter one written first', req('x.b.example.com', '/b'), 'wild-long'],
      ['a longer wildcard falls through to a shorter one', req('x.b.example.com', '/deep/path'), 'wild-short-deep'],
      ['a wildcard matches many labels', req('w.x.y.z.example.com', '/deep/path/more'), 'wild-short-deep'],
      ['a wildcard with its port stripped', req('Www.Example.com:8080'), 'wild-short'],
      ['a wildcard does not match its own suffix', req('b.example.com', '/b'), 'wild-short'],
      ['a wildcard does not match its suffix with a leading dot', req('.example.com'), 'any'],
      ['a wildcard matches a host that starts with a dot and has more before its suffix', req('.x.example.com'), 'wild-short'],
      ['a wildcard falls through to routes with no hostname', req('a.other.io', '/x'), 'any'],
      ['a host with a trailing dot matches no name', req('api.example.com.', '/api'), 'any'],
      ['a host no name matches goes to routes with no hostname', req('unknown.test:80'), 'any'],
      ['no Host goes to routes with no hostname', req(''), 'any'],
      ['an IPv6 literal without a port matches its bracketed name', req('[fd00::1]'), 'v6'],
      ['an IPv6 literal loses its port, not its colons', req('[fd00::1]:8080'), 'v6'],
      ['an IPv6 literal with the port of a name with one', req('[FD00::1]:9090'), 'v6-port'],
    ],
    t,
  );
});

describe('with no route for any host', () => {
  const t = compileRouteTable(
    [
      route('exact', ['shop.io'], [rule('exact', prefix('/cart'))]),
      route('wild', ['*.shop.io', 'shop.io:80'], [rule('wild', prefix('/w'))]),
    ],
    'main',
  );
  table(
    [
      ['a host no name matches matches nothing', req('other.io', '/cart'), undefined],
      ['a name whose rules fail in every tier matches nothing', req('shop.io', '/nothing'), undefined],
      ['the name with a port applies to that port only', req('shop.io:80', '/w'), 'wild'],
      ['the same name on another port does not take it', req('shop.io:81', '/w'), undefined],
      ['a route with both an exact name and a wildcard takes both', req('a.shop.io', '/w'), 'wild'],
    ],
    t,
  );
  test('counts one candidate per name kind and one per wildcard', () => {
    const many = compileRouteTable([route('r', ['a.io', 'b.io', 'a.io:80', 'b.io:80', '*.a.io', '*.b.io'], [rule('r')])], 'main');
    assert.equal(many.size, 4);
  });
});

describe("a mesh proxy's outbound listener, as xDS gives it", () => {
  const services = [
    { name: 'orders', namespace: 'shop', ports: [80, 8080] },
    { name: 'ledger', namespace: 'bank', ports: [9000] },
    ...Array.from({ length: 50 }, (_, i) => ({ name: `svc-${i}`, namespace: i % 2 === 0 ? 'shop' : 'bank', ports: [80] })),
  ];
  const t = compileRouteTable(outboundRoutes(services, 'shop'), 'outbound');
  const cluster = (host: string, port: number) => `outbound|${port}||${host}.svc.cluster.local`;
  table(
    [
      ["a Service's short name in the proxy's namespace", req('orders'), cluster('orders.shop', 80)],
      ['its full name with the other port', req('orders.shop.svc.cluster.local:8080'), cluster('orders.shop', 8080)],
      ['in any case', req('ORDERS.Shop.svc:8080'), cluster('orders.shop', 8080)],
      ['a port the Service does not have falls back to the name alone', req('orders.shop:9999'), cluster('orders.shop', 80)],
      ['a Service without port 80 takes the name alone on its first port', req('ledger.bank'), cluster('ledger.bank', 9000)],
      ['a short name from another namespace matches nothing', req('ledger'), undefined],
      ['one Service among many', req('svc-37.bank.svc.cluster.local'), cluster('svc-37.bank', 80)],
      ['an unknown Service matches nothing', req('svc-99.shop:80'), undefined],
    ],
    t,
  );
});
