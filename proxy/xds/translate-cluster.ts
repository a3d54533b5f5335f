// Cluster -> Backend, ClusterLoadAssignment -> its endpoints. What xDS does not say (retries,
// budgets, circuit breaking, outlier detection) gets the defaults a static config gets with
// no policy, so a backend behaves the same whichever source described it. A RetryPolicy on
// a Service sets its clusters' retry budget, connect and idle timeouts (translate-retry.ts);
// a CircuitBreakerPolicy its limits, outlier detection and health check (translate-circuit-breaker.ts);
// a LoadBalancingPolicy its lb_policy and its assignment's overprovisioning factor (translate-lb.ts).

import { DEFAULT_RETRY } from '../../kinds/resilience-defaults.ts';
import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import type { Backend, Endpoint, EndpointWorkload } from '../config/model.ts';
import { ADDRESS, ADS_SOURCE, anyValue, DURATION, durationMs, EMPTY, enumOf, mapOf, message, readTyped, requireAds, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';
import type { Context } from './translate.ts';
import { CIRCUIT_BREAKERS, HEALTH_CHECK, OUTLIER_DETECTION, translateHealthChecks, translateLimits, translateOutlier } from './translate-circuit-breaker.ts';
import { translateRetryBudget } from './translate-retry.ts';
import { ASSIGNMENT_POLICY, failoverThreshold, LB_POLICIES, MAGLEV_LB_CONFIG, RING_HASH_LB_CONFIG, translateLbPolicy } from './translate-lb.ts';
import { upstreamTls } from './translate-tls.ts';

/** A ClusterLoadAssignment read: its endpoints, and the failover threshold its policy sets. */
export type Assignment = { readonly endpoints: readonly Endpoint[]; readonly failoverThreshold?: number };

/** The highest failover level, as a static file's endpoint `priority` allows. */
const MAX_PRIORITY = 16;

/** A static backend's default: Envoy's overprovisioning factor of 1.4 (140), as a threshold. */
const DEFAULT_FAILOVER_THRESHOLD = 71;

const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_OPTIONS = message({ common_http_protocol_options: message({ idle_timeout: DURATION }), explicit_http_config: message({ http_protocol_options: EMPTY, http2_protocol_options: EMPTY }) });
/** Upstream keep-alive connections idle this long are closed, when the cluster does not say. */
const DEFAULT_IDLE_MS = 60_000;

export const ASSIGNMENT = message({
  cluster_name: scalar,
  endpoints: message({
    locality: message({ zone: scalar }),
    priority: scalar,
    load_balancing_weight: WRAPPED,
    lb_endpoints: message({ endpoint: message({ address: ADDRESS }), load_balancing_weight: WRAPPED, metadata: message({ filter_metadata: mapOf(anyValue) }) }),
  }),
  policy: ASSIGNMENT_POLICY,
});

export const CLUSTER = message({
  name: scalar,
  type: enumOf('EDS', 'STATIC', 'ORIGINAL_DST'),
  eds_cluster_config: message({ eds_config: ADS_SOURCE, service_name: scalar }),
  connect_timeout: DURATION,
  lb_policy: enumOf(...Object.keys(LB_POLICIES), 'CLUSTER_PROVIDED'),
  ring_hash_lb_config: RING_HASH_LB_CONFIG,
  maglev_lb_config: MAGLEV_LB_CONFIG,
  load_assignment: ASSIGNMENT,
  typed_extension_protocol_options: mapOf(anyValue),
  transport_socket: message({ name: scalar, typed_config: anyValue }),
  circuit_breakers: CIRCUIT_BREAKERS,
  outlier_detection: OUTLIER_DETECTION,
  health_checks: HEALTH_CHECK,
});

/** The ClusterLoadAssignment an EDS cluster reads (its service_name, else its name); undefined for a STATIC one. */
export function edsName(cluster: Pb): string | undefined {
  if (cluster.type !== 'EDS') return undefined;
  const service = cluster.eds_cluster_config?.service_name;
  return typeof service === 'string' && service !== '' ? service : String(cluster.name ?? '');
}

/**
 * `assignmentOf` gives a received ClusterLoadAssignment, translated, or undefined when
 * none of that name was received.
 */
export function translateCluster(c: Pb, ctx: Context, assignmentOf: (name: string) => Assignment | undefined, sink: Sink): Backend {
  const name = String(c.name);
  let assignment: Assignment = { endpoints: [] };
  const originalDst = c.type === 'ORIGINAL_DST';
  if (originalDst) {
    // Where each connection goes is its own original destination: nothing to balance, nothing to list.
    if (c.lb_policy !== 'CLUSTER_PROVIDED') sink.add('lb_policy', `must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster (as Envoy requires); got ${c.lb_policy ?? 'ROUND_ROBIN'}`);
    for (const f of ['eds_cluster_config', 'load_assignment', 'transport_socket', 'health_checks', 'typed_extension_protocol_options']) {
      if (c[f] !== undefined) sink.add(f, 'is not read for an ORIGINAL_DST cluster: each connection goes on, as it came, to where it was going');
    }
  } else if (c.lb_policy === 'CLUSTER_PROVIDED') {
    sink.add('lb_policy', 'CLUSTER_PROVIDED is for ORIGINAL_DST clusters only');
  } else if (c.type === 'EDS') {
    requireAds(c.eds_cluster_config?.eds_config, sink, 'eds_cluster_config.eds_config');
    const service = c.eds_cluster_config?.service_name;
    if (service !== undefined && service !== '' && service !== name) sink.add('eds_cluster_config.service_name', `must be the cluster's name ('${name}') or unset; got '${service}'`);
    if (c.load_assignment !== undefined) sink.add('load_assignment', 'an EDS cluster takes its endpoints from its ClusterLoadAssignment; load_assignment is for STATIC clusters');
    const received = assignmentOf(edsName(c) ?? name);
    if (received !== undefined) assignment = received;
    else if (ctx.refs !== null) sink.add('eds_cluster_config', `no ClusterLoadAssignment '${edsName(c)}' was received`);
  } else if (c.load_assignment === undefined) {
    sink.add('load_assignment', 'required for a STATIC cluster (or set type: EDS)');
  } else {
    if (c.eds_cluster_config !== undefined) sink.add('eds_cluster_config', 'is for EDS clusters; this one is STATIC');
    assignment = translateAssignment(c.load_assignment, sink.at('load_assignment'));
  }
  let connectTimeoutMs = 5000;
  if (c.connect_timeout !== undefined) {
    const ms = durationMs(c.connect_timeout, sink, 'connect_timeout');
    if (ms === 0) sink.add('connect_timeout', 'must be more than 0s');
    else if (ms !== undefined) connectTimeoutMs = ms;
  }
  const http = httpOptions(c.typed_extension_protocol_options, sink);
  const healthCheck = translateHealthChecks(c.health_checks, sink.at('health_checks'));
  return {
    name,
    protocol: http.protocol,
    loadBalancer: originalDst ? 'round-robin' : translateLbPolicy(c, sink),
    failoverThreshold: assignment.failoverThreshold ?? DEFAULT_FAILOVER_THRESHOLD,
    connectTimeoutMs,
    idleTimeoutMs: http.idleTimeoutMs,
    endpoints: assignment.endpoints,
    retry: { ...DEFAULT_RETRY },
    retryBudget: translateRetryBudget(c.circuit_breakers, sink.at('circuit_breakers')),
    limits: translateLimits(c.circuit_breakers, sink.at('circuit_breakers')),
    outlierDetection: translateOutlier(c.outlier_detection, healthCheck !== null, sink.at('outlier_detection')),
    healthCheck,
    tls: c.transport_socket === undefined || originalDst ? null : (upstreamTls(c.transport_socket, name, ctx, sink.at('transport_socket')) ?? null),
    ...(originalDst ? { originalDst: true } : {}),
  };
}

function httpOptions(options: Pb | undefined, sink: Sink): { protocol: 'http1' | 'http2'; idleTimeoutMs: number } {
  const result: { protocol: 'http1' | 'http2'; idleTimeoutMs: number } = { protocol: 'http1', idleTimeoutMs: DEFAULT_IDLE_MS };
  for (const [key, any] of Object.entries(options ?? {})) {
    const path = `typed_extension_protocol_options[${JSON.stringify(key)}]`;
    if (key !== HTTP_OPTIONS_KEY) {
      sink.add(path, `unknown protocol options; a Sluice proxy reads only ${HTTP_OPTIONS_KEY}`);
      continue;
    }
    const opts = readTyped(any, EMBEDDED_TYPE_URLS.HttpProtocolOptions, HTTP_OPTIONS, sink, path);
    if (opts === undefined) continue;
    const explicit: Pb | undefined = opts.explicit_http_config;
    if (explicit?.http2_protocol_options !== undefined) result.protocol = 'http2';
    else if (explicit?.http_protocol_options === undefined) sink.add(`${path}.explicit_http_config`, 'required: { http2_protocol_options: {} } or { http_protocol_options: {} }');
    const idle = opts.common_http_protocol_options?.idle_timeout;
    if (idle !== undefined) {
      const ms = durationMs(idle, sink, `${path}.common_http_protocol_options.idle_timeout`);
      // Envoy reads 0s as "never"; a Sluice proxy always closes idle connections in the end.
      if (ms === 0) sink.add(`${path}.common_http_protocol_options.idle_timeout`, 'must be above 0: a Sluice proxy keeps no upstream connection open forever');
      else if (ms !== undefined) result.idleTimeoutMs = ms;
    }
  }
  return result;
}

/** The filter_metadata key the control plane names an endpoint's Workload under (xds/SUBSET.md). */
export const ENDPOINT_METADATA = 'sluice.dev';

/**
 * `metadata.filter_metadata["sluice.dev"]`: { workload, namespace, principal } strings, what
 * the mesh metrics label the destination with. Any other key is a NACK: nothing here reads it.
 */
function endpointWorkload(metadata: Pb | undefined, sink: Sink, path: string): EndpointWorkload | undefined {
  for (const key of Object.keys(metadata?.filter_metadata ?? {})) {
    if (key !== ENDPOINT_METADATA) sink.add(`${path}.filter_metadata["${key}"]`, `not read by Sluice proxies: only "${ENDPOINT_METADATA}" is`);
  }
  const struct = metadata?.filter_metadata?.[ENDPOINT_METADATA];
  if (struct === undefined) return undefined;
  const at = `${path}.filter_metadata["${ENDPOINT_METADATA}"]`;
  const fields = (struct.fields ?? {}) as Record<string, Pb>;
  const text = (key: string, required: boolean): string | undefined => {
    const v = fields[key];
    if (v === undefined) {
      if (required) sink.add(`${at}.${key}`, 'required: a string');
      return undefined;
    }
    if (typeof v.stringValue !== 'string' || v.stringValue === '') {
      sink.add(`${at}.${key}`, 'must be a non-empty string');
      return undefined;
    }
    return v.stringValue;
  };
  for (const key of Object.keys(fields)) if (!['workload', 'namespace', 'principal'].includes(key)) sink.add(`${at}.${key}`, 'not read by Sluice proxies: workload, namespace and principal are');
  const name = text('workload', true);
  const namespace = text('namespace', true);
  const principal = text('principal', false);
  if (name === undefined || namespace === undefined) return undefined;
  return principal === undefined ? { name, namespace } : { name, namespace, principal };
}

/**
 * Endpoints of one assignment, and its failover threshold. Each locality's `priority` is
 * its endpoints' failover level, as the control plane sent it (it knows the proxy's zone and
 * the Service's zone policy: xds/SUBSET.md, "ClusterLoadAssignment"); unset is 0, as in
 * Envoy, since proto3 cannot tell an unset priority from 0. Only a static file derives a
 * level from the zones (config/load-static.ts).
 */
export function translateAssignment(cla: Pb, sink: Sink): Assignment {
  const out: Endpoint[] = [];
  ((cla.endpoints ?? []) as Pb[]).forEach((locality, i) => {
    const at = sink.at(`endpoints[${i}]`);
    const z = locality.locality?.zone;
    const endpointZone = typeof z === 'string' && z !== '' ? z : undefined;
    const priority = Number(locality.priority ?? 0);
    if (!(Number.isInteger(priority) && priority >= 0 && priority <= MAX_PRIORITY)) at.add('priority', `must be 0-${MAX_PRIORITY} (a Sluice proxy's failover levels, as a static file's); got ${locality.priority}`);
    let sum = 0;
    ((locality.lb_endpoints ?? []) as Pb[]).forEach((lb, j) => {
      const path = `lb_endpoints[${j}]`;
      const socket = lb.endpoint?.address?.socket_address;
      const weight = lb.load_balancing_weight === undefined ? 1 : Number(lb.load_balancing_weight.value ?? 0);
      if (weight < 1) at.add(`${path}.load_balancing_weight`, 'must be at least 1');
      sum += weight;
      if (socket === undefined) {
        at.add(`${path}.endpoint.address.socket_address`, 'required: { address, port_value }');
        return;
      }
      const port = Number(socket.port_value ?? 0);
      if (typeof socket.address !== 'string' || socket.address === '') at.add(`${path}.endpoint.address.socket_address.address`, 'required');
      if (!(port >= 1 && port <= 65535)) at.add(`${path}.endpoint.address.socket_address.port_value`, `must be 1-65535; got ${port}`);
      const workload = endpointWorkload(lb.metadata, at, `${path}.metadata`);
      out.push({
        address: String(socket.address ?? ''),
        port,
        weight: Math.max(1, weight),
        ...(endpointZone === undefined ? {} : { zone: endpointZone }),
        ...(workload === undefined ? {} : { workload }),
        priority: Math.min(Math.max(0, Math.trunc(priority) || 0), MAX_PRIORITY),
      });
    });
    // The proxy weighs endpoints, not localities: a locality weight is honoured only as their sum (what gRPC needs).
    const declared = locality.load_balancing_weight;
    if (declared !== undefined && Number(declared.value ?? 0) !== sum) {
      at.add('load_balancing_weight', `must be the sum of its endpoints' weights (${sum}): a Sluice proxy balances over endpoints; got ${declared.value ?? 0}`);
    }
  });
  const threshold = failoverThreshold(cla.policy, sink);
  return threshold === undefined ? { endpoints: out } : { endpoints: out, failoverThreshold: threshold };
}
