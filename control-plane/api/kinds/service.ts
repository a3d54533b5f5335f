// Service: the core v1 kind, modelled field for field on Kubernetes' ServiceSpec so that
// a Service written for (or printed by) Kubernetes is accepted as it is. Sluice reads the
// selector, the named ports and appProtocol; the other fields are kept and checked the way
// the Kubernetes API server checks them, so a document it would refuse is refused here too.

import Type, { type Static } from 'typebox';
import { closed, DNS_LABEL_PATTERN, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind } from '../kind.ts';
import { serviceNames } from '../kind-names.ts';
import { checkService } from './service-checks.ts';

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;
export const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

const PortNumber = Type.Integer({ minimum: 1, maximum: 65535 });

const ServicePort = Type.Object(
  {
    /** Required when the Service has more than one port; Workloads, routes and endpoints refer to ports by it. */
    name: Opt(Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 63 })),
    /** Default TCP. */
    protocol: Opt(Type.Enum(PORT_PROTOCOLS)),
    /** The application protocol (http, http2, grpc, kubernetes.io/h2c, ...); Sluice picks its listener by it. */
    appProtocol: Opt(Type.String({ minLength: 1, maxLength: 317 })),
    port: PortNumber,
    // Kubernetes' IntOrString. Left open here and checked by service-checks.ts: a union in
    // the schema would report a failed branch for each type instead of one clear message.
    /** The port on each selected workload: a number (1-65535) or the name of a container port. Default: `port`. */
    targetPort: Opt(Type.Unsafe<number | string>({ description: 'A port number (1-65535) or a container port name (IANA_SVC_NAME).' })),
    nodePort: Opt(PortNumber),
  },
  closed,
);

const ServiceSpec = Type.Object(
  {
    ports: Opt(Type.Array(ServicePort)),
    /** Label selector over Pods and Workloads: every key must match. */
    selector: Opt(Type.Record(Type.String(), Type.String())),
    /** Default ClusterIP. */
    type: Opt(Type.Enum(SERVICE_TYPES)),
    /** An IP, 'None' (headless) or '' (allocate one). */
    clusterIP: Opt(Type.String()),
    clusterIPs: Opt(Type.Array(Type.String(), { maxItems: 2 })),
    externalIPs: Opt(Type.Array(Type.String())),
    /** type ExternalName only: the DNS name the Service is an alias (CNAME) of. */
    externalName: Opt(Type.String()),
    externalTrafficPolicy: Opt(Type.Enum(['Cluster', 'Local'])),
    internalTrafficPolicy: Opt(Type.Enum(['Cluster', 'Local'])),
    sessionAffinity: Opt(Type.Enum(['None', 'ClientIP'])),
    sessionAffinityConfig: Opt(Type.Object({ clientIP: Opt(Type.Object({ timeoutSeconds: Opt(Type.Integer({ minimum: 1, maximum: 86400 })) }, closed)) }, closed)),
    loadBalancerIP: Opt(Type.String()),
    loadBalancerSourceRanges: Opt(Type.Array(Type.String())),
    loadBalancerClass: Opt(Type.String({ minLength: 1, maxLength: 317 })),
    healthCheckNodePort: Opt(PortNumber),
    publishNotReadyAddresses: Opt(Type.Boolean()),
    ipFamilies: Opt(Type.Array(Type.Enum(['IPv4', 'IPv6']), { maxItems: 2 })),
    ipFamilyPolicy: Opt(Type.Enum(['SingleStack', 'PreferDualStack', 'RequireDualStack'])),
    allocateLoadBalancerNodePorts: Opt(Type.Boolean()),
    trafficDistribution: Opt(Type.Enum(['PreferClose', 'PreferSameZone', 'PreferSameNode'])),
  },
  closed,
);

export type ServiceSpec = Static<typeof ServiceSpec>;
export type ServicePort = Static<typeof ServicePort>;

export const serviceKind = defineKind(serviceNames, { spec: ServiceSpec, check: checkService });
