// CustomResourceDefinitions for Sluice's own kinds, generated from the same schemas the API
// validates with, so a kind's CRD can never drift from what the file store accepts. The
// JSON Schema becomes a Kubernetes structural schema: closed objects lose
// additionalProperties (Kubernetes prunes unknown fields instead), maps become
// additionalProperties, an int-or-string becomes x-kubernetes-int-or-string.
//
// Each CRD has the status subresource: the control plane writes the conditions of
// control-plane/status/ there (a user's `kubectl apply` never overwrites them, and the
// control plane's status write never bumps metadata.generation). Its schema is below, one
// row per kind, for what control-plane/status/ computes: a field missing here would be
// pruned by the API server from every status write.

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

/** metav1.Condition, as control-plane/status/conditions.ts writes it; one per type (a list-map keyed by type, as Gateway API's). */
const CONDITIONS: Schema = {
  type: 'array',
  description: 'The conditions sluice-cp computed for this resource: one per type.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  maxItems: 8,
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string', maxLength: 316, pattern: '^[A-Za-z][A-Za-z0-9_]*$' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
      message: { type: 'string', maxLength: 32768 },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
    },
  },
};

/** What a kind's status holds besides its conditions, and the condition `kubectl get` shows (control-plane/status/). */
type StatusShape = { readonly fields: Record<string, Schema>; readonly condition?: string };

const POLICY_STATUS: StatusShape = { fields: {}, condition: 'Accepted' };

/** One row per kind with a CRD; crd.test.ts fails when a kind has none. */
export const STATUS_SHAPES: Readonly<Record<string, StatusShape>> = {
  // No condition is computed for a Mesh yet; the subresource is there for when one is.
  Mesh: { fields: {} },
  // workload-status.ts: the proxies running it and the Services it serves.
  Workload: {
    condition: 'InSync',
    fields: {
      proxies: {
        type: 'array',
        description: 'Every proxy that joined as this Workload since the control plane started.',
        items: {
          type: 'object',
          required: ['id', 'state', 'since'],
          properties: {
            id: { type: 'string' },
            state: { type: 'string', enum: ['SYNCED', 'STALE', 'NACKED', 'OFFLINE'] },
            since: { type: 'string', format: 'date-time' },
            nack: { type: 'string' },
          },
        },
      },
      services: { type: 'array', description: 'The Services that select it, as Service/<name>.', items: { type: 'string' } },
    },
  },
  RetryPolicy: POLICY_STATUS,
  CircuitBreakerPolicy: POLICY_STATUS,
  FaultInjectionPolicy: POLICY_STATUS,
  LoadBalancingPolicy: POLICY_STATUS,
  AuthorizationPolicy: POLICY_STATUS,
  RequestAuthentication: POLICY_STATUS,
};

export function statusSchema(kind: string): Schema {
  const shape = STATUS_SHAPES[kind];
  if (shape === undefined) throw new Error(`control-plane/api/crd.ts: no status shape for ${kind}: add its row to STATUS_SHAPES`);
  return { type: 'object', description: 'Written by sluice-cp through the status subresource; never by a user.', properties: { conditions: CONDITIONS, ...shape.fields } };
}

export function crdFor(kind: KindDescriptor<unknown>): Schema {
  const status = STATUS_SHAPES[kind.kind]?.condition;
  const printerColumns = [
    ...kind.columns.filter((c) => c.jsonPath !== undefined).map((c) => ({ name: title(c.name), type: c.type ?? 'string', jsonPath: c.jsonPath })),
    ...(status === undefined ? [] : [{ name: status, type: 'string', jsonPath: `.status.conditions[?(@.type=="${status}")].status`, description: `The ${status} condition sluice-cp wrote` }]),
  ];
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
              properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, spec: structural(kind.spec as unknown as Schema), status: statusSchema(kind.kind) },
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: [...printerColumns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
        },
      ],
    },
  };
}

/**
 * Join tokens (control-plane/ca/join-tokens.ts) and zone tokens (control-plane/zone/tokens.ts)
 * are the control plane's own records, not API kinds: with --store kubernetes they are kept
 * as JoinToken and ZoneToken objects, written only by sluice-cp (their hash, what they are
 * for, their expiry and use; never the secret), so their schema is left open and they have
 * no status subresource (a use is a conditional update).
 */
function tokenCrd(kind: string, plural: string, description: string): Schema {
  const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.ca.sluice.dev`, labels: { 'app.kubernetes.io/part-of': 'sluice' } },
    spec: {
      group: 'ca.sluice.dev',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), categories: ['sluice'] },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              description,
              type: 'object',
              properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, spec: open, status: open },
            },
          },
          additionalPrinterColumns: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
        },
      ],
    },
  };
}

export function joinTokenCrd(): Schema {
  return tokenCrd('JoinToken', 'jointokens', 'A join token sluice-cp minted (sluicectl token create): its hash, the Workload it is for, its expiry and its use. Written by sluice-cp only.');
}

/** Kept in sluice-system by a global control plane (sluice-cp --role global). */
export function zoneTokenCrd(): Schema {
  return tokenCrd('ZoneToken', 'zonetokens', 'A zone token a global sluice-cp minted (sluicectl zone token create): its hash, the zone it is for, its expiry and its use. Written by sluice-cp only.');
}

/** File name -> YAML text, for every kind that gets a CRD (kubebuilder's `<group>_<plural>.yaml`), and the join and zone tokens'. */
export function crdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of KINDS.filter((k) => k.crd)) {
    const text = stringify(crdFor(kind), { lineWidth: 0 });
    files.set(`${kind.group}_${kind.plural}.yaml`, `# Generated from control-plane/api/kinds by \`npm run gen:crds\`; do not edit.\n${text}`);
  }
  files.set('ca.sluice.dev_jointokens.yaml', `# Generated by \`npm run gen:crds\` (control-plane/api/crd.ts, joinTokenCrd); do not edit.\n${stringify(joinTokenCrd(), { lineWidth: 0 })}`);
  files.set('ca.sluice.dev_zonetokens.yaml', `# Generated by \`npm run gen:crds\` (control-plane/api/crd.ts, zoneTokenCrd); do not edit.\n${stringify(zoneTokenCrd(), { lineWidth: 0 })}`);
  return files;
}

/**
 * Everything `npm run gen:crds` writes to deploy/crds/: the CRDs, and the kustomization
 * that lists them (deploy/kubernetes/base takes the folder as a base, so a new kind's CRD
 * is installed without anyone editing a list).
 */
export function generatedFiles(): Map<string, string> {
  const files = crdFiles();
  const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [...files.keys()] };
  files.set('kustomization.yaml', `# Generated by \`npm run gen:crds\`; do not edit.\n${stringify(kustomization, { lineWidth: 0 })}`);
  return files;
}

/** `TRUST DOMAIN` -> `Trust Domain`, as kubectl shows printer columns. */
function title(name: string): string {
  return name.toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase());
}
