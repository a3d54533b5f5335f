// Validation of one resource document: the envelope (apiVersion, kind, metadata), then its
// kind's spec schema, then its kind's semantic rules. Every violation is collected with
// its field path (`spec.rules[0].backendRefs[1].port`); nothing stops at the first one.

import Type from 'typebox';
import { Ajv } from 'ajv';
import { closed, describeValue, didYouMean, Opt, structuralViolation, type Violation } from '../../kinds/schema-kit.ts';
import type { Resource } from './resource.ts';
import { apiVersionOf, type KindDescriptor } from './kind.ts';
import { KINDS } from './descriptors.ts';

/** DNS-1123 subdomain: what Kubernetes requires of most object names. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** DNS-1123 label: namespaces. DNS-1035 label (starts with a letter): Service names, which become DNS names. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** Label and annotation keys: an optional DNS-subdomain prefix and a name of up to 63 characters. */
const KEY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

const Metadata = Type.Object(
  {
    name: Type.String(),
    namespace: Opt(Type.String()),
    labels: Opt(Type.Record(Type.String(), Type.String())),
    annotations: Opt(Type.Record(Type.String(), Type.String())),
    uid: Opt(Type.String()),
    resourceVersion: Opt(Type.String()),
    generation: Opt(Type.Integer()),
    creationTimestamp: Opt(Type.String()),
  },
  closed,
);
const validateMetadata = new Ajv({ allErrors: true, strict: true, verbose: true }).compile(Metadata);

export type Checked = { readonly ok: true; readonly kind: KindDescriptor<unknown>; readonly resource: Resource } | { readonly ok: false; readonly violations: readonly Violation[]; readonly kind?: KindDescriptor<unknown> };

/** The kind a document declares, or a violation saying which kinds exist. */
export function kindOf(doc: unknown): { kind?: KindDescriptor<unknown>; violations: Violation[] } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { violations: [{ path: '(document)', message: `must be a mapping with apiVersion, kind, metadata and spec; got ${describeValue(doc)}` }] };
  const { apiVersion, kind } = doc as Record<string, unknown>;
  const violations: Violation[] = [];
  if (typeof apiVersion !== 'string') violations.push({ path: 'apiVersion', message: apiVersion === undefined ? 'is required' : `must be a string; got ${describeValue(apiVersion)}` });
  if (typeof kind !== 'string') violations.push({ path: 'kind', message: kind === undefined ? 'is required' : `must be a string; got ${describeValue(kind)}` });
  if (violations.length > 0) return { violations };
  const sameKind = KINDS.filter((k) => k.kind === kind);
  if (sameKind.length === 0) {
    const hint = didYouMean(kind as string, KINDS.map((k) => k.kind));
    return { violations: [{ path: 'kind', message: `unknown kind '${kind}'${hint === undefined ? `; known kinds: ${KINDS.map((k) => k.kind).join(', ')}` : `; did you mean '${hint}'?`}` }] };
  }
  const found = sameKind.find((k) => apiVersionOf(k) === apiVersion);
  if (found === undefined) return { violations: [{ path: 'apiVersion', message: `${kind} is served as ${sameKind.map(apiVersionOf).join(' or ')}; got '${apiVersion}'` }] };
  return { kind: found, violations };
}

/**
 * Checks `doc` as a resource of the kind it declares. `defaultNamespace` fills an absent
 * namespace of a namespaced kind (kubectl's context namespace; the API's URL namespace).
 */
export function validateResource(doc: unknown, defaultNamespace = 'default'): Checked {
  const { kind, violations } = kindOf(doc);
  if (kind === undefined) return { ok: false, violations };
  const raw = doc as Record<string, unknown>;
  const allowed = new Set(['apiVersion', 'kind', 'metadata', 'spec', ...(kind.extraFields ?? [])]);
  for (const field of Object.keys(raw)) {
    if (allowed.has(field)) continue;
    const hint = didYouMean(field, [...allowed]);
    violations.push({ path: field, message: `unknown field '${field}'; ${hint === undefined ? `a ${kind.kind} has ${[...allowed].join(', ')}` : `did you mean '${hint}'?`}` });
  }
  checkMetadata(raw.metadata, kind, violations);
  if (raw.spec === undefined) violations.push({ path: 'spec', message: 'is required' });
  else if (!kind.validateSpec(raw.spec)) {
    for (const e of kind.validateSpec.errors ?? []) {
      const v = structuralViolation({ ...e, instancePath: `/spec${e.instancePath}` });
      violations.push({ path: v.path === '' ? 'spec' : v.path, message: v.message });
    }
  } else if (violations.length === 0 && kind.check !== undefined) {
    kind.check(raw.spec, (path, message) => violations.push({ path, message }), raw as Resource);
  }
  if (violations.length > 0) return { ok: false, violations, kind };
  const metadata = { ...(raw.metadata as Resource['metadata']) };
  if (kind.scope === 'Namespaced' && metadata.namespace === undefined) metadata.namespace = defaultNamespace;
  return { ok: true, kind, resource: { ...(raw as Resource), metadata } };
}

function checkMetadata(meta: unknown, kind: KindDescriptor<unknown>, out: Violation[]): void {
  if (meta === undefined) return void out.push({ path: 'metadata', message: 'is required (it holds the name)' });
  if (!validateMetadata(meta)) {
    for (const e of validateMetadata.errors ?? []) {
      const v = structuralViolation({ ...e, instancePath: `/metadata${e.instancePath}` });
      out.push({ path: v.path === '' ? 'metadata' : v.path, message: v.message });
    }
    return;
  }
  const { name, namespace, labels, annotations } = meta as Resource['metadata'];
  const nameRule = kind.kind === 'Service' ? { re: DNS1035, max: 63, words: 'a DNS-1035 label: lower-case letters, digits and -, starting with a letter' } : { re: SUBDOMAIN, max: 253, words: "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'" };
  if (name.length > nameRule.max || !nameRule.re.test(name)) out.push({ path: 'metadata.name', message: `'${name}' is not a valid ${kind.kind} name: use ${nameRule.words}, at most ${nameRule.max} characters` });
  if (namespace !== undefined) {
    if (kind.scope === 'Cluster') out.push({ path: 'metadata.namespace', message: `a ${kind.kind} is cluster-scoped: remove the namespace` });
    else if (namespace.length > 63 || !LABEL.test(namespace)) out.push({ path: 'metadata.namespace', message: `'${namespace}' is not a valid namespace: use lower-case letters, digits and -, at most 63 characters` });
  }
  for (const [key, value] of Object.entries(labels ?? {})) {
    const keyProblem = keyProblemOf(key);
    if (keyProblem !== undefined) out.push({ path: `metadata.labels[${JSON.stringify(key)}]`, message: keyProblem });
    else if (value.length > 63 || !LABEL_VALUE.test(value)) out.push({ path: `metadata.labels.${key}`, message: `'${value}' is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit` });
  }
  for (const key of Object.keys(annotations ?? {})) {
    const keyProblem = keyProblemOf(key);
    if (keyProblem !== undefined) out.push({ path: `metadata.annotations[${JSON.stringify(key)}]`, message: keyProblem });
  }
}

function keyProblemOf(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) return `'${key}': the prefix before '/' must be a DNS subdomain (like example.com)`;
  if (name.length === 0 || name.length > 63 || !KEY_NAME.test(name)) return `'${key}' is not a valid key: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, after an optional 'prefix/'`;
  return undefined;
}
