// The names of every kind the control plane serves, without their schemas: group,
// version, plural, short names, scope, the columns `sluicectl get` prints and the one-line
// description. This is all that `sluicectl get`, `describe`, `delete` and `apply` need (the
// server validates what is applied), so the CLI never loads typebox, whose ~370 modules
// were most of its start. Each kind's file (kinds/) joins its row here with its schema and
// rules (`defineKind`); descriptors.ts is that joined table.

import type { Resource } from './resource.ts';
import type { GRPCRouteSpec } from './kinds/grpcroute.ts';
import type { HTTPRouteSpec } from './kinds/httproute.ts';
import type { MeshSpec } from './kinds/mesh.ts';
import type { AuthorizationPolicySpec, CircuitBreakerPolicySpec, FaultInjectionPolicySpec, LoadBalancingPolicySpec, RequestAuthenticationSpec, RetryPolicySpec } from './kinds/policies.ts';
import type { ServicePort, ServiceSpec } from './kinds/service.ts';
import type { WorkloadSpec } from './kinds/workload.ts';
import { DEFAULT_LIMITS, DEFAULT_RETRY } from '../../kinds/resilience-defaults.ts';
import { describeValue } from '../../kinds/describe-value.ts';
import { didYouMean } from '../../kinds/did-you-mean.ts';
import type { Violation } from '../../kinds/schema-kit.ts';

/** A column of `sluicectl get`; `jsonPath` (when the value is one field) also goes to the CRD's additionalPrinterColumns. */
export type Column<Spec> = {
  readonly name: string;
  readonly value: (r: Resource<Spec>) => string;
  readonly jsonPath?: string;
  readonly type?: 'string' | 'integer' | 'date';
};

export type KindNames<Spec = unknown> = {
  /** '' for the core group (Service). */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  /** Top-level fields besides apiVersion, kind, metadata and spec that documents may carry (Service's status). */
  readonly extraFields?: readonly string[];
  /** Whether deploy/crds/ gets a CRD for it: Sluice's own kinds; Gateway API and core kinds have theirs upstream. */
  readonly crd: boolean;
  readonly columns: readonly Column<Spec>[];
  /** One-line summary for `sluicectl describe` and the CRD. */
  readonly description: string;
};

export const DEFAULT_DNS_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

export function apiVersionOf(d: KindNames<unknown>): string {
  return d.group === '' ? d.version : `${d.group}/${d.version}`;
}

/** The store's name for the type: `<plural>.<group>`, or the plural alone for core. */
export function resourceTypeOf(d: KindNames<unknown>): string {
  return d.group === '' ? d.plural : `${d.plural}.${d.group}`;
}

// --- core and mesh kinds ---

export const meshNames: KindNames<MeshSpec> = {
  group: 'mesh.sluice.dev',
  version: 'v1alpha1',
  kind: 'Mesh',
  plural: 'meshes',
  singular: 'mesh',
  shortNames: [],
  scope: 'Cluster',
  crd: true,
  description: 'Settings the whole mesh shares: trust domain, mTLS mode, DNS domain.',
  columns: [
    { name: 'TRUST DOMAIN', value: (r) => r.spec?.trustDomain ?? '', jsonPath: '.spec.trustDomain' },
    { name: 'MTLS', value: (r) => r.spec?.mtls?.mode ?? 'PERMISSIVE', jsonPath: '.spec.mtls.mode' },
    { name: 'DNS DOMAIN', value: (r) => r.spec?.dnsDomain ?? DEFAULT_DNS_DOMAIN, jsonPath: '.spec.dnsDomain' },
  ],
};

export const serviceNames: KindNames<ServiceSpec> = {
  group: '',
  version: 'v1',
  kind: 'Service',
  plural: 'services',
  singular: 'service',
  shortNames: ['svc'],
  scope: 'Namespaced',
  // kubectl prints a status (the load balancer's ingress); a document copied from it still applies.
  extraFields: ['status'],
  crd: false,
  description: 'A Kubernetes Service: a stable name, ports and label selector over Pods and Workloads; each port is served to the mesh as <name>.<namespace>.svc.<dns domain>:<port>.',
  columns: [
    { name: 'TYPE', value: (r) => r.spec?.type ?? 'ClusterIP', jsonPath: '.spec.type' },
    { name: 'CLUSTER-IP', value: (r) => r.spec?.clusterIP || '<none>', jsonPath: '.spec.clusterIP' },
    { name: 'PORTS', value: (r) => portsColumn(r.spec?.ports ?? []) },
    { name: 'SELECTOR', value: (r) => selectorColumn(r.spec?.selector ?? {}) },
  ],
};

/** As kubectl prints them: `80/TCP,9090/TCP`, with the node port as `80:30080/TCP`. */
function portsColumn(ports: readonly ServicePort[]): string {
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort === undefined ? '' : `:${p.nodePort}`}/${p.protocol ?? 'TCP'}`).join(',');
}

function selectorColumn(selector: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(selector).map(([k, v]) => `${k}=${v}`);
  return pairs.length === 0 ? '<none>' : pairs.join(',');
}

export const workloadNames: KindNames<WorkloadSpec> = {
  group: 'mesh.sluice.dev',
  version: 'v1alpha1',
  kind: 'Workload',
  plural: 'workloads',
  singular: 'workload',
  shortNames: ['wl'],
  scope: 'Namespaced',
  crd: true,
  description:
    "One instance outside Kubernetes (Istio's WorkloadEntry): Services select it by its metadata.labels, as they select Pods; " +
    "ports maps a Service port name to the port it listens on, and a Service port it does not name is reached on that port's targetPort; " +
    "serviceAccount (default 'default') names its identity; " +
    'outbound lists the Service ports its app calls through its proxy on 127.0.0.1:<localPort>.',
  columns: [
    { name: 'ADDRESS', value: (r) => r.spec?.address ?? '', jsonPath: '.spec.address' },
    { name: 'PORTS', value: (r) => Object.entries(r.spec?.ports ?? {}).map(([name, port]) => `${name}:${port}`).join(',') || '<none>' },
    { name: 'ZONE', value: (r) => r.spec?.zone ?? '<none>', jsonPath: '.spec.zone' },
    { name: 'SERVICE ACCOUNT', value: (r) => r.spec?.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT, jsonPath: '.spec.serviceAccount' },
  ],
};

// --- routes (Gateway API ships their CRDs; Sluice serves the kinds, it does not define them) ---

type ObjectRef = { readonly namespace?: string; readonly name: string; readonly port?: number };
type RouteLike = {
  readonly parentRefs?: readonly (ObjectRef & { readonly sectionName?: string })[];
  readonly hostnames?: readonly string[];
  readonly rules?: readonly { readonly backendRefs?: readonly (ObjectRef & { readonly weight?: number })[] }[];
};

/** PARENTS, HOSTNAMES and BACKENDS, as `sluicectl get httproutes` and `get grpcroutes` print them. */
const ROUTE_COLUMNS: readonly Column<RouteLike>[] = [
  { name: 'PARENTS', value: (r) => (r.spec?.parentRefs ?? []).map(parentText).join(',') || '<none>' },
  { name: 'HOSTNAMES', value: (r) => (r.spec?.hostnames ?? []).join(',') || '*', jsonPath: '.spec.hostnames' },
  { name: 'BACKENDS', value: (r) => (r.spec?.rules ?? []).map(backendsText).filter((t) => t !== '').join('; ') || '<none>' },
];

/** `orders`, `orders:http` (a port by name), `orders:8080`, `shop/orders` (another namespace). */
function parentText(p: ObjectRef & { readonly sectionName?: string }): string {
  const section = p.sectionName ?? p.port;
  return `${p.namespace === undefined ? '' : `${p.namespace}/`}${p.name}${section === undefined ? '' : `:${section}`}`;
}

/** One rule's backends, `orders-v1:8080 (90), orders-v2:8080 (10)`; a lone backend without its weight. */
function backendsText(rule: NonNullable<RouteLike['rules']>[number]): string {
  const refs = rule.backendRefs ?? [];
  return refs.map((b) => `${b.namespace === undefined ? '' : `${b.namespace}/`}${b.name}${b.port === undefined ? '' : `:${b.port}`}${refs.length > 1 ? ` (${b.weight ?? 1})` : ''}`).join(', ');
}

const ROUTE = { group: 'gateway.networking.k8s.io', version: 'v1', shortNames: [], scope: 'Namespaced', crd: false } as const;

export const httpRouteNames: KindNames<HTTPRouteSpec> = {
  ...ROUTE,
  kind: 'HTTPRoute',
  plural: 'httproutes',
  singular: 'httproute',
  // kubectl prints the route's status (its parents' conditions); a document copied from it still applies.
  extraFields: ['status'],
  description: 'Gateway API HTTP routing for the traffic to a Service (GAMMA): matches on path, headers, query and method; header changes, redirects, rewrites and mirroring; weighted backends and timeouts.',
  columns: ROUTE_COLUMNS,
};

export const grpcRouteNames: KindNames<GRPCRouteSpec> = {
  ...ROUTE,
  kind: 'GRPCRoute',
  plural: 'grpcroutes',
  singular: 'grpcroute',
  extraFields: ['status'],
  description: 'Gateway API gRPC routing for the traffic to a Service (GAMMA): matches on service, method and headers; header changes and mirroring; weighted backends.',
  columns: ROUTE_COLUMNS,
};

// --- policies ---

type Targeted = { readonly targetRefs?: readonly { readonly kind: string; readonly name: string; readonly sectionName?: string }[] };

/** `Service/orders, HTTPRoute/web#rule-a`. */
const TARGETS: Column<Targeted> = {
  name: 'TARGETS',
  value: (r) => (r.spec?.targetRefs ?? []).map((t) => `${t.kind}/${t.name}${t.sectionName === undefined ? '' : `#${t.sectionName}`}`).join(', '),
};

const percent = (p: number | undefined) => (p === undefined || p === 100 ? '' : ` (${p}%)`);

const POLICY = { group: 'mesh.sluice.dev', version: 'v1alpha1', scope: 'Namespaced', crd: true } as const;

export const retryPolicyNames: KindNames<RetryPolicySpec> = {
  ...POLICY,
  kind: 'RetryPolicy',
  plural: 'retrypolicies',
  singular: 'retrypolicy',
  shortNames: ['rp'],
  description: 'Retries, timeouts and the retry budget of requests to a Service, or through a route or one of its rules.',
  columns: [
    TARGETS,
    { name: 'ATTEMPTS', value: (r) => String(r.spec?.attempts ?? DEFAULT_RETRY.attempts), jsonPath: '.spec.attempts', type: 'integer' },
    { name: 'PER TRY', value: (r) => r.spec?.timeouts?.perTry ?? '-', jsonPath: '.spec.timeouts.perTry' },
  ],
};

export const circuitBreakerPolicyNames: KindNames<CircuitBreakerPolicySpec> = {
  ...POLICY,
  kind: 'CircuitBreakerPolicy',
  plural: 'circuitbreakerpolicies',
  singular: 'circuitbreakerpolicy',
  shortNames: ['cbp'],
  description: "Connection and request limits, outlier detection and active health checks of a Service's endpoints.",
  columns: [
    TARGETS,
    { name: 'MAX CONNECTIONS', value: (r) => String(r.spec?.limits?.maxConnections ?? DEFAULT_LIMITS.maxConnections), jsonPath: '.spec.limits.maxConnections', type: 'integer' },
    // Outlier detection is on by default; `disabled` is the only way to turn it off.
    { name: 'OUTLIER DETECTION', value: (r) => (r.spec?.outlierDetection?.disabled === true ? 'off' : 'on') },
  ],
};

export const faultInjectionPolicyNames: KindNames<FaultInjectionPolicySpec> = {
  ...POLICY,
  kind: 'FaultInjectionPolicy',
  plural: 'faultinjectionpolicies',
  singular: 'faultinjectionpolicy',
  shortNames: ['fip'],
  description: 'Delays and aborts injected into a share of the requests through a route or one of its rules, to test how callers cope.',
  columns: [
    TARGETS,
    { name: 'DELAY', value: (r) => (r.spec?.delay === undefined ? '-' : `${r.spec.delay.fixedDelay}${percent(r.spec.delay.percent)}`) },
    {
      name: 'ABORT',
      value: (r) => {
        const a = r.spec?.abort;
        if (a === undefined) return '-';
        return `${a.httpStatus === undefined ? `grpc ${a.grpcStatus}` : String(a.httpStatus)}${percent(a.percent)}`;
      },
    },
  ],
};

export const loadBalancingPolicyNames: KindNames<LoadBalancingPolicySpec> = {
  ...POLICY,
  kind: 'LoadBalancingPolicy',
  plural: 'loadbalancingpolicies',
  singular: 'loadbalancingpolicy',
  shortNames: ['lbp'],
  description:
    'How calls to a Service pick its endpoints: the balancer (LeastRequest, RoundRobin, RingHash, Maglev), what a consistent hash is taken of (a header, a cookie, the caller\'s IP), and the locality failover threshold.',
  columns: [
    TARGETS,
    { name: 'TYPE', value: (r) => r.spec?.type ?? '-', jsonPath: '.spec.type' },
    { name: 'HASH ON', value: (r) => (r.spec?.hashOn === undefined ? '-' : r.spec.hashOn.type === 'SourceIP' ? 'SourceIP' : `${r.spec.hashOn.type} ${r.spec.hashOn.name ?? ''}`) },
    { name: 'FAILOVER', value: (r) => (r.spec?.failoverThreshold === undefined ? '-' : `${r.spec.failoverThreshold}%`), jsonPath: '.spec.failoverThreshold', type: 'integer' },
  ],
};

export const authorizationPolicyNames: KindNames<AuthorizationPolicySpec> = {
  ...POLICY,
  kind: 'AuthorizationPolicy',
  plural: 'authorizationpolicies',
  singular: 'authorizationpolicy',
  shortNames: ['ap'],
  description: "Which peers and requests a Service's workloads accept (ALLOW) or refuse (DENY), by SPIFFE identity, namespace, JWT principal, method, path, host, header and claim.",
  columns: [TARGETS, { name: 'ACTION', value: (r) => r.spec?.action ?? 'ALLOW', jsonPath: '.spec.action' }, { name: 'RULES', value: (r) => String(r.spec?.rules?.length ?? 0) }],
};

export const requestAuthenticationNames: KindNames<RequestAuthenticationSpec> = {
  ...POLICY,
  kind: 'RequestAuthentication',
  plural: 'requestauthentications',
  singular: 'requestauthentication',
  shortNames: ['ra'],
  description: "Which end-user JWTs a Service's workloads accept: issuers, audiences and their keys (jwksUri or inline jwks).",
  columns: [TARGETS, { name: 'ISSUERS', value: (r) => (r.spec?.jwtRules ?? []).map((j) => j.issuer).join(', ') }],
};

/** Every kind, in the order `get all` and `api-resources` list them. */
export const KIND_NAMES: readonly KindNames<any>[] = [
  meshNames,
  serviceNames,
  workloadNames,
  httpRouteNames,
  grpcRouteNames,
  retryPolicyNames,
  circuitBreakerPolicyNames,
  faultInjectionPolicyNames,
  loadBalancingPolicyNames,
  authorizationPolicyNames,
  requestAuthenticationNames,
];

/** `sluicectl get <name>`: the kind, its plural or singular, a short name; any case. */
export function findKind(name: string): KindNames<unknown> | undefined {
  const n = name.toLowerCase();
  return KIND_NAMES.find((k) => k.kind.toLowerCase() === n || k.plural === n || k.singular === n || k.shortNames.includes(n));
}

export function kindByType(type: string): KindNames<unknown> | undefined {
  return KIND_NAMES.find((k) => resourceTypeOf(k) === type);
}

export function kindByApiVersion(apiVersion: string, kind: string): KindNames<unknown> | undefined {
  return KIND_NAMES.find((k) => k.kind === kind && apiVersionOf(k) === apiVersion);
}

/** The kind a document declares, or a violation saying which kinds exist. */
export function kindOf(doc: unknown): { kind?: KindNames<unknown>; violations: Violation[] } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { violations: [{ path: '(document)', message: `must be a mapping with apiVersion, kind, metadata and spec; got ${describeValue(doc)}` }] };
  const { apiVersion, kind } = doc as Record<string, unknown>;
  const violations: Violation[] = [];
  if (typeof apiVersion !== 'string') violations.push({ path: 'apiVersion', message: apiVersion === undefined ? 'is required' : `must be a string; got ${describeValue(apiVersion)}` });
  if (typeof kind !== 'string') violations.push({ path: 'kind', message: kind === undefined ? 'is required' : `must be a string; got ${describeValue(kind)}` });
  if (violations.length > 0) return { violations };
  const sameKind = KIND_NAMES.filter((k) => k.kind === kind);
  if (sameKind.length === 0) {
    const hint = didYouMean(kind as string, KIND_NAMES.map((k) => k.kind));
    return { violations: [{ path: 'kind', message: `unknown kind '${kind}'${hint === undefined ? `; known kinds: ${KIND_NAMES.map((k) => k.kind).join(', ')}` : `; did you mean '${hint}'?`}` }] };
  }
  const found = sameKind.find((k) => apiVersionOf(k) === apiVersion);
  if (found === undefined) return { violations: [{ path: 'apiVersion', message: `${kind} is served as ${sameKind.map(apiVersionOf).join(' or ')}; got '${apiVersion}'` }] };
  return { kind: found, violations };
}
