// The status the control plane computes (control-plane/status/) must fit the status schema
// of each CRD: the API server rejects a status write that breaks the schema, and silently
// prunes every field the schema does not name. Statuses made by the real status code
// (StatusBook over meshStatus and workloadStatus) are checked against the generated CRDs.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type { Ajv } from 'ajv';
import { crdFor, STATUS_SHAPES } from '../../../control-plane/api/crd.ts';
import { KINDS } from '../../../control-plane/api/descriptors.ts';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { StatusBook } from '../../../control-plane/status/conditions.ts';
import { meshStatus } from '../../../control-plane/status/mesh-status.ts';
import { workloadStatus } from '../../../control-plane/status/workload-status.ts';
import { buildMeshView, type MeshInputs } from '../../../control-plane/xds/mesh-view.ts';
import type { ProxyStatus } from '../../../control-plane/xds/proxy-status.ts';

type Schema = Record<string, any>;

const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
// Kubernetes' x-kubernetes-* keywords are not JSON Schema's: not strict. Formats are the API server's to check.
const ajv: Ajv = new AjvClass({ allErrors: true, strict: false, validateFormats: false });

const statusSchemaOf = (kind: string): Schema => {
  const d = KINDS.find((k) => k.kind === kind)!;
  return (crdFor(d) as Schema).spec.versions[0].schema.openAPIV3Schema.properties.status;
};

/** The fields of `value` a structural schema does not name: what the API server would prune. */
function pruned(value: unknown, schema: Schema, path: string): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => pruned(v, schema.items ?? {}, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    return sub === undefined ? [`${path}.${k}`] : pruned(v, sub, `${path}.${k}`);
  });
}

function assertFits(kind: string, status: unknown, where: string): void {
  const schema = statusSchemaOf(kind);
  const validate = ajv.compile(schema);
  assert.ok(validate(status), `${where}: ${ajv.errorsText(validate.errors)}`);
  assert.deepEqual(pruned(status, schema, 'status'), [], `${where}: fields the API server would prune`);
}

let uid = 0;
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'shop', uid: `uid-${++uid}`, generation: 3, creationTimestamp: `2026-01-01T00:00:${String(uid).padStart(2, '0')}Z`, ...extra });
const resources: Resource[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('orders'), spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('o-1', { labels: { app: 'orders' } }), spec: { address: '10.0.0.1', ports: { http: 8080 } } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: meta('o-2', { labels: { app: 'orders' } }), spec: { address: '10.0.0.2', ports: { http: 8080 } } },
  // The second retry policy on one target is Conflicted; the authorization policy's target does not exist.
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: meta('r-1'), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], attempts: 2 } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'RetryPolicy', metadata: meta('r-2'), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], attempts: 3 } },
  { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: meta('a-1'), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'gone' }], action: 'ALLOW', rules: [{}] } },
];
const of = (kind: string) => resources.filter((r) => r.kind === kind) as never;
const inputs: MeshInputs = {
  revision: 1, meshes: [], services: of('Service'), workloads: of('Workload'), httpRoutes: [], grpcRoutes: [],
  retryPolicies: of('RetryPolicy'), authorizationPolicies: of('AuthorizationPolicy'), trustBundle: 'pem', defaultTrustDomain: 'cluster.local',
};
const view = buildMeshView(inputs);
const synced = { state: 'SYNCED', version: 'v', sent: 'v', acked: 'v', resources: 'all' } as const;
const nacked = { ...synced, state: 'NACKED' as const, nack: { version: 'v', message: 'Cluster x: bad', at: '2026-01-01T00:00:01.000Z' } };
const proxies: ProxyStatus[] = [
  { id: 'o-1.shop', status: 'CONNECTED', kind: 'proxy', peer: '127.0.0.1:1', connectedAt: '2026-01-01T00:00:00.000Z', userAgent: 'sluice-proxy', types: { Listener: synced, Cluster: nacked } },
  { id: 'o-1.shop', status: 'OFFLINE', lastSeen: '2026-01-01T01:00:00.000Z', kind: 'proxy', peer: '127.0.0.1:2', connectedAt: '2026-01-01T00:00:00.000Z', userAgent: 'sluice-proxy', types: { Listener: synced } },
];

describe('CRD status schemas', () => {
  test('every kind with a CRD has a status shape, and every shape a kind', () => {
    assert.deepEqual(Object.keys(STATUS_SHAPES).sort(), KINDS.filter((k) => k.crd).map((k) => k.kind).sort());
  });

  test('the statuses control-plane/status computes for Workloads and policies fit their CRD, with no field pruned', () => {
    const book = new StatusBook();
    book.apply(meshStatus(view), Date.parse('2026-01-02T00:00:00Z'), () => true);
    book.apply(workloadStatus(view, proxies), Date.parse('2026-01-02T00:00:00Z'), (k) => k.startsWith('Workload/'));
    const seen = new Set<string>();
    for (const r of resources.filter((x) => STATUS_SHAPES[x.kind] !== undefined)) {
      const status = book.get(r.kind, r.metadata.namespace, r.metadata.name, r.metadata.uid);
      assert.ok(status !== undefined, `${r.kind}/${r.metadata.name} has a status`);
      assertFits(r.kind, status, `${r.kind}/${r.metadata.name}`);
      seen.add(`${r.kind}:${status.conditions.map((c) => c.reason).join(',')}`);
    }
    // The variety the check saw: a NACKed proxy, a Workload never joined, a conflict, a missing target.
    assert.ok(seen.has('Workload:Nacked,Connected'), [...seen].join(' '));
    assert.ok(seen.has('Workload:NeverConnected,NeverConnected'));
    assert.ok(seen.has('RetryPolicy:Conflicted') && seen.has('RetryPolicy:Accepted') && seen.has('AuthorizationPolicy:TargetNotFound'), [...seen].join(' '));
  });

  test('a status the schema does not allow is caught: a field it does not name, a status outside True/False/Unknown', () => {
    const condition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' };
    assertFits('RetryPolicy', { conditions: [condition] }, 'a plain condition');
    assert.throws(() => assertFits('RetryPolicy', { conditions: [condition], attachedTo: [] }, 'x'), /prune/);
    assert.throws(() => assertFits('RetryPolicy', { conditions: [{ ...condition, status: 'Yes' }] }, 'x'), /status/);
  });
});
