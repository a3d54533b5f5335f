// Where each store type lives in the Kubernetes API: every kind the API serves (our CRDs,
// core Services, Gateway API routes), the join-token records (a CRD of their own), and
// the read-only types the registry follows (Pods, EndpointSlices, Nodes). A new type the
// store keeps in Kubernetes is a new row.

import { KINDS } from '../api/descriptors.ts';
import { resourceTypeOf } from '../api/kind.ts';
import type { ResourceType } from '../api/resource.ts';

export type KubeType = {
  /** The store's name for it (`workloads.mesh.sluice.dev`, `services`). */
  readonly type: ResourceType;
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Status is written through /status only; the main resource ignores it (and a status-only change is no new revision here). */
  readonly statusSubresource: boolean;
  /** False: followed for the registry, never written (Pods, EndpointSlices, Nodes belong to Kubernetes). */
  readonly writable: boolean;
  /** Whether the control plane writes its computed status there (not on core Services: their status is Kubernetes'). */
  readonly ownStatus: boolean;
};

export const POD_TYPE = 'pods';
export const ENDPOINT_SLICE_TYPE = 'endpointslices.discovery.k8s.io';
export const NODE_TYPE = 'nodes';

export const KUBE_TYPES: readonly KubeType[] = [
  // Every kind of the API: Sluice's CRDs (status subresource), core Services, Gateway API routes.
  // Core Services are Kubernetes' own (kubectl applies them, and sluice-cp's ClusterRole only
  // reads them, so that it cannot change any Service of the cluster): read, never written.
  ...KINDS.map((k) => ({ type: resourceTypeOf(k), group: k.group, version: k.version, kind: k.kind, plural: k.plural, namespaced: k.scope === 'Namespaced', statusSubresource: true, writable: k.group !== '', ownStatus: k.group !== '' })),
  // Join and zone tokens: their status (used, revoked) is written by update with a resourceVersion precondition, so no subresource.
  { type: 'jointokens.ca.sluice.dev', group: 'ca.sluice.dev', version: 'v1', kind: 'JoinToken', plural: 'jointokens', namespaced: true, statusSubresource: false, writable: true, ownStatus: false },
  { type: 'zonetokens.ca.sluice.dev', group: 'ca.sluice.dev', version: 'v1', kind: 'ZoneToken', plural: 'zonetokens', namespaced: true, statusSubresource: false, writable: true, ownStatus: false },
  // The registry: which pods run behind a Service, where, and as whom.
  { type: POD_TYPE, group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, statusSubresource: true, writable: false, ownStatus: false },
  { type: ENDPOINT_SLICE_TYPE, group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, statusSubresource: false, writable: false, ownStatus: false },
  { type: NODE_TYPE, group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, statusSubresource: true, writable: false, ownStatus: false },
];

export function kubeTypeOf(type: ResourceType): KubeType | undefined {
  return KUBE_TYPES.find((t) => t.type === type);
}

export function apiVersionOfType(t: KubeType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** /api/v1/[namespaces/NS/]PLURAL or /apis/GROUP/VERSION/[namespaces/NS/]PLURAL, then /NAME and /SUBRESOURCE when given. */
export function kubePath(t: KubeType, namespace?: string, name?: string, subresource?: string): string {
  const base = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${base}${ns}/${t.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}${subresource === undefined ? '' : `/${subresource}`}`;
}
