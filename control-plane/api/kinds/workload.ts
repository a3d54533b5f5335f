// Workload: one instance of a service that runs outside Kubernetes (a VM, a bare-metal
// process), like Istio's WorkloadEntry. It carries no service name: Services select it by
// its metadata.labels exactly as they select Pods, so one instance can back several
// Services and a Service can mix Pods and Workloads. Its `outbound` list names the Service
// ports its app calls through its own proxy on a local port (TCP, or HTTP by appProtocol).

import Type, { type Static } from 'typebox';
import { closed, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind } from '../kind.ts';
import { workloadNames } from '../kind-names.ts';
import type { Add } from '../kind.ts';
import { firstSeen, isDnsLabel, isDnsName, ipFamilyOf, keyPath, labelValueProblem } from './kube-names.ts';

/**
 * The ports sluice-proxy binds by default (proxy/flags.ts): a local port on one of them
 * would never bind on a proxy started with the defaults. A proxy started with other ports
 * is checked when its listeners are generated (control-plane/xds/generate/outbound-ports.ts).
 */
const PROXY_DEFAULT_PORTS: ReadonlyMap<number, string> = new Map([
  [15000, 'admin port (--admin-port)'],
  [15001, 'outbound port (--outbound-port)'],
  [15020, 'stats port (--stats-port)'],
]);

const PortNumber = Type.Integer({ minimum: 1, maximum: 65535 });

const OutboundEntry = Type.Object(
  {
    service: Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 63, description: 'The name of the Service called.' }),
    namespace: Opt(Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 63, description: "The Service's namespace. Default: the Workload's own." })),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The Service port called: its number, as spec.ports[].port of the Service says it.' }),
    localPort: Type.Integer({ minimum: 1, maximum: 65535, description: "Where the Workload's proxy listens for the app's calls, on 127.0.0.1: TCP, or HTTP when the Service port's appProtocol is HTTP." }),
  },
  closed,
);

// Descriptions go into the CRD, where `kubectl explain workload.spec` shows them.
const WorkloadSpec = Type.Object(
  {
    address: Type.String({ minLength: 1, maxLength: 253, description: 'Where the instance is reached: an IP address or a DNS name.' }),
    ports: Opt(
      Type.Record(Type.String(), PortNumber, {
        description: "Service port name -> the port this instance listens on. A Service port not named here is reached on the Service's targetPort.",
      }),
    ),
    zone: Opt(Type.String({ minLength: 1, maxLength: 63, description: 'The locality the instance runs in (a data centre, a cloud zone), for locality-aware load balancing.' })),
    serviceAccount: Opt(
      Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253, description: "Its identity: spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>. Default 'default'." }),
    ),
    weight: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Its share of traffic against the other endpoints of a Service. Default 1.' })),
    outbound: Opt(
      Type.Array(OutboundEntry, {
        description: "The Service ports the app calls through its proxy, each on its own local port: the proxy listens on 127.0.0.1:<localPort> and forwards over mTLS to the Service's proxies (a TCP port byte for byte, an HTTP port through that port's routes).",
      }),
    ),
  },
  closed,
);

export type WorkloadSpec = Static<typeof WorkloadSpec>;

export const workloadKind = defineKind(workloadNames, {
  spec: WorkloadSpec,
  check(spec, add) {
    if (ipFamilyOf(spec.address) === 0 && !isDnsName(spec.address)) {
      add('spec.address', `must be an IP address (10.0.3.7, fd00::7) or a DNS name (vm-7.example.internal); got '${spec.address}'`);
    }
    for (const name of Object.keys(spec.ports ?? {})) {
      // The keys name the ports of the Services that select this Workload, so they follow Service port names.
      if (!isDnsLabel(name)) {
        add(keyPath('spec.ports', name), `'${name}' is not a Service port name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`);
      }
    }
    // A zone names what a Kubernetes node's topology.kubernetes.io/zone label names, so it is written as a label value.
    if (spec.zone !== undefined) {
      const problem = labelValueProblem(spec.zone, 'zone name');
      if (problem !== undefined) add('spec.zone', problem);
    }
    checkOutbound(spec, add);
  },
});

/**
 * Each local port once, and none the proxy itself takes: the ports this Workload serves
 * (its proxy's inbound listeners) and the proxy's default outbound, admin and stats ports.
 * Whether the Service and its port exist is not checked here: they may be applied after
 * the Workload, or deleted later (the generated listener then closes each connection).
 */
function checkOutbound(spec: { ports?: Readonly<Record<string, number>>; outbound?: readonly { localPort: number }[] }, add: Add): void {
  const served = new Map(Object.entries(spec.ports ?? {}).map(([name, port]) => [port, name]));
  const seen = new Map<number, number>();
  (spec.outbound ?? []).forEach((o, i) => {
    const at = `spec.outbound[${i}].localPort`;
    const first = firstSeen(seen, o.localPort, i);
    if (first !== undefined) add(at, `${o.localPort} is already the localPort of spec.outbound[${first}]: the proxy listens once on each local port`);
    const name = served.get(o.localPort);
    if (name !== undefined) add(at, `${o.localPort} is the port this Workload serves Service port '${name}' on (spec.ports.${name}), where its proxy's inbound listener is: pick another local port`);
    const own = PROXY_DEFAULT_PORTS.get(o.localPort);
    if (own !== undefined) add(at, `${o.localPort} is the proxy's default ${own}: pick another local port`);
  });
}
