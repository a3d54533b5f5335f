// CircuitBreakerPolicy -> Envoy's fields on the Service's clusters (xds/SUBSET.md,
// "CircuitBreakerPolicy"), so a Sluice proxy, an Envoy or a proxyless gRPC client reading
// them limits, ejects and checks alike:
//
// - `limits` -> `circuit_breakers.thresholds[0]` (priority DEFAULT): max_connections,
//   max_pending_requests, max_requests, max_retries, all four resolved (Envoy's default
//   max_retries is 3, a Sluice proxy's 64). The threshold is shared with RetryPolicy's
//   retry_budget (policies/thresholds.ts);
// - `outlierDetection` -> `outlier_detection`, with every enforcing_* at 100 (on) or 0
//   (off), since Envoy leaves consecutive gateway failures unenforced and success rate
//   enforced unless told; `disabled` is all three at 0. always_eject_one_host and
//   successful_active_health_check_uneject_host say what a Sluice proxy does. A cluster
//   with endpoints in another zone than some caller's counts connection failures apart and
//   ejects on two in a row (split_external_local_origin_errors), with or without a policy
//   (CROSS_ZONE_OUTLIER, spansZones);
// - `healthCheck` -> one `health_checks[]` http_health_check, its expected_statuses
//   as Envoy's half-open ranges, no_traffic_interval = interval (a Sluice proxy checks at
//   the same pace with or without traffic), the Host the Service's name unless given; not
//   on a tcp port, where an HTTP check could only fail.
//
// Proxyless gRPC clients read only max_requests and the success-rate part of
// outlier_detection (gRFC A32, A50): they get those, and nothing else.
//
// A policy targets Services only (the API refuses route targets): clusters are per
// Service port, the one place Envoy keeps these fields.

import { healthCheckOf, limitsOf, outlierOf, type HealthCheck, type OutlierDetection } from '../../../../kinds/circuit-breaker-policy.ts';
import { DEFAULT_OUTLIER } from '../../../../kinds/resilience-defaults.ts';
import { PolicyAttachments } from '../../../../kinds/policy-attachment.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import type { CircuitBreakerSpec } from '../../../../kinds/resilience-specs.ts';
import type { Resource } from '../../../api/resource.ts';
import { duration, type Obj } from '../../generate/envoy.ts';
import type { MeshView } from '../../mesh-view.ts';
import type { ServicePortAt, XdsPolicy } from '../index.ts';
import { defaultThreshold } from '../thresholds.ts';

export type CircuitBreakerPolicyResource = Resource<CircuitBreakerSpec & { readonly targetRefs: readonly TargetRefLike[] }>;

const ON = 100;
const OFF = 0;

// Built once per view, by the first hook that needs it: generation runs per view, never per proxy.
const attachments = new WeakMap<MeshView, PolicyAttachments<CircuitBreakerSpec>>();

function serviceSpec(at: ServicePortAt): CircuitBreakerSpec | undefined {
  let a = attachments.get(at.view);
  if (a === undefined) {
    a = new PolicyAttachments(at.view.circuitBreakerPolicies.map((p) => ({ namespace: p.metadata.namespace ?? 'default', targetRefs: p.spec?.targetRefs ?? [], spec: p.spec! })));
    attachments.set(at.view, a);
  }
  return a.size === 0 ? undefined : a.on(at.service.namespace, 'Service', at.service.name);
}

export const circuitBreakerPolicy: XdsPolicy = {
  kind: 'CircuitBreakerPolicy',

  cluster(cluster, at) {
    const spec = serviceSpec(at);
    // Consecutive-failure ejection is a Sluice proxy's (and Envoy's), not gRPC's.
    const crossZone = at.flavor === 'proxy' && spansZones(at);
    if (spec === undefined) {
      if (crossZone) cluster.outlier_detection = outlierDetection(CROSS_ZONE_OUTLIER, false);
      return;
    }
    const limits = limitsOf(spec);
    const policyOutlier = outlierOf(spec);
    // The policy's detection, with connection failures counted apart: an unreachable zone goes out as fast as with no policy.
    const outlier = crossZone && policyOutlier !== null ? { ...policyOutlier, consecutiveLocalOriginFailures: CROSS_ZONE_OUTLIER.consecutiveLocalOriginFailures } : policyOutlier;
    if (at.flavor !== 'proxy') {
      defaultThreshold(cluster).max_requests = { value: limits.maxActiveRequests };
      // gRPC ejects on success rate only: without it, an outlier_detection would do nothing there.
      if (outlier?.successRate != null) cluster.outlier_detection = proxylessOutlier(outlier);
      return;
    }
    Object.assign(defaultThreshold(cluster), {
      max_connections: { value: limits.maxConnections },
      max_pending_requests: { value: limits.maxPendingRequests },
      max_requests: { value: limits.maxActiveRequests },
      max_retries: { value: limits.maxActiveRetries },
    });
    const check = healthCheckOf(spec);
    cluster.outlier_detection = outlierDetection(outlier, check !== null && at.port.protocol !== 'tcp');
    // An HTTP GET to a raw TCP port would fail every time and take every endpoint out: a tcp port gets no check.
    if (check !== null && at.port.protocol !== 'tcp') cluster.health_checks = [healthCheck(check, at.service.host)];
  },
};

/** null (off) is every detector unenforced: Envoy has no other way to say it, and no outlier_detection would be a Sluice proxy's default. */
export function outlierDetection(o: OutlierDetection | null, checked: boolean): Obj {
  if (o === null) return { enforcing_consecutive_5xx: { value: OFF }, enforcing_success_rate: { value: OFF }, enforcing_consecutive_gateway_failure: { value: OFF } };
  const out: Obj = {
    interval: duration(o.intervalMs),
    base_ejection_time: duration(o.baseEjectionMs),
    max_ejection_time: duration(o.maxEjectionMs),
    max_ejection_percent: { value: o.maxEjectionPercent },
    enforcing_consecutive_5xx: { value: o.consecutive5xx > 0 ? ON : OFF },
    enforcing_consecutive_gateway_failure: { value: o.consecutiveGatewayErrors > 0 ? ON : OFF },
    enforcing_success_rate: { value: o.successRate === null ? OFF : ON },
    // A Sluice proxy lets one of two or more endpoints be ejected whatever the percentage says.
    always_eject_one_host: { value: true },
  };
  if (o.consecutive5xx > 0) out.consecutive_5xx = { value: o.consecutive5xx };
  if (o.consecutiveGatewayErrors > 0) out.consecutive_gateway_failure = { value: o.consecutiveGatewayErrors };
  if (o.successRate !== null) Object.assign(out, successRate(o));
  // Envoy's default lets a passing health check end an ejection; a Sluice proxy keeps the two apart.
  if (checked) out.successful_active_health_check_uneject_host = { value: false };
  const localOrigin = o.consecutiveLocalOriginFailures ?? 0;
  if (localOrigin > 0) {
    out.split_external_local_origin_errors = true;
    out.consecutive_local_origin_failure = { value: localOrigin };
    out.enforcing_consecutive_local_origin_failure = { value: ON };
  }
  return out;
}

/**
 * What a cluster with endpoints in more than one zone gets with no policy: the no-policy
 * detection, and an endpoint whose connections are refused or time out twice in a row is
 * ejected (split_external_local_origin_errors, consecutive_local_origin_failure 2): a remote
 * zone's ingress that is down is out after two tries, not five. Ejections are short (5 s,
 * the n-th n times as long, at most 30 s, swept every second) so an ingress that comes back
 * is used again soon, and every endpoint may be ejected: the zones' failover levels, not a
 * cap, keep traffic flowing (README, "Failover across zones").
 */
export const CROSS_ZONE_OUTLIER: OutlierDetection & { readonly consecutiveLocalOriginFailures: number } = Object.freeze({
  ...DEFAULT_OUTLIER,
  intervalMs: 1000,
  baseEjectionMs: 5000,
  maxEjectionMs: 30_000,
  maxEjectionPercent: 100,
  consecutiveLocalOriginFailures: 2,
});

/**
 * Some caller has endpoints of this Service port in another zone: the port has an endpoint
 * in a zone, and either the mesh knows two or more zones (its Workloads' and endpoints') or
 * the port itself spans two (an endpoint of no zone counting as one). Clusters are shared
 * by every proxy, whatever its zone, so this is asked of the mesh, not of one caller.
 */
function spansZones(at: ServicePortAt): boolean {
  const own = new Set(at.port.endpoints.map((e) => e.zone ?? ''));
  if (own.size === 1 && own.has('')) return false;
  return own.size >= 2 || meshZones(at.view) >= 2;
}

// Once per view: every Service port asks.
const zoneCounts = new WeakMap<MeshView, number>();

function meshZones(view: MeshView): number {
  let n = zoneCounts.get(view);
  if (n === undefined) {
    const zones = new Set<string>();
    for (const w of view.workloads.values()) if (w.spec?.zone !== undefined) zones.add(w.spec.zone);
    for (const svc of view.services.values()) for (const sp of svc.ports) for (const e of sp.endpoints) if (e.zone !== undefined) zones.add(e.zone);
    zoneCounts.set(view, (n = zones.size));
  }
  return n;
}

function proxylessOutlier(o: OutlierDetection): Obj {
  return {
    interval: duration(o.intervalMs),
    base_ejection_time: duration(o.baseEjectionMs),
    max_ejection_time: duration(o.maxEjectionMs),
    max_ejection_percent: { value: o.maxEjectionPercent },
    enforcing_success_rate: { value: ON },
    ...successRate(o),
  };
}

function successRate(o: OutlierDetection): Obj {
  const sr = o.successRate!;
  return { success_rate_minimum_hosts: { value: sr.minimumHosts }, success_rate_request_volume: { value: sr.requestVolume }, success_rate_stdev_factor: { value: sr.stdevFactor } };
}

/** Envoy's Int64Range is half-open: [from, to] inclusive is { start: from, end: to + 1 }. */
export function healthCheck(h: HealthCheck, host: string): Obj {
  return {
    timeout: duration(h.timeoutMs),
    interval: duration(h.intervalMs),
    no_traffic_interval: duration(h.intervalMs),
    unhealthy_threshold: { value: h.unhealthyThreshold },
    healthy_threshold: { value: h.healthyThreshold },
    http_health_check: { host: h.host ?? host, path: h.path, expected_statuses: h.expectedStatuses.map(([from, to]) => ({ start: String(from), end: String(to + 1) })) },
  };
}
