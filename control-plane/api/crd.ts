// CustomResourceDefinitions for Sluice's own kinds, generated from the same schemas the API
// validates with, so a kind's CRD can never drift from what the file store accepts. The
// JSON Schema becomes a Kubernetes structural schema: closed objects lose
// additionalProperties (Kubernetes prunes unknown fields instead), maps become
// additionalProperties, an int-or-string becomes x-kubernetes-int-or-string.

import { stringify } from 'yaml';
import { KINDS } from './descriptors.ts';
import type { KindDescriptor } from './kind.ts';

type Schema = Record<string, unknown>;

const KEPT = ['type', 'description', 'required', 'enum', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'format', 'default', 'nullable'];

/** A JSON Schema (typebox) as a structural OpenAPI v3 schema. */
export function structural(s: Schema): Schema {
  const out: Schema = {};
  const anyOf = s.anyOf as Schema[] | undefined;
  if (anyOf !== undefined) {
    const types = anyOf.map((a) => a.type).sort();
    if (types.length === 2 && types[0] === 'integer' && types[1] === 'string') return { 'x-kubernetes-int-or-string': true };
    throw new Error(`no structural form for anyOf of ${JSON.stringify(types)}: model the field without a union`);
  }
  for (const key of KEPT) if (s[key] !== undefined) out[key] = s[key];
  if (s.const !== undefined) out.enum = [s.const];
  const values = (out.enum as unknown[] | undefined) ?? [];
  if (out.type === undefined && values.length > 0) out.type = typeof values[0] === 'number' ? (values.every(Number.isInteger) ? 'integer' : 'number') : typeof values[0];
  if (s.properties !== undefined) {
    out.type = 'object';
    out.properties = Object.fromEntries(Object.entries(s.properties as Record<string, Schema>).map(([k, v]) => [k, structural(v)]));
  }
  const pattern = s.patternProperties as Record<string, Schema> | undefined;
  if (pattern !== undefined) out.additionalProperties = structural(Object.values(pattern)[0]);
  else if (typeof s.additionalProperties === 'object') out.additionalProperties = structural(s.additionalProperties as Schema);
  if (s.items !== undefined) out.items = structural(s.items as Schema);
  if (out.type === 'object' && out.properties === undefined && out.additionalProperties === undefined) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

export function crdFor(kind: KindDescriptor<unknown>): Schema {
  const printerColumns = kind.columns.filter((c) => c.jsonPath !== undefined).map((c) => ({ name: title(c.name), type: c.type ?? 'string', jsonPath: c.jsonPath }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${kind.group}`, labels: { 'app.kubernetes.io/part-of': 'sluice' } },
    spec: {
      group: kind.group,
      names: { kind: kind.kind, listKind: `${kind.kind}List`, plural: kind.plural, singular: kind.singular, ...(kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}), categories: ['sluice'] },
      scope: kind.scope,
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              description: kind.description,
              type: 'object',
              required: ['spec'],
              properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, spec: structural(kind.spec as unknown as Schema) },
            },
          },
          additionalPrinterColumns: [...printerColumns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
        },
      ],
    },
  };
}

/** File name -> YAML text, for every kind that gets a CRD: kubebuilder's `<group>_<plural>.yaml`. */
export function crdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of KINDS.filter((k) => k.crd)) {
    const text = stringify(crdFor(kind), { lineWidth: 0 });
    files.set(`${kind.group}_${kind.plural}.yaml`, `# Generated from control-plane/api/kinds by \`npm run gen:crds\`; do not edit.\n${text}`);
  }
  return files;
}

/** `TRUST DOMAIN` -> `Trust Domain`, as kubectl shows printer columns. */
function title(name: string): string {
  return name.toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase());
}
