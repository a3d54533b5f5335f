// A resource as the API and the store hold it: Kubernetes-shaped (apiVersion, kind,
// metadata, spec), so the same YAML goes to the file store, etcd and a Kubernetes API
// server. The server owns uid, resourceVersion, generation and creationTimestamp; a
// client may send resourceVersion back to make an update conditional.

export type ObjectMeta = {
  name: string;
  /** Absent for cluster-scoped kinds (Mesh). */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  /** The store revision of the last write to this resource, as a decimal string (etcd's mod_revision). */
  resourceVersion?: string;
  /** Bumped when the spec changes; metadata-only writes leave it. */
  generation?: number;
  creationTimestamp?: string;
};

export type Resource<Spec = unknown> = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  /**
   * Written by the control plane (control-plane/status/), served on GET and list, never
   * stored: one a client sends is ignored, as on a Kubernetes kind with a status subresource.
   */
  status?: unknown;
};

/**
 * A resource type, named as its CRD is: `<plural>.<group>` (`httproutes.gateway.networking.k8s.io`,
 * `workloads.mesh.sluice.dev`), or the plural alone for the core group (`services`).
 */
export type ResourceType = string;
