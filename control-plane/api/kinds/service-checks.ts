// The rules of a Service that its schema cannot say, after Kubernetes' ValidateService:
// port names and port/protocol pairs, the targetPort (a number or a container port name),
// the selector's labels, cluster IPs and IP families, and the fields that apply to one
// Service type only. A field set for a type that ignores it is reported, not dropped.

import { describeValue } from '../../../kinds/schema-kit.ts';
import type { Add } from '../kind.ts';
import { checkSelector, cidrProblem, firstSeen, ianaServiceNameProblem, ipFamilyOf, ipProblem, isDnsSubdomain, qualifiedNameProblem } from './kube-names.ts';
import type { ServiceSpec } from './service.ts';

type ServiceType = NonNullable<ServiceSpec['type']>;

export function checkService(spec: ServiceSpec, add: Add): void {
  const type = spec.type ?? 'ClusterIP';
  checkPorts(spec, type, add);
  if (spec.selector !== undefined) checkSelector(spec.selector, 'spec.selector', add);
  if (type === 'ExternalName') checkExternalName(spec, add);
  else {
    if (present(spec.externalName)) add('spec.externalName', `applies only when type is ExternalName; this Service is ${type}`);
    checkClusterIPs(spec, type, add);
  }
  spec.externalIPs?.forEach((ip, i) => report(add, `spec.externalIPs[${i}]`, ipProblem(ip)));
  checkTypeOnlyFields(spec, type, add);
}

/** A headless Service (clusterIP: None) gets no virtual IP: clients resolve the workloads' addresses. */
function isHeadless(spec: ServiceSpec): boolean {
  return spec.clusterIP === 'None' || spec.clusterIPs?.[0] === 'None';
}

// --- ports ---

function checkPorts(spec: ServiceSpec, type: ServiceType, add: Add): void {
  const ports = spec.ports ?? [];
  if (ports.length === 0 && type !== 'ExternalName' && !isHeadless(spec)) {
    add('spec.ports', 'is required: list at least one port (only a headless Service, clusterIP: None, or an ExternalName Service may have none)');
  }
  const names = new Map<string, number>();
  const pairs = new Map<string, number>();
  const nodePorts = new Map<string, number>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    const protocol = p.protocol ?? 'TCP';
    if (p.name === undefined) {
      if (ports.length > 1) add(`${at}.name`, 'is required when a Service has more than one port: Workloads, routes and endpoints tell its ports apart by name');
    } else {
      const named = firstSeen(names, p.name, i);
      if (named !== undefined) add(`${at}.name`, `port name '${p.name}' is already used by ports[${named}]`);
    }
    const first = firstSeen(pairs, `${p.port}/${protocol}`, i);
    if (first !== undefined) add(`${at}.port`, `${p.port}/${protocol} is already declared by ports[${first}]; each port and protocol pair may appear once`);
    if (p.targetPort !== undefined) report(add, `${at}.targetPort`, targetPortProblem(p.targetPort));
    if (p.appProtocol !== undefined) {
      const problem = qualifiedNameProblem(p.appProtocol, 'appProtocol');
      if (problem !== undefined) add(`${at}.appProtocol`, `${problem}; for example http, http2, grpc or kubernetes.io/h2c`);
    }
    if (p.nodePort === undefined) return;
    if (type !== 'NodePort' && type !== 'LoadBalancer') add(`${at}.nodePort`, `applies only when type is NodePort or LoadBalancer; this Service is ${type}`);
    else {
      const taken = firstSeen(nodePorts, `${p.nodePort}/${protocol}`, i);
      if (taken !== undefined) add(`${at}.nodePort`, `${p.nodePort}/${protocol} is already the node port of ports[${taken}]`);
    }
  });
}

/** Kubernetes' IntOrString: a port number, or the name of a port the selected workloads declare. */
function targetPortProblem(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1 && value <= 65535 ? undefined : `must be a port number between 1 and 65535, or a port name; got ${value}`;
  }
  if (typeof value === 'string') {
    // Kubernetes reads a quoted number as a port name, which then never matches.
    if (/^\d+$/.test(value)) return `'${value}' is a quoted number, which Kubernetes reads as a port name: write targetPort: ${value} without quotes`;
    return ianaServiceNameProblem(value);
  }
  return `must be a port number (1-65535) or a port name; got ${describeValue(value)}`;
}

// --- addresses ---

function checkExternalName(spec: ServiceSpec, add: Add): void {
  const name = spec.externalName ?? '';
  // The name is a CNAME target, so a trailing '.' (fully qualified) is allowed.
  if (name === '') add('spec.externalName', 'is required when type is ExternalName: it is the DNS name the Service is an alias of, like db.example.com');
  else if (!isDnsSubdomain(name.replace(/\.$/, ''))) add('spec.externalName', `'${name}' is not a DNS name: lower-case labels of letters, digits and '-', joined by '.'`);
  const noIPs = 'must not be set for an ExternalName Service: it is a DNS alias and gets no cluster IP';
  if (present(spec.clusterIP)) add('spec.clusterIP', noIPs);
  if (present(spec.clusterIPs)) add('spec.clusterIPs', noIPs);
  if (present(spec.ipFamilies)) add('spec.ipFamilies', noIPs);
  if (spec.ipFamilyPolicy !== undefined) add('spec.ipFamilyPolicy', noIPs);
}

function checkClusterIPs(spec: ServiceSpec, type: ServiceType, add: Add): void {
  const { clusterIP, clusterIPs = [], ipFamilies = [], ipFamilyPolicy } = spec;
  const allowed = "an IP address, 'None' for a headless Service, or '' to have one allocated";
  if (clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None' && ipFamilyOf(clusterIP) === 0) add('spec.clusterIP', `must be ${allowed}; got ${describeValue(clusterIP)}`);
  clusterIPs.forEach((ip, i) => {
    if (ip !== '' && ip !== 'None' && ipFamilyOf(ip) === 0) add(`spec.clusterIPs[${i}]`, `must be ${allowed}; got ${describeValue(ip)}`);
  });
  if (clusterIP !== undefined && clusterIPs.length > 0 && clusterIPs[0] !== clusterIP) {
    add('spec.clusterIPs[0]', `must equal spec.clusterIP (${describeValue(clusterIP)}): clusterIPs repeats it first, then adds the other family's address`);
  }
  if (isHeadless(spec)) {
    if (type !== 'ClusterIP') add('spec.clusterIP', `may be 'None' (headless) only when type is ClusterIP; this Service is ${type}`);
    if (clusterIPs.length > 1) add('spec.clusterIPs', "must be just ['None'] for a headless Service");
  }
  const families = clusterIPs.map(ipFamilyOf);
  if (families.length === 2 && families[0] !== 0 && families[0] === families[1]) {
    add('spec.clusterIPs[1]', `must be of the other IP family than clusterIPs[0]: a dual-stack Service has one IPv4 and one IPv6 address`);
  }
  families.forEach((family, i) => {
    const declared = ipFamilies[i];
    if (family !== 0 && declared !== undefined && declared !== `IPv${family}`) {
      add(`spec.clusterIPs[${i}]`, `is an IPv${family} address but ipFamilies[${i}] is ${declared}: list the families in the order of the addresses`);
    }
  });
  if (ipFamilies.length === 2 && ipFamilies[0] === ipFamilies[1]) add('spec.ipFamilies[1]', `${ipFamilies[1]} is listed twice; a dual-stack Service lists IPv4 and IPv6 once each`);
  if (ipFamilyPolicy === 'SingleStack' && (ipFamilies.length > 1 || clusterIPs.length > 1)) {
    add('spec.ipFamilyPolicy', `SingleStack allows one IP family, but ${ipFamilies.length > 1 ? 'ipFamilies' : 'clusterIPs'} lists two: use PreferDualStack or RequireDualStack, or list one`);
  }
}

// --- fields for one type only ---

function checkTypeOnlyFields(spec: ServiceSpec, type: ServiceType, add: Add): void {
  const loadBalancer = type === 'LoadBalancer';
  for (const field of ['loadBalancerIP', 'loadBalancerSourceRanges', 'loadBalancerClass', 'allocateLoadBalancerNodePorts'] as const) {
    if (present(spec[field]) && !loadBalancer) add(`spec.${field}`, `applies only when type is LoadBalancer; this Service is ${type}`);
  }
  if (loadBalancer) {
    if (present(spec.loadBalancerIP)) report(add, 'spec.loadBalancerIP', ipProblem(spec.loadBalancerIP!));
    spec.loadBalancerSourceRanges?.forEach((range, i) => report(add, `spec.loadBalancerSourceRanges[${i}]`, cidrProblem(range)));
    if (spec.loadBalancerClass !== undefined) report(add, 'spec.loadBalancerClass', qualifiedNameProblem(spec.loadBalancerClass, 'load balancer class'));
  }
  const external = type === 'NodePort' || loadBalancer || (spec.externalIPs ?? []).length > 0;
  if (spec.externalTrafficPolicy !== undefined && !external) {
    add('spec.externalTrafficPolicy', `applies only to a Service reachable from outside the cluster (type NodePort or LoadBalancer, or with externalIPs); this Service is ${type}`);
  }
  if (spec.healthCheckNodePort !== undefined && !(loadBalancer && spec.externalTrafficPolicy === 'Local')) {
    add('spec.healthCheckNodePort', 'applies only to a LoadBalancer Service with externalTrafficPolicy: Local');
  }
  if (spec.sessionAffinityConfig !== undefined && spec.sessionAffinity !== 'ClientIP') {
    add('spec.sessionAffinityConfig', `applies only when sessionAffinity is ClientIP; sessionAffinity is ${spec.sessionAffinity ?? 'None (the default)'}`);
  }
}

// --- helpers ---

/** Set to something: an empty string or list, as some tools print for "unset", counts as absent. */
function present(value: unknown): boolean {
  return value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0);
}

function report(add: Add, path: string, problem: string | undefined): void {
  if (problem !== undefined) add(path, problem);
}
