// Validation of one resource document: the envelope (apiVersion, kind, metadata), then its
// kind's spec schema, then its kind's semantic rules. Every violation is collected with
// its field path (`spec.rules[0].backendRefs[1].port`); nothing stops at the first one.

import Type from 'typebox';
import { Ajv } from 'ajv';
import { closed, didYouMean, meantField, Opt, structuralViolation, type Violation } from '../../kinds/schema-kit.ts';
import type { Resource } from './resource.ts';
import type { KindDescriptor } from './kind.ts';
import { kindOf as kindNamesOf } from './kind-names.ts';
import { withSchema } from './descriptors.ts';
import { isDnsLabel, isDnsSubdomain, keyPath, labelValueProblem, qualifiedNameProblem } from './kinds/kube-names.ts';

/** DNS-1035 label (starts with a letter): Service names, which become DNS names. */
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

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

/**
 * Checks `doc` as a resource of the kind it declares. `defaultNamespace` fills an absent
 * namespace of a namespaced kind (kubectl's context namespace; the API's URL namespace).
 */
/** The kind a document declares (with its schema), or a violation saying which kinds exist. */
export function kindOf(doc: unknown): { kind?: KindDescriptor<unknown>; violations: Violation[] } {
  const { kind, violations } = kindNamesOf(doc);
  return { kind: withSchema(kind), violations };
}

export function validateResource(doc: unknown, defaultNamespace = 'default'): Checked {
  const { kind, violations } = kindOf(doc);
  if (kind === undefined) return { ok: false, violations };
  const raw = doc as Record<string, unknown>;
  // Every kind may carry a status (one read back with `get -o yaml`); the control plane writes its own (apiserver/resources.ts drops the client's).
  const allowed = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status', ...(kind.extraFields ?? [])]);
  for (const field of Object.keys(raw)) {
    if (allowed.has(field)) continue;
    const hint = didYouMean(field, [...allowed]);
    violations.push({ path: field, message: `unknown field '${field}'; ${hint === undefined ? `a ${kind.kind} has ${[...allowed].join(', ')}` : `did you mean '${hint}'?`}` });
  }
  checkMetadata(raw.metadata, kind, violations);
  if (raw.spec === undefined) violations.push({ path: 'spec', message: 'is required' });
  else {
    const ok = kind.validateSpec(raw.spec);
    const errors = ok ? [] : (kind.validateSpec.errors ?? []);
    for (const e of errors) {
      const v = structuralViolation({ ...e, instancePath: `/spec${e.instancePath}` });
      violations.push({ path: v.path === '' ? 'spec' : v.path, message: v.message });
    }
    // An unknown field leaves the known ones in their shape, so the kind's rules can still
    // run and report the other mistakes of the same document; a wrong type or a missing
    // field would make them read what is not there. Paths under a misspelled field are
    // dropped: what they say about its absence is noise beside the did-you-mean.
    const onlyUnknown = errors.every((e) => e.keyword === 'additionalProperties');
    if (onlyUnknown && kind.check !== undefined && violations.every((v) => v.path.startsWith('spec'))) {
      const meant = errors.map(meantField).filter((m) => m !== undefined).map((m) => `spec${m.startsWith('[') ? '' : '.'}${m}`);
      kind.check(raw.spec, (path, message) => meant.some((m) => path === m || path.startsWith(`${m}.`) || path.startsWith(`${m}[`)) || violations.push({ path, message }), raw as Resource);
    }
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
  const serviceName = kind.kind === 'Service';
  if (serviceName ? name.length > 63 || !DNS1035.test(name) : !isDnsSubdomain(name)) {
    const words = serviceName ? 'a DNS-1035 label: lower-case letters, digits and -, starting with a letter, at most 63 characters' : "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters";
    out.push({ path: 'metadata.name', message: `'${name}' is not a valid ${kind.kind} name: use ${words}` });
  }
  if (namespace !== undefined) {
    if (kind.scope === 'Cluster') out.push({ path: 'metadata.namespace', message: `a ${kind.kind} is cluster-scoped: remove the namespace` });
    else if (!isDnsLabel(namespace)) out.push({ path: 'metadata.namespace', message: `'${namespace}' is not a valid namespace: use lower-case letters, digits and -, at most 63 characters` });
  }
  for (const [key, value] of Object.entries(labels ?? {})) {
    const problem = qualifiedNameProblem(key, 'label key') ?? labelValueProblem(value);
    if (problem !== undefined) out.push({ path: keyPath('metadata.labels', key), message: problem });
  }
  for (const key of Object.keys(annotations ?? {})) {
    const problem = qualifiedNameProblem(key, 'annotation key');
    if (problem !== undefined) out.push({ path: keyPath('metadata.annotations', key), message: problem });
  }
}
