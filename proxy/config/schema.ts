// The JSON Schema of the static YAML config as the operator writes it (before defaults).
// It is the one source of the structural validation (ajv, compiled once below) and of the
// `Raw*` types the semantic pass and the normalizer read. Every object is closed
// (`additionalProperties: false`): an unknown field is an error, never silently ignored.
// There is deliberately no anyOf/oneOf: a filter or path modifier is one object with a `type`
// and optional sub-objects, and the rule's checks (kinds/route-rule.ts) say whether they
// agree, so a mistake yields one clear message instead of one per union branch.

import { Ajv, type ValidateFunction } from 'ajv';
import Type, { type Static, type TSchema } from 'typebox';
import { ESCAPED_SLASHES, PATH_PARAMETERS } from './model.ts';
import { HashOnSchema } from '../../kinds/load-balancing.ts';
import { closed, Count, Name, Opt, Ref, Text } from '../../kinds/schema-kit.ts';
import { httpRuleSchema } from '../../kinds/route-rule.ts';
import { TracingSpecSchema } from '../../kinds/tracing-spec.ts';

export { NAME_PATTERN, HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN, DURATION_PATTERN, MAX_TIMER_MS, HTTP_METHODS, closed, Opt, Name, Ref, Text, Count, Duration, structuralViolation, meantField, pointerToPath, describeValue, didYouMean, checkDurations, parseDuration } from '../../kinds/schema-kit.ts';

// --- listeners ---

const Limits = Type.Object(
  {
    maxHeaderBytes: Opt(Count),
    maxHeaders: Opt(Count),
    maxUrlBytes: Opt(Count),
    h2MaxResetsPerWindow: Opt(Count),
    h2ResetWindowMs: Opt(Count),
    h2MaxConcurrentStreams: Opt(Count),
    idleTimeoutMs: Opt(Count),
  },
  closed,
);

export const TLS_MODES = ['STRICT', 'PERMISSIVE', 'DISABLE'] as const;

const Listener = Type.Object(
  {
    name: Name,
    address: Text,
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    protocol: Type.Enum(['http', 'tcp']),
    tls: Opt(Type.Object({ mode: Type.Enum(TLS_MODES) }, closed)),
    /** http only. */
    escapedSlashes: Opt(Type.Enum(ESCAPED_SLASHES)),
    /** http only. */
    pathParameters: Opt(Type.Enum(PATH_PARAMETERS)),
    /** http only. */
    limits: Opt(Limits),
    /** tcp only, and required there. */
    backend: Opt(Ref),
    /** Envoy's traffic_direction: an OUTBOUND listener's spans are client spans, any other's server spans. */
    direction: Opt(Type.Enum(['INBOUND', 'OUTBOUND'])),
  },
  closed,
);

// --- routes ---

/**
 * Gateway API's HTTPRoute rule, defined once in kinds/route-rule.ts (the control plane's
 * HTTPRoute takes the same); here a backendRef, and a mirror's, names a `backends` entry.
 */
const Rule = httpRuleSchema({ name: Ref }, Type.Object({ name: Ref }, closed));

const Route = Type.Object(
  {
    name: Name,
    parentRefs: Opt(Type.Array(Type.Object({ name: Ref }, closed))),
    hostnames: Opt(Type.Array(Text)),
    rules: Type.Array(Rule, { minItems: 1 }),
  },
  closed,
);

// --- backends ---

const Endpoint = Type.Object(
  {
    address: Text,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    weight: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    zone: Opt(Text),
    priority: Opt(Type.Integer({ minimum: 0, maximum: 16 })),
  },
  closed,
);

/** Load balancers that read `hashOn`; the hashOn schema is shared with LoadBalancingPolicy. */
export { HASHING_BALANCERS } from '../../kinds/load-balancing.ts';

const Backend = Type.Object(
  {
    name: Name,
    protocol: Opt(Type.Enum(['http1', 'http2'])),
    loadBalancer: Opt(Text),
    hashOn: Opt(HashOnSchema),
    failoverThreshold: Opt(Type.Integer({ minimum: 1, maximum: 100 })),
    connectTimeoutMs: Opt(Count),
    idleTimeoutMs: Opt(Count),
    endpoints: Type.Array(Endpoint),
    tls: Opt(Type.Object({ identities: Type.Array(Text, { minItems: 1 }), serverName: Opt(Text) }, closed)),
  },
  closed,
);

/** Either `dir` (holding cert.pem, key.pem and bundle.pem, as `sluicectl ca issue` writes them) or the three files. */
const Identity = Type.Object({ dir: Opt(Text), certFile: Opt(Text), keyFile: Opt(Text), bundleFile: Opt(Text) }, closed);

// --- the document ---

/**
 * A mesh.sluice.dev resource, Kubernetes-shaped. Only the envelope is checked here: each
 * kind's `spec` has a schema of its own (policies.ts), so a mistake is reported against
 * the fields of the kind the operator wrote, not against every kind at once.
 */
const Policy = Type.Object(
  {
    apiVersion: Text,
    kind: Text,
    metadata: Type.Object({ name: Name, namespace: Opt(Name), labels: Opt(Type.Record(Type.String(), Type.String())) }, closed),
    spec: Type.Object({}),
  },
  closed,
);

export const StaticConfigSchema = Type.Object(
  {
    node: Opt(Type.Object({ zone: Opt(Text) }, closed)),
    identity: Opt(Identity),
    listeners: Type.Array(Listener, { minItems: 1 }),
    routes: Opt(Type.Array(Route)),
    backends: Opt(Type.Array(Backend)),
    policies: Opt(Type.Array(Policy)),
    /** OpenTelemetry tracing (README, "Tracing"); absent: off. */
    tracing: Opt(TracingSpecSchema),
  },
  closed,
);

export type RawConfig = Static<typeof StaticConfigSchema>;
export type RawListener = Static<typeof Listener>;
export type RawRoute = Static<typeof Route>;
export type RawRule = Static<typeof Rule>;
export type RawMatch = NonNullable<RawRule['matches']>[number];
export type RawFilter = NonNullable<RawRule['filters']>[number];
export type { HeaderModifierSpec as RawHeaderModifier } from '../../kinds/route-filters/header-modifier.ts';
export type { PathModifierSpec as RawPathModifier } from '../../kinds/route-filters/path-modifier.ts';
export type RawBackend = Static<typeof Backend>;
export type RawPolicy = Static<typeof Policy>;
export type RawIdentity = Static<typeof Identity>;

/** Compiled once at module load. `verbose` puts the failing value and its schema on each error. */
export const validateStructure: ValidateFunction<RawConfig> = new Ajv({ allErrors: true, strict: true, verbose: true }).compile<RawConfig>(StaticConfigSchema);
