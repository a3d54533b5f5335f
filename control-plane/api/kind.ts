// What the control plane knows about one resource kind, in one place (Kuma's resource
// descriptor): its names, scope and API path, the schema of its spec (typebox, from which
// the TS type, the ajv validation and the CRD's OpenAPI schema all come), the rules a
// schema cannot say, and the columns `sluicectl get` prints.

import { createRequire } from 'node:module';
import type { Ajv, ValidateFunction } from 'ajv';
import type { Static, TSchema } from 'typebox';
import type { Resource } from './resource.ts';

export type Add = (path: string, message: string) => void;

/** A column of `sluicectl get`; `jsonPath` (when the value is one field) also goes to the CRD's additionalPrinterColumns. */
export type Column<Spec> = {
  readonly name: string;
  readonly value: (r: Resource<Spec>) => string;
  readonly jsonPath?: string;
  readonly type?: 'string' | 'integer' | 'date';
};

export type KindDescriptor<Spec = unknown> = {
  /** '' for the core group (Service). */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  /** The schema of `spec`. Every object in it is closed: an unknown field is an error. */
  readonly spec: TSchema;
  readonly validateSpec: ValidateFunction<Spec>;
  /**
   * Rules the schema cannot say, run only on a spec the schema accepted; paths start at
   * `spec`. Only what one document shows: a reference to another resource is resolved
   * later (a route to a Service not yet applied is accepted, as Kubernetes does).
   */
  readonly check?: (spec: Spec, add: Add, resource: Resource<Spec>) => void;
  /** Top-level fields besides apiVersion, kind, metadata and spec that documents may carry (Service's status). */
  readonly extraFields?: readonly string[];
  /** Whether deploy/crds/ gets a CRD for it: Sluice's own kinds; Gateway API and core kinds have theirs upstream. */
  readonly crd: boolean;
  readonly columns: readonly Column<Spec>[];
  /** One-line summary for `sluicectl describe` and the CRD. */
  readonly description: string;
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
export function defineKind<S extends TSchema>(d: Omit<KindDescriptor<Static<S>>, 'spec' | 'validateSpec'> & { readonly spec: S }): KindDescriptor<Static<S>> {
  let compiled: ValidateFunction<Static<S>> | undefined;
  const descriptor = { ...d } as unknown as KindDescriptor<Static<S>>;
  Object.defineProperty(descriptor, 'validateSpec', {
    enumerable: true,
    get: () => (compiled ??= (ajv ??= newAjv()).compile<Static<S>>(d.spec)),
  });
  return Object.freeze(descriptor);
}

export function apiVersionOf(d: KindDescriptor<unknown>): string {
  return d.group === '' ? d.version : `${d.group}/${d.version}`;
}

/** The store's name for the type: `<plural>.<group>`, or the plural alone for core. */
export function resourceTypeOf(d: KindDescriptor<unknown>): string {
  return d.group === '' ? d.plural : `${d.plural}.${d.group}`;
}
