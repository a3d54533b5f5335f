// The mesh the xDS push bench runs against: a Mesh (STRICT mTLS), SERVICES Services each
// with an http port 80, and one Workload per simulated proxy, spread over the Services by
// label, each on its own port, so every simulated proxy is a real Workload with its own
// inbound listener. The change that is pushed: an HTTPRoute splitting svc-000's traffic
// with svc-001, which every proxy's `outbound` RouteConfiguration carries. With policies
// (issue 15's push bench): every Service also gets one policy of every kind (policy-set.ts)
// and an HTTPRoute to itself with header filters (svc-000's is the pushed route, filtered
// too), so each proxy's clusters, routes and inbound listener carry them all.

import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { SimNode } from './ads-load-client.ts';
import { policySet, ROUTE_FILTERS } from './policy-set.ts';

export const NAMESPACE = 'bench';
export const SERVICES = 50;
export const ROUTE_NAME = 'bench-split';
/** Concurrent API requests while seeding. */
const CLIENTS = 16;

const svc = (i: number) => `svc-${String(i).padStart(3, '0')}`;
const workloadName = (i: number) => `wl-${String(i).padStart(5, '0')}`;
/** Each Workload's own port: distinct, so each proxy's inbound listener is its own. */
const workloadPort = (i: number) => 10_000 + (i % 55_000);

/** The node each simulated proxy sends (xds/SUBSET.md, "Nodes"). */
export function simNodes(n: number): SimNode[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${workloadName(i)}.${NAMESPACE}`, outboundPort: 15001, appPorts: { http: 8080 } }));
}

/** Creates the Mesh, the Services and `n` Workloads through sluice-cp's API. */
export async function seedMesh(url: string, token: string, n: number, limitMs: number): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const pool = new Pool(url, { connections: CLIENTS, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const post = async (path: string, doc: unknown) => {
    const res = await pool.request({ path, method: 'POST', headers, body: JSON.stringify(doc) });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`POST ${path} answered ${res.statusCode}: ${text.slice(0, 500)}`);
  };
  const deadline = Date.now() + limitMs;
  const all = async (count: number, one: (i: number) => Promise<void>) => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        if (Date.now() > deadline) throw new Error(`seeding ran past ${limitMs} ms`);
        await one(next++);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, () => worker().catch((err: unknown) => ((next = count), Promise.reject(err)))));
  };
  try {
    await post('/apis/mesh.sluice.dev/v1alpha1/meshes', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'cluster.local', mtls: { mode: 'STRICT' } } });
    await all(SERVICES, (i) =>
      post(`/api/v1/namespaces/${NAMESPACE}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: svc(i), namespace: NAMESPACE },
        spec: { selector: { app: svc(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] },
      }),
    );
    await all(n, (i) =>
      post(`/apis/mesh.sluice.dev/v1alpha1/namespaces/${NAMESPACE}/workloads`, {
        apiVersion: 'mesh.sluice.dev/v1alpha1',
        kind: 'Workload',
        metadata: { name: workloadName(i), namespace: NAMESPACE, labels: { app: svc(i % SERVICES) } },
        spec: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, ports: { http: workloadPort(i) }, zone: `dc-${(i % 3) + 1}`, serviceAccount: svc(i % SERVICES) },
      }),
    );
  } finally {
    await pool.close();
  }
}

const ROUTES_GROUP = 'gateway.networking.k8s.io';
const POLICY_PLURALS: Record<string, string> = {
  RetryPolicy: 'retrypolicies',
  CircuitBreakerPolicy: 'circuitbreakerpolicies',
  FaultInjectionPolicy: 'faultinjectionpolicies',
  LoadBalancingPolicy: 'loadbalancingpolicies',
  AuthorizationPolicy: 'authorizationpolicies',
  RequestAuthentication: 'requestauthentications',
};

/** The route each Service but svc-000 gets with policies: to itself, with the header filters. */
const serviceRoute = (i: number) => `route-${svc(i)}`;

/**
 * For every Service: a policy of each kind (the fault on its route; ALLOW from the bench
 * namespace; a RequestAuthentication with `jwks` inline), and, but for svc-000 whose route
 * is the pushed one, an HTTPRoute to itself with the header filters. Returns how many resources.
 */
export async function seedPolicies(url: string, token: string, jwks: string, limitMs: number): Promise<number> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const pool = new Pool(url, { connections: CLIENTS, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const docs: { path: string; doc: unknown }[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const route = i === 0 ? ROUTE_NAME : serviceRoute(i);
    if (i !== 0) {
      docs.push({
        path: `/apis/${ROUTES_GROUP}/v1/namespaces/${NAMESPACE}/httproutes`,
        doc: { apiVersion: `${ROUTES_GROUP}/v1`, kind: 'HTTPRoute', metadata: { name: route, namespace: NAMESPACE }, spec: { parentRefs: [{ group: '', kind: 'Service', name: svc(i), port: 80 }], rules: [{ filters: ROUTE_FILTERS, backendRefs: [{ name: svc(i), port: 80 }] }] } },
      });
    }
    const targets = { destination: { kind: 'Service', name: svc(i) }, route: { group: ROUTES_GROUP, kind: 'HTTPRoute', name: route }, arrival: { kind: 'Service', name: svc(i) }, namespace: NAMESPACE };
    for (const p of policySet(svc(i), targets, { namespaces: [NAMESPACE] }, jwks)) docs.push({ path: `/apis/mesh.sluice.dev/v1alpha1/namespaces/${NAMESPACE}/${POLICY_PLURALS[p.kind]}`, doc: p });
  }
  const deadline = Date.now() + limitMs;
  let next = 0;
  const worker = async () => {
    while (next < docs.length) {
      if (Date.now() > deadline) throw new Error(`seeding the policies ran past ${limitMs} ms`);
      const { path, doc } = docs[next++];
      const res = await pool.request({ path, method: 'POST', headers, body: JSON.stringify(doc) });
      const text = await res.body.text();
      if (res.statusCode !== 201) throw new Error(`POST ${path} answered ${res.statusCode}: ${text.slice(0, 500)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: CLIENTS }, () => worker().catch((err: unknown) => ((next = docs.length), Promise.reject(err)))));
  } finally {
    await pool.close();
  }
  return docs.length;
}

/** Writes the HTTPRoute for `sluicectl apply -f`: svc-000 split with svc-001 at `weight` / 100 - `weight`. */
export function writeRoute(file: string, weight: number, filters = false): void {
  writeFileSync(
    file,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${ROUTE_NAME}
  namespace: ${NAMESPACE}
spec:
  parentRefs: [{ group: "", kind: Service, name: ${svc(0)}, port: 80 }]
  rules:
    - ${filters ? `filters: ${JSON.stringify(ROUTE_FILTERS)}
      ` : ''}backendRefs:
        - { name: ${svc(0)}, port: 80, weight: ${weight} }
        - { name: ${svc(1)}, port: 80, weight: ${100 - weight} }
`,
  );
}
