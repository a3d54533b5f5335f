// The mesh the xDS push bench runs against: a Mesh (STRICT mTLS), SERVICES Services each
// with an http port 80, and one Workload per simulated proxy, spread over the Services by
// label, each on its own port, so every simulated proxy is a real Workload with its own
// inbound listener. The change that is pushed: an HTTPRoute splitting svc-000's traffic
// with svc-001, which every proxy's `outbound` RouteConfiguration carries.

import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { SimNode } from './ads-load-client.ts';

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

/** Writes the HTTPRoute for `sluicectl apply -f`: svc-000 split with svc-001 at `weight` / 100 - `weight`. */
export function writeRoute(file: string, weight: number): void {
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
    - backendRefs:
        - { name: ${svc(0)}, port: 80, weight: ${weight} }
        - { name: ${svc(1)}, port: 80, weight: ${100 - weight} }
`,
  );
}
