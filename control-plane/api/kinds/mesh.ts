// Mesh: the settings every workload of the mesh shares. Cluster-scoped, like Kuma's Mesh;
// the one named `default` applies when no other is named.

import Type, { type Static } from 'typebox';
import { parseTrustDomain } from '../../../certs/spiffe-id.ts';
import { closed, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind } from '../kind.ts';
import { meshNames } from '../kind-names.ts';
import { checkTracing, TracingSpecSchema } from '../../../kinds/tracing-spec.ts';

export const MESH_MTLS_MODES = ['STRICT', 'PERMISSIVE', 'DISABLE'] as const;

const MeshSpec = Type.Object(
  {
    /** The SPIFFE trust domain of every workload identity: spiffe://<trustDomain>/ns/<ns>/sa/<sa>. */
    trustDomain: Type.String({ minLength: 1, maxLength: 255 }),
    mtls: Opt(Type.Object({ mode: Type.Enum(MESH_MTLS_MODES) }, closed)),
    /** Services are reached as <service>.<namespace>.svc.<dnsDomain>. Default cluster.local. */
    dnsDomain: Opt(Type.String({ minLength: 1, maxLength: 253 })),
    /** OpenTelemetry tracing on every proxy: sampling and the OTLP exporter (README, "Tracing"). Absent: off. */
    tracing: Opt(TracingSpecSchema),
  },
  closed,
);

export type MeshSpec = Static<typeof MeshSpec>;

export const meshKind = defineKind(meshNames, {
  spec: MeshSpec,
  check(spec, add) {
    if (spec.tracing !== undefined) checkTracing(spec.tracing, 'spec.tracing', add);
    const td = parseTrustDomain(spec.trustDomain);
    if (!td.ok) add('spec.trustDomain', td.error);
    if (spec.dnsDomain !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(spec.dnsDomain)) {
      add('spec.dnsDomain', `'${spec.dnsDomain}' is not a DNS domain: lower-case labels of letters, digits and '-', joined by '.'`);
    }
  },
});
