// What one write does to one stored resource, decided without touching anything: the
// checks a caller's input must pass (INVALID), the preconditions against the resource as
// it stands (NOT_FOUND, ALREADY_EXISTS, CONFLICT), and the metadata the server owns. The
// commit loop runs it for each write of a batch against the state plus the earlier
// writes of the same batch, which is what makes two racing updates with one
// resourceVersion end as one success and one CONFLICT.

import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Resource, ResourceType } from '../api/resource.ts';
import type { Violation } from '../../kinds/schema-kit.ts';
import { StoreError } from './errors.ts';
import type { WatchEvent } from './store.ts';

export type Scope = 'Namespaced' | 'Cluster';
/** The scope of a type, when the caller knows it; undefined: either is accepted. */
export type ScopeOf = (type: ResourceType) => Scope | undefined;

export type WriteOp =
  | { readonly kind: 'create'; readonly type: ResourceType; readonly resource: Resource }
  | { readonly kind: 'update'; readonly type: ResourceType; readonly resource: Resource }
  | { readonly kind: 'delete'; readonly type: ResourceType; readonly namespace: string | undefined; readonly name: string; readonly resourceVersion?: string };

export type Planned = {
  /** Absent when the write changes nothing. */
  readonly event?: WatchEvent;
  /** What the caller gets back. */
  readonly result: Resource;
};

/** The map key of a resource within its type. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace === undefined ? `\0${name}` : `${namespace}\0${name}`;
}

export function describe(type: ResourceType, namespace: string | undefined, name: string): string {
  return namespace === undefined ? `${type} '${name}'` : `${type} '${namespace}/${name}'`;
}

export function checkType(type: unknown): asserts type is ResourceType {
  if (typeof type !== 'string' || type === '') throw invalid('the resource type must be a non-empty string', [{ path: 'type', message: 'is required' }]);
}

/** The namespace a caller passed, against what the type's scope allows. */
export function checkNamespace(type: ResourceType, namespace: unknown, scopeOf: ScopeOf, path = 'namespace'): asserts namespace is string | undefined {
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) {
    throw invalid(`${path} must be a non-empty string when given`, [{ path, message: 'must be a non-empty string' }]);
  }
  const scope = scopeOf(type);
  if (scope === 'Cluster' && namespace !== undefined) throw invalid(`${type} is cluster-scoped: remove the namespace '${namespace}'`, [{ path, message: 'must be absent for a cluster-scoped type' }]);
  if (scope === 'Namespaced' && namespace === undefined) throw invalid(`${type} is namespaced: give a namespace`, [{ path, message: 'is required for a namespaced type' }]);
}

export function checkName(name: unknown, path = 'name'): asserts name is string {
  if (typeof name !== 'string' || name === '') throw invalid(`${path} must be a non-empty string`, [{ path, message: 'is required' }]);
}

export function checkResourceVersion(rv: unknown, path: string): asserts rv is string | undefined {
  if (rv !== undefined && typeof rv !== 'string') throw invalid(`${path} must be a string (the one the store returned), not ${JSON.stringify(rv)}`, [{ path, message: 'must be a string' }]);
}

/**
 * The caller's resource as the store will keep it: a JSON copy (what the journal holds
 * and a reopen loads, so memory never differs from disk, and the caller's object stays
 * theirs), with its name and namespace checked.
 */
export function normalize(type: ResourceType, resource: unknown, scopeOf: ScopeOf): Resource {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) throw invalid('a resource must be an object', [{ path: '', message: 'must be an object' }]);
  const meta = (resource as Resource).metadata;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw invalid('the resource has no metadata', [{ path: 'metadata', message: 'is required (it holds the name)' }]);
  checkName(meta.name, 'metadata.name');
  checkNamespace(type, meta.namespace, scopeOf, 'metadata.namespace');
  checkResourceVersion(meta.resourceVersion, 'metadata.resourceVersion');
  let copy: Resource;
  try {
    copy = JSON.parse(JSON.stringify(resource)) as Resource;
  } catch (err) {
    throw invalid(`the resource cannot be stored as JSON: ${(err as Error).message}`, [{ path: '', message: 'must be JSON' }]);
  }
  return copy;
}

/** `current` is the resource as it stands after every earlier write of the batch. */
export function plan(op: WriteOp, current: Resource | undefined, revision: number, clock: () => number): Planned {
  switch (op.kind) {
    case 'create':
      return planCreate(op.type, op.resource, current, revision, clock);
    case 'update':
      return planUpdate(op.type, op.resource, current, revision);
    case 'delete':
      return planDelete(op, current, revision);
  }
}

function planCreate(type: ResourceType, incoming: Resource, current: Resource | undefined, revision: number, clock: () => number): Planned {
  const { name, namespace } = incoming.metadata;
  if (current !== undefined) throw new StoreError('ALREADY_EXISTS', `${describe(type, namespace, name)} already exists; update it, or delete it first`);
  const { uid: _u, resourceVersion: _r, generation: _g, creationTimestamp: _c, ...given } = incoming.metadata;
  const object = deepFreeze({
    ...incoming,
    metadata: { ...given, uid: randomUUID(), resourceVersion: String(revision), generation: 1, creationTimestamp: new Date(clock()).toISOString() },
  });
  return { event: Object.freeze({ type: 'ADDED', resourceType: type, object, revision }), result: object };
}

function planUpdate(type: ResourceType, incoming: Resource, current: Resource | undefined, revision: number): Planned {
  const { name, namespace, resourceVersion } = incoming.metadata;
  const what = describe(type, namespace, name);
  if (current === undefined) throw new StoreError('NOT_FOUND', `${what} does not exist; create it first`);
  checkPrecondition(what, resourceVersion, current);
  const generation = (current.metadata.generation ?? 1) + (isDeepStrictEqual(incoming.spec, current.spec) ? 0 : 1);
  const next = {
    ...incoming,
    metadata: { ...incoming.metadata, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp, generation, resourceVersion: current.metadata.resourceVersion },
  };
  if (isDeepStrictEqual(next, current)) return { result: current };
  next.metadata.resourceVersion = String(revision);
  const object = deepFreeze(next);
  return { event: Object.freeze({ type: 'MODIFIED', resourceType: type, object, revision }), result: object };
}

function planDelete(op: Extract<WriteOp, { kind: 'delete' }>, current: Resource | undefined, revision: number): Planned {
  const what = describe(op.type, op.namespace, op.name);
  if (current === undefined) throw new StoreError('NOT_FOUND', `${what} does not exist`);
  checkPrecondition(what, op.resourceVersion, current);
  const object = deepFreeze({ ...current, metadata: { ...current.metadata, resourceVersion: String(revision) } });
  return { event: Object.freeze({ type: 'DELETED', resourceType: op.type, object, revision }), result: current };
}

function checkPrecondition(what: string, expected: string | undefined, current: Resource): void {
  if (expected === undefined || expected === current.metadata.resourceVersion) return;
  throw new StoreError('CONFLICT', `${what} has changed: you sent resourceVersion ${JSON.stringify(expected)}, it is now ${current.metadata.resourceVersion}; get it again and reapply your change`);
}

function invalid(message: string, violations: Violation[]): StoreError {
  return new StoreError('INVALID', message, violations);
}

/** Objects the store hands out are frozen all the way down: one copy serves every reader and watcher, and none can change it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
