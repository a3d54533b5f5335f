// Workload: one instance of a service that runs outside Kubernetes (a VM, a bare-metal
// process), like Istio's WorkloadEntry. It carries no service name: Services select it by
// its metadata.labels exactly as they select Pods, so one instance can back several
// Services and a Service can mix Pods and Workloads.

import Type from 'typebox';
import { closed, DNS_SUBDOMAIN_PATTERN, Opt } from '../../../kinds/schema-kit.ts';
import { defineKind } from '../kind.ts';
import { isDnsLabel, isDnsName, ipFamilyOf, keyPath, labelValueProblem } from './kube-names.ts';

export const DEFAULT_SERVICE_ACCOUNT = 'default';

// Descriptions go into the CRD, where `kubectl explain workload.spec` shows them.
const WorkloadSpec = Type.Object(
  {
    address: Type.String({ minLength: 1, maxLength: 253, description: 'Where the instance is reached: an IP address or a DNS name.' }),
    ports: Opt(
      Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 65535 }), {
        description: "Service port name -> the port this instance listens on. A Service port not named here is reached on the Service's targetPort.",
      }),
    ),
    zone: Opt(Type.String({ minLength: 1, maxLength: 63, description: 'The locality the instance runs in (a data centre, a cloud zone), for locality-aware load balancing.' })),
    serviceAccount: Opt(
      Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253, description: "Its identity: spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>. Default 'default'." }),
    ),
    weight: Opt(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Its share of traffic against the other endpoints of a Service. Default 1.' })),
  },
  closed,
);

export const workloadKind = defineKind({
  group: 'mesh.sluice.dev',
  version: 'v1alpha1',
  kind: 'Workload',
  plural: 'workloads',
  singular: 'workload',
  shortNames: ['wl'],
  scope: 'Namespaced',
  spec: WorkloadSpec,
  crd: true,
  description:
    "One instance outside Kubernetes (Istio's WorkloadEntry): Services select it by its metadata.labels, as they select Pods; " +
    "ports maps a Service port name to the port it listens on, and a Service port it does not name is reached on that port's targetPort; " +
    "serviceAccount (default 'default') names its identity.",
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
  },
  columns: [
    { name: 'ADDRESS', value: (r) => r.spec?.address ?? '', jsonPath: '.spec.address' },
    { name: 'PORTS', value: (r) => Object.entries(r.spec?.ports ?? {}).map(([name, port]) => `${name}:${port}`).join(',') || '<none>' },
    { name: 'ZONE', value: (r) => r.spec?.zone ?? '<none>', jsonPath: '.spec.zone' },
    { name: 'SERVICE ACCOUNT', value: (r) => r.spec?.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT, jsonPath: '.spec.serviceAccount' },
  ],
});
