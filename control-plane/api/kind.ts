// What the control plane knows about one resource kind, in one place (Kuma's resource
// descriptor): its names, scope and columns (kind-names.ts, all the CLI loads), the schema
// of its spec (typebox, from which the TS type, the ajv validation and the CRD's OpenAPI
// schema all come), and the rules a schema cannot say.

import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import type { Static, TSchema } from 'typebox';
import type { KindNames } from './kind-names.ts';
import type { Resource } from './resource.ts';

export type Add = (path: string, message: string) => void;

export type { Column } from './kind-names.ts';
export { apiVersionOf, resourceTypeOf } from './kind-names.ts';

export type KindDescriptor<Spec = unknown> = KindNames<Spec> & {
  /** The schema of `spec`. Every object in it is closed: an unknown field is an error. */
  readonly spec: TSchema;
  readonly validateSpec: ValidateFunction<Spec>;
  /**
   * Rules the schema cannot say, run only on a spec the schema accepted; paths start at
   * `spec`. Only what one document shows: a reference to another resource is resolved
   * later (a route to a Service not yet applied is accepted, as Kubernetes does).
   */
  readonly check?: (spec: Spec, add: Add, resource: Resource<Spec>) => void;
};

/** `verbose` puts the failing value and its schema on each error (schema-kit reads them). */
let ajv: Ajv | undefined;

/** ajv (60 modules) is required with the first validator, so naming a kind never loads it. */
function newAjv(): Ajv {
  const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  return new AjvClass({ allErrors: true, strict: true, verbose: true });
}

/**
 * The spec's validator is compiled on first use, not when the kind is defined: a process
 * that only names kinds (`sluicectl get`, the xDS generators) never pays for the eleven
 * compilations. Compiled at most once per kind.
 */
export function defineKind<S extends TSchema>(names: KindNames<Static<S>>, schema: { readonly spec: S; readonly check?: KindDescriptor<Static<S>>['check'] }): KindDescriptor<Static<S>> {
  let compiled: ValidateFunction<Static<S>> | undefined;
  const descriptor = { ...names, ...schema } as unknown as KindDescriptor<Static<S>>;
  Object.defineProperty(descriptor, 'validateSpec', {
    enumerable: true,
    get: () => (compiled ??= (ajv ??= newAjv()).compile<Static<S>>(schema.spec)),
  });
  return Object.freeze(descriptor);
}

