// LoadBalancingPolicy in the static file: laid over a backend's own loadBalancer, hashOn
// and failoverThreshold (kinds/load-balancing.ts, attached by kinds/policy-attachment.ts),
// and every mistake reported at its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Backend } from '../../../proxy/config/index.ts';
import { formatViolations, parseStaticConfig } from '../../../proxy/config/load-static.ts';

const LBS = { loadBalancers: ['round-robin', 'least-request', 'ring-hash', 'maglev'] };

const BASE = `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: shop, rules: [{ name: all, backendRefs: [{ name: api }] }] }]
backends:
  - { name: api, endpoints: [{ address: 127.0.0.1, port: 8001 }] }
  - { name: sessions, loadBalancer: ring-hash, hashOn: { type: Cookie, name: sid }, failoverThreshold: 90, endpoints: [{ address: 127.0.0.1, port: 8002 }] }
  - { name: plain, endpoints: [{ address: 127.0.0.1, port: 8003 }] }
policies:
`;

const policy = (name: string, spec: object) => `  - ${JSON.stringify({ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'LoadBalancingPolicy', metadata: { name }, spec })}\n`;
const on = (backend: string) => ({ targetRefs: [{ kind: 'Backend', name: backend }] });

function backends(policies: string): Map<string, Backend> {
  const r = parseStaticConfig(BASE + policies, LBS);
  if (!r.ok) assert.fail(formatViolations('test.yaml', r.error));
  return new Map(r.value.backends.map((b) => [b.name, b]));
}

function violations(policies: string): string[] {
  const r = parseStaticConfig(BASE + policies, LBS);
  if (r.ok) assert.fail('expected violations');
  return r.error.map((v) => `${v.path}: ${v.message}`);
}

const lb = (b: Backend | undefined) => ({ loadBalancer: b?.loadBalancer, hashOn: b?.hashOn, failoverThreshold: b?.failoverThreshold });

describe('a LoadBalancingPolicy on a backend', () => {
  test('sets its balancer, what it hashes on (a header, lower-cased) and its failover threshold', () => {
    const b = backends(policy('api', { ...on('api'), type: 'RingHash', hashOn: { type: 'Header', name: 'X-User' }, failoverThreshold: 50 }));
    assert.deepEqual(lb(b.get('api')), { loadBalancer: 'ring-hash', hashOn: { type: 'Header', name: 'x-user' }, failoverThreshold: 50 });
    assert.deepEqual(lb(b.get('plain')), { loadBalancer: 'least-request', hashOn: undefined, failoverThreshold: 71 }, 'a backend no policy names keeps the defaults');
  });

  test("overrides the backend's own fields; a type without hashOn hashes on nothing, and a threshold alone leaves the balancer", () => {
    let b = backends(policy('s', { ...on('sessions'), type: 'RoundRobin' }));
    assert.deepEqual(lb(b.get('sessions')), { loadBalancer: 'round-robin', hashOn: undefined, failoverThreshold: 90 });
    b = backends(policy('s', { ...on('sessions'), failoverThreshold: 60 }));
    assert.deepEqual(lb(b.get('sessions')), { loadBalancer: 'ring-hash', hashOn: { type: 'Cookie', name: 'sid' }, failoverThreshold: 60 });
    b = backends(policy('s', { ...on('sessions'), type: 'Maglev', hashOn: { type: 'SourceIP' } }));
    assert.deepEqual(lb(b.get('sessions')), { loadBalancer: 'maglev', hashOn: { type: 'SourceIP' }, failoverThreshold: 90 });
    b = backends(policy('s', { ...on('plain'), type: 'LeastRequest' }));
    assert.equal(b.get('plain')?.loadBalancer, 'least-request');
  });
});

describe('LoadBalancingPolicy violations', () => {
  test('hashOn needs a hashing type, a name for headers and cookies; a spec must say something; backends only', () => {
    assert.deepEqual(
      violations(
        policy('a', { ...on('api'), hashOn: { type: 'Header', name: 'x-user' } }) +
          policy('b', { ...on('sessions'), type: 'LeastRequest', hashOn: { type: 'Cookie' } }) +
          policy('c', { ...on('plain') }) +
          policy('d', { targetRefs: [{ kind: 'HTTPRoute', name: 'shop' }], type: 'RoundRobin' }) +
          policy('e', { targetRefs: [{ kind: 'Backend', name: 'nope' }], type: 'Maglev', hashOn: { type: 'Header', name: 'bad header' } }) +
          policy('f', { ...on('api'), type: 'Random', failoverThreshold: 0 }),
      ),
      [
        "policies[0].spec.hashOn: is read by the RingHash and Maglev balancers only; set 'type' to one of them",
        'policies[1].spec.hashOn: is read by the RingHash and Maglev balancers only; this policy\'s type is LeastRequest',
        'policies[1].spec.hashOn.name: is required when type is Cookie: it names the cookie',
        "policies[2].spec: needs 'type', 'hashOn', 'failoverThreshold' or 'zones'",
        'policies[3].spec.targetRefs[0].kind: a LoadBalancingPolicy targets Backend only: the balancer and what it hashes on are kept per backend; got HTTPRoute',
        "policies[4].spec.hashOn.name: 'bad header' is not a valid header name",
        "policies[4].spec.targetRefs[0].name: backend 'nope' is not defined; defined backends: api, sessions, plain",
        'policies[5].spec.failoverThreshold: must be between 1 and 100; got 0',
        "policies[5].spec.type: must be one of LeastRequest, RoundRobin, RingHash, Maglev; got 'Random'",
      ],
    );
  });

  test('two policies on one backend: the second is refused', () => {
    assert.deepEqual(violations(policy('a', { ...on('api'), type: 'RoundRobin' }) + policy('b', { ...on('api'), type: 'Maglev' })), [
      "policies[1].spec.targetRefs[0]: backend 'api' is already the target of LoadBalancingPolicy 'a' (policies[0]); give each target at most one LoadBalancingPolicy",
    ]);
  });
});
