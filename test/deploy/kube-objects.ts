// What the deploy tests share: rendering a kustomization with `kubectl kustomize`, and
// checking an object against the Kubernetes OpenAPI schemas as kubernetes-models (and
// @kubernetes-models/gateway-api) compiled them.
//
// A model's validate() checks types, formats, enums and required fields, but Kubernetes'
// schemas do not close their objects, so it passes a misspelled field (`replicaz: 3`) that
// the API server would refuse (kubectl's strict field validation) or prune. unknownFields()
// closes that gap: the compiled validator reads every field its schema names, so it runs on
// a Proxy that records each read, and a field never read is one the schema does not know.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

export const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
export const kubectlSkip = kubectl ? false : 'kubectl is not installed (Debian package kubernetes-client; .ci/run installs it)';

/** `kubectl kustomize DIR` as objects; throws with kubectl's words when it cannot render. */
export function render(dir: string): KubeObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed (${r.status}): ${r.stderr}`);
  return parseDocuments(r.stdout, `kubectl kustomize ${dir}`);
}

export function parseDocuments(text: string, where: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${where}: document ${i}: ${doc.errors[0].message}`);
    const o = doc.toJS() as KubeObject | null;
    return o === null ? [] : [o];
  });
}

type ModelClass = { new (data: unknown): { validate(): void }; prototype: { validate(this: unknown): void } };

/** The model of apiVersion/kind: kubernetes-models for Kubernetes' own groups, the Gateway API package for its. */
export async function modelOf(apiVersion: string, kind: string): Promise<ModelClass> {
  const spec = apiVersion.startsWith('gateway.networking.k8s.io/') ? `@kubernetes-models/gateway-api/${apiVersion}` : `kubernetes-models/${apiVersion}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`no schema for apiVersion ${apiVersion} (${spec}): ${(err as Error).message}`);
  }
  const model = mod[kind] as ModelClass | undefined;
  if (typeof model !== 'function') throw new Error(`no schema for ${kind} in ${apiVersion}`);
  return model;
}

/** Every violation of the object's OpenAPI schema, and every field the schema does not name, as `<Kind>/<name>: ...`. */
export async function schemaErrors(o: KubeObject): Promise<string[]> {
  const where = `${o.kind}/${o.metadata?.name}`;
  let Model: ModelClass;
  try {
    Model = await modelOf(o.apiVersion, o.kind);
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  const errors: string[] = [];
  try {
    new Model(o).validate();
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
  const isCrd = o.apiVersion === 'apiextensions.k8s.io/v1' && o.kind === 'CustomResourceDefinition';
  for (const path of unknownFields(o, (tracked) => Model.prototype.validate.call(tracked))) {
    // The compiled JSONSchemaProps validator does not descend into the (recursive) schema,
    // and the compiled column schema lost its `description` field: checked below instead.
    if (isCrd && (/^spec\.versions\[\d+\]\.schema\.openAPIV3Schema\./.test(path) || /^spec\.versions\[\d+\]\.additionalPrinterColumns\[\d+\]\.description$/.test(path))) continue;
    errors.push(`${where}: ${path} is not a field of ${o.apiVersion} ${o.kind}`);
  }
  if (isCrd) {
    for (const [i, v] of ((o.spec?.versions ?? []) as { schema?: { openAPIV3Schema?: unknown } }[]).entries()) {
      errors.push(...jsonSchemaPropsErrors(v.schema?.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`).map((e) => `${where}: ${e}`));
      for (const [j, c] of ((o.spec.versions[i].additionalPrinterColumns ?? []) as Record<string, unknown>[]).entries()) {
        if (c.description !== undefined && typeof c.description !== 'string') errors.push(`${where}: spec.versions[${i}].additionalPrinterColumns[${j}].description must be a string`);
      }
    }
  }
  return errors;
}

/** The fields of apiextensions.k8s.io/v1 JSONSchemaProps, read from kubernetes-models' own declaration of it. */
const JSON_SCHEMA_PROPS: ReadonlySet<string> = new Set(
  [...readFileSync(new URL('apiextensions.k8s.io/v1/JSONSchemaProps.d.ts', import.meta.resolve('kubernetes-models')), 'utf8').matchAll(/^\s*"([$\w-]+)"\?:/gm)].map((m) => m[1]),
);

/** A CRD's schema, walked as JSONSchemaProps: every key one of its fields, every sub-schema likewise. */
export function jsonSchemaPropsErrors(s: unknown, path: string): string[] {
  if (JSON_SCHEMA_PROPS.size < 30) throw new Error(`read only ${JSON_SCHEMA_PROPS.size} JSONSchemaProps fields from kubernetes-models: its declaration file changed shape`);
  if (s === undefined) return [`${path} is missing`];
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return [`${path} must be an object`];
  const out: string[] = [];
  const schema = s as Record<string, unknown>;
  for (const [k, v] of Object.entries(schema)) {
    const p = `${path}.${k}`;
    if (!JSON_SCHEMA_PROPS.has(k)) out.push(`${p} is not a field of JSONSchemaProps`);
    else if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      for (const [name, sub] of Object.entries((v ?? {}) as Record<string, unknown>)) out.push(...jsonSchemaPropsErrors(sub, `${p}.${name}`));
    } else if (k === 'items') out.push(...(Array.isArray(v) ? v.flatMap((sub, i) => jsonSchemaPropsErrors(sub, `${p}[${i}]`)) : jsonSchemaPropsErrors(v, p)));
    else if ((k === 'additionalProperties' || k === 'additionalItems') && typeof v !== 'boolean') out.push(...jsonSchemaPropsErrors(v, p));
    else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') out.push(...(v as unknown[]).flatMap((sub, i) => jsonSchemaPropsErrors(sub, `${p}[${i}]`)));
    else if (k === 'not') out.push(...jsonSchemaPropsErrors(v, p));
  }
  return out;
}

/** The paths of `value` that `validate` never read (see the top of this file). */
export function unknownFields(value: unknown, validate: (tracked: unknown) => void): string[] {
  const read = new Set<string>();
  const track = (v: unknown, path: string): unknown => {
    if (v === null || typeof v !== 'object') return v;
    return new Proxy(v as object, {
      get(target, key, receiver) {
        const child = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
        const p = Array.isArray(target) ? `${path}[${key}]` : `${path}.${key}`;
        read.add(p);
        return track(child, p);
      },
    });
  };
  try {
    validate(track(value, ''));
  } catch {
    // Violations are schemaErrors' to report: here only what was read counts.
  }
  const unknown: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (v === null || typeof v !== 'object') return;
    for (const [k, child] of Object.entries(v)) {
      const p = Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`;
      if (!read.has(p)) unknown.push(p.slice(1));
      else walk(child, p);
    }
  };
  walk(value, '');
  return unknown;
}
