// The verbs on resources: list, get, create, update, delete, each a short path from the
// request to the store. Validation runs before any write (422 with every field); the
// store decides existence and conflicts (404/409), so a race is settled in one place.

import type { Resource } from '../api/resource.ts';
import { apiVersionOf, resourceTypeOf, type KindDescriptor } from '../api/kind.ts';
import { validateResource } from '../api/validate.ts';
import { notCarried, type ControlPlaneFacts } from '../api/carried.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';
import type { Target } from './paths.ts';
import { fail } from './status.ts';

/** Fields the server owns: what a client sends for them is ignored (resourceVersion is a precondition, not a value; status, below). */
const SERVER_OWNED = ['uid', 'generation', 'creationTimestamp'] as const;

export type ResourceApi = {
  list(target: Target): Promise<{ apiVersion: string; kind: string; metadata: { resourceVersion: string }; items: readonly Resource[] }>;
  get(target: Target & { name: string }): Promise<Resource>;
  create(target: Target, body: unknown, dryRun: boolean): Promise<Resource>;
  update(target: Target & { name: string }, body: unknown, dryRun: boolean): Promise<Resource>;
  remove(target: Target & { name: string }, resourceVersion?: string): Promise<Resource>;
};

/** The status the control plane computed for a stored resource (control-plane/status/); undefined: none yet. */
export type StatusOf = (r: Resource) => unknown;

export function resourceApi(store: ResourceStore, facts: ControlPlaneFacts, statusOf: StatusOf = () => undefined): ResourceApi {
  // The stored resource never holds a status (a client's is dropped): the computed one is laid on as it is served.
  const withStatus = (r: Resource): Resource => {
    const status = statusOf(r);
    if (status !== undefined) return { ...r, status };
    if (r.status === undefined) return r;
    const { status: _stale, ...rest } = r;
    return rest;
  };
  return {
    async list(target) {
      const { items, revision } = await store.list(resourceTypeOf(target.kind), { namespace: target.namespace });
      return { apiVersion: apiVersionOf(target.kind), kind: `${target.kind.kind}List`, metadata: { resourceVersion: String(revision) }, items: items.map(withStatus) };
    },
    get: async (target) => withStatus(await store.get(resourceTypeOf(target.kind), target.namespace, target.name)),
    async create(target, body, dryRun) {
      if (target.kind.scope === 'Namespaced' && target.namespace === undefined) fail('BAD_REQUEST', `${target.kind.kind} is namespaced: POST to a namespace's collection`);
      const resource = checked(target, body, facts);
      if (dryRun) {
        const exists = await store.get(resourceTypeOf(target.kind), resource.metadata.namespace, resource.metadata.name).then(
          () => true,
          (err: unknown) => {
            if (isStoreError(err, 'NOT_FOUND')) return false;
            throw err;
          },
        );
        if (exists) fail('ALREADY_EXISTS', `${target.kind.kind} "${resource.metadata.name}" already exists`, { kind: target.kind.kind, name: resource.metadata.name });
        return resource;
      }
      return store.create(resourceTypeOf(target.kind), resource);
    },
    async update(target, body, dryRun) {
      const resource = checked(target, body, facts);
      if (resource.metadata.name !== target.name) fail('BAD_REQUEST', `the body names "${resource.metadata.name}" but the path names "${target.name}"`);
      if (dryRun) {
        const live = await store.get(resourceTypeOf(target.kind), target.namespace, target.name);
        const wanted = resource.metadata.resourceVersion;
        if (wanted !== undefined && wanted !== live.metadata.resourceVersion) {
          fail('CONFLICT', `${target.kind.kind} "${target.name}" was modified: it is at resourceVersion ${live.metadata.resourceVersion}, not ${wanted}; get it again and reapply`);
        }
        return { ...resource, metadata: { ...resource.metadata, uid: live.metadata.uid, creationTimestamp: live.metadata.creationTimestamp, resourceVersion: live.metadata.resourceVersion } };
      }
      return store.update(resourceTypeOf(target.kind), resource);
    },
    remove: (target, resourceVersion) => store.delete(resourceTypeOf(target.kind), target.namespace, target.name, { resourceVersion }),
  };
}

/**
 * The body as a valid resource of the path's kind and namespace that this control plane's
 * proxies will enforce, or a 400/422 that says why (api/carried.ts).
 */
function checked(target: Target, body: unknown, facts: ControlPlaneFacts): Resource {
  const kind: KindDescriptor<unknown> = target.kind;
  const doc = body as Partial<Resource> | null;
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    if (doc.kind !== undefined && doc.kind !== kind.kind) fail('BAD_REQUEST', `the body is a ${String(doc.kind)} but the path is for ${kind.kind}`);
    if (doc.apiVersion !== undefined && doc.apiVersion !== apiVersionOf(kind) && doc.kind === kind.kind) {
      fail('BAD_REQUEST', `the body's apiVersion is ${String(doc.apiVersion)} but the path serves ${apiVersionOf(kind)}`);
    }
    const ns = (doc.metadata as { namespace?: unknown } | undefined)?.namespace;
    if (target.namespace !== undefined && ns !== undefined && ns !== target.namespace) {
      fail('BAD_REQUEST', `the body's namespace "${String(ns)}" does not match the path's "${target.namespace}"`);
    }
  }
  const result = validateResource(body, target.namespace);
  const name = (doc as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  const violations = result.ok ? notCarried(result.resource, facts) : result.violations;
  if (!result.ok || violations.length > 0) {
    const shown = typeof name === 'string' ? `${kind.kind} "${name}"` : `the ${kind.kind}`;
    const what = result.ok ? "cannot be accepted: this control plane's proxies would not enforce it as written" : "is invalid";
    return fail('INVALID', `${shown} ${what}: ${violations.length === 1 ? '1 problem' : `${violations.length} problems`}`, { kind: kind.kind, name: typeof name === 'string' ? name : undefined, violations });
  }
  const metadata = { ...result.resource.metadata };
  for (const field of SERVER_OWNED) delete metadata[field];
  // Status is the control plane's to write (control-plane/status/): a client's is ignored,
  // as Kubernetes ignores it on a kind with a status subresource, so a resource read back
  // with `-o yaml` applies again unchanged.
  const { status: _ignored, ...resource } = result.resource;
  return { ...resource, metadata };
}
