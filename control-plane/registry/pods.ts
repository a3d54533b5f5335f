// Pods behind a Service, from what Kubernetes already knows: the EndpointSlices its
// endpoint controller writes (which pod, which address, ready or not, the Service's port
// numbers), the Pods (their service account: the identity a caller expects), and the
// Nodes (their topology.kubernetes.io/zone label: the pod's zone). They join the
// Workloads (VMs) a Service selects in the mesh view, so one Service can mix both.
//
// Only ready endpoints of pods the control plane has seen are instances (a slice endpoint without `ready` counts as ready, as
// the API says). FQDN slices and endpoints that are not pods are left out: the mesh needs
// an identity for each instance, and only a pod has one.

import type { Resource } from '../api/resource.ts';

/** One ready pod behind a Service. */
export type PodInstance = {
  readonly pod: string;
  readonly namespace: string;
  readonly address: string;
  /** By the Service port's name ('' for an unnamed one): the port the pod takes it on. */
  readonly ports: ReadonlyMap<string, number>;
  readonly zone: string | undefined;
  readonly serviceAccount: string;
};

type Endpoint = {
  readonly addresses?: readonly string[];
  readonly conditions?: { readonly ready?: boolean | null };
  readonly nodeName?: string;
  readonly zone?: string;
  readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
};
export type EndpointSliceResource = Resource & { readonly addressType?: string; readonly endpoints?: readonly Endpoint[] | null; readonly ports?: readonly { readonly name?: string; readonly port?: number; readonly protocol?: string }[] | null };
export type PodResource = Resource<{ readonly serviceAccountName?: string; readonly nodeName?: string }>;
export type NodeResource = Resource;

export type RegistryInputs = {
  readonly endpointSlices: readonly EndpointSliceResource[];
  readonly pods: readonly PodResource[];
  readonly nodes: readonly NodeResource[];
};

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** By Service `<namespace>/<name>`: its ready pods, by namespace/name, one each (a pod in two slices of a dual-stack Service is listed for each address). */
export function podInstances(inputs: RegistryInputs): Map<string, PodInstance[]> {
  const pods = new Map(inputs.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  const zones = new Map(inputs.nodes.map((n) => [n.metadata.name, n.metadata.labels?.[ZONE_LABEL]]));
  const out = new Map<string, PodInstance[]>();
  for (const slice of inputs.endpointSlices) {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const ns = slice.metadata.namespace;
    if (service === undefined || ns === undefined || (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6')) continue;
    const ports = new Map<string, number>();
    for (const p of slice.ports ?? []) if (typeof p.port === 'number' && (p.protocol ?? 'TCP') === 'TCP') ports.set(p.name ?? '', p.port);
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false || e.targetRef?.kind !== 'Pod' || e.targetRef.name === undefined) continue;
      const address = e.addresses?.[0];
      if (address === undefined) continue;
      const pod = pods.get(`${e.targetRef.namespace ?? ns}/${e.targetRef.name}`);
      // Not seen yet: without its service account, callers would expect the wrong identity.
      if (pod === undefined) continue;
      const nodeName = e.nodeName ?? pod.spec?.nodeName;
      const instance: PodInstance = {
        pod: e.targetRef.name,
        namespace: e.targetRef.namespace ?? ns,
        address,
        ports,
        zone: (nodeName === undefined ? undefined : zones.get(nodeName)) ?? e.zone,
        serviceAccount: pod.spec?.serviceAccountName ?? 'default',
      };
      const k = `${ns}/${service}`;
      const list = out.get(k);
      if (list === undefined) out.set(k, [instance]);
      else list.push(instance);
    }
  }
  for (const list of out.values()) list.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : a.address < b.address ? -1 : 1));
  return out;
}
