// RetryPolicy -> Envoy's fields (xds/SUBSET.md, "RetryPolicy"), so a Sluice proxy, an Envoy
// or a proxyless gRPC client reading them retries alike:
//
// - a policy on a Service governs calls to it: the `retry_policy` and
//   `per_request_buffer_limit_bytes` of the Service port's virtual host; its budget and its
//   connection timeouts go on the Service's clusters (`circuit_breakers.thresholds[].retry_budget`,
//   `connect_timeout`, the HTTP protocol options' `idle_timeout`);
// - a policy on a route, or on one rule (`sectionName`), overrides the Service's field by
//   field. Envoy's route-level retry_policy replaces the virtual host's whole, so a route
//   that any route or rule policy names gets the merged policy (defaults, Service, route,
//   rule); the rule's Gateway API `timeouts.backendRequest` is its per_try_timeout over all;
// - `timeouts.request` has no virtual-host field in Envoy: it shortens each route's
//   `timeout` (the rule's own `timeouts.request`, when that is shorter, stays);
// - every retry_policy carries the retry priority previous_priorities (update_frequency 1):
//   a retry after a try failed in the caller's zone goes to the next zone (priority).
//
// Which policy is on which target is kinds/policy-attachment.ts, shared with the static file.

import { overlay, PolicyAttachments } from '../../../../kinds/policy-attachment.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import { DEFAULT_RETRY, IDEMPOTENT_METHODS } from '../../../../kinds/resilience-defaults.ts';
import type { RetrySpec } from '../../../../kinds/resilience-specs.ts';
import { retryBudget, retryFields, type RetryPolicy } from '../../../../kinds/retry-policy.ts';
import { parseDuration } from '../../../../kinds/schema-kit.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../../xds/index.ts';
import type { Resource } from '../../../api/resource.ts';
import { duration, type Obj } from '../../generate/envoy.ts';
import type { MeshView } from '../../mesh-view.ts';
import type { RouteAt, ServicePortAt, XdsPolicy } from '../index.ts';
import { defaultThreshold } from '../thresholds.ts';

export type RetryPolicyResource = Resource<RetrySpec & { readonly targetRefs: readonly TargetRefLike[] }>;

/** Every gRPC call is a POST, and is retried on the gRPC statuses the policy names whatever the method. */
export const GRPC_CONTENT_TYPE = 'application/grpc';
/** Istio's value: host selection is tried this many times to find an endpoint not tried yet. */
export const HOST_SELECTION_ATTEMPTS = 5;
export const PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
/** A retry goes past the priority (zone) the try before failed on: with update_frequency 1, every earlier try's. */
export const PREVIOUS_PRIORITIES = 'envoy.retry_priorities.previous_priorities';
const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

// Built once per view, by the first hook that needs it: generation runs per view, never per proxy.
const attachments = new WeakMap<MeshView, PolicyAttachments<RetrySpec>>();

function attached(view: MeshView): PolicyAttachments<RetrySpec> {
  let a = attachments.get(view);
  if (a === undefined) {
    a = new PolicyAttachments(view.retryPolicies.map((p) => ({ namespace: p.metadata.namespace ?? 'default', targetRefs: p.spec?.targetRefs ?? [], spec: p.spec! })));
    attachments.set(view, a);
  }
  return a;
}

const serviceSpec = (at: ServicePortAt): RetrySpec | undefined => {
  const a = attached(at.view);
  return a.size === 0 ? undefined : a.on(at.service.namespace, 'Service', at.service.name);
};

export const retryPolicy: XdsPolicy = {
  kind: 'RetryPolicy',

  virtualHost(vh, at) {
    const spec = serviceSpec(at);
    if (spec === undefined) return;
    Object.assign(vh, retryOf({ ...DEFAULT_RETRY, ...retryFields(spec) }));
  },

  route(route, at) {
    const backendRequest = backendRequestMs(at);
    const a = attached(at.view);
    if (a.size === 0 && backendRequest === undefined) return;
    const service = a.on(at.service.namespace, 'Service', at.service.name);
    const r = at.route;
    // Policies attach in their own namespace; a producer route is in its Service's.
    const nearer = r === undefined ? [] : a.layers({ namespace: r.resource.metadata.namespace ?? 'default', route: { kind: r.kind, name: r.resource.metadata.name, rule: r.rule.name } });
    const fields = overlay([service, ...nearer].map(retryFields));
    const action = route.route as Obj;
    if (fields.requestTimeoutMs !== undefined) action.timeout = duration(shorter(timeoutMs(action.timeout), fields.requestTimeoutMs));
    // Nothing nearer than the Service: the virtual host's policy is this route's.
    if (nearer.length === 0 && backendRequest === undefined) return;
    const policy: RetryPolicy = { ...DEFAULT_RETRY, ...fields, ...(backendRequest === undefined ? {} : { perTryTimeoutMs: backendRequest }) };
    const { retry_policy, per_request_buffer_limit_bytes } = retryOf(policy);
    action.retry_policy = retry_policy;
    route.per_request_buffer_limit_bytes = per_request_buffer_limit_bytes;
  },

  cluster(cluster, at) {
    const spec = serviceSpec(at);
    if (spec === undefined) return;
    const budget = retryBudget(spec);
    // One threshold, the default priority: a Sluice proxy has no other. CircuitBreakerPolicy sets its limits there too.
    defaultThreshold(cluster).retry_budget = { budget_percent: { value: budget.percent }, min_retry_concurrency: { value: budget.minRetriesPerSecond } };
    const connect = spec.timeouts?.connect;
    if (connect !== undefined) cluster.connect_timeout = duration(parseDuration(connect));
    const idle = spec.timeouts?.idle;
    // gRPC clients keep no idle HTTP/1 pool: only Sluice proxies get the protocol options.
    if (idle !== undefined && at.flavor === 'proxy') {
      const http2 = at.port.protocol === 'grpc' || at.port.protocol === 'http2';
      const options = { common_http_protocol_options: { idle_timeout: duration(parseDuration(idle)) }, explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} } };
      cluster.typed_extension_protocol_options = { ...(cluster.typed_extension_protocol_options as Obj | undefined), [HTTP_OPTIONS_KEY]: pack(EMBEDDED_TYPE_URLS.HttpProtocolOptions, options) };
    }
  },
};

/**
 * A resolved policy as Envoy's RetryPolicy, and the buffer limit that goes beside it.
 * `attempts: 0` is a policy with no `retry_on` (nothing is retried): gRPC refuses
 * `num_retries: 0`, Envoy and a Sluice proxy read both the same.
 */
export function retryOf(p: RetryPolicy): { retry_policy: Obj; per_request_buffer_limit_bytes: Obj } {
  const retry: Obj = {};
  const retries = p.attempts > 0 && p.retryOn.length > 0;
  if (retries) {
    retry.retry_on = p.retryOn.join(',');
    retry.num_retries = { value: p.attempts };
  }
  if (p.perTryTimeoutMs !== undefined) retry.per_try_timeout = duration(p.perTryTimeoutMs);
  retry.retry_host_predicate = [{ name: PREVIOUS_HOSTS, typed_config: pack(EMBEDDED_TYPE_URLS.PreviousHostsPredicate, {}) }];
  retry.host_selection_retry_max_attempts = HOST_SELECTION_ATTEMPTS;
  // Failover for retries: when the local zone's try failed, the next try goes to the next zone, even before the local endpoints are ejected.
  retry.retry_priority = { name: PREVIOUS_PRIORITIES, typed_config: pack(EMBEDDED_TYPE_URLS.PreviousPrioritiesConfig, { update_frequency: 1 }) };
  // Sent whenever there are retries: without retriable-status-codes in retry_on, Envoy and a Sluice proxy both leave them unread.
  if (retries && p.retriableStatusCodes.length > 0) retry.retriable_status_codes = [...p.retriableStatusCodes];
  retry.retry_back_off = { base_interval: duration(p.backoffBaseMs), max_interval: duration(p.backoffMaxMs) };
  if (!p.retryNonIdempotent) {
    retry.retriable_request_headers = [
      { name: ':method', string_match: { safe_regex: { regex: IDEMPOTENT_METHODS.join('|') } } },
      { name: 'content-type', string_match: { prefix: GRPC_CONTENT_TYPE } },
    ];
  }
  return { retry_policy: retry, per_request_buffer_limit_bytes: { value: p.bufferLimitBytes } };
}

/** The rule's Gateway API per-try timeout, when it sets one (0s is none). */
function backendRequestMs(at: RouteAt): number | undefined {
  const text = at.route?.kind === 'HTTPRoute' ? at.route.rule.timeouts?.backendRequest : undefined;
  const ms = text === undefined ? 0 : parseDuration(text);
  return ms > 0 ? ms : undefined;
}

/** A route's `timeout` in ms; 0 is none. Unset (Envoy's 15 s, on the default route) is replaced by the policy's. */
function timeoutMs(d: unknown): number {
  if (d === undefined) return 0;
  const { seconds, nanos } = d as { seconds: string; nanos: number };
  return Number(seconds) * 1000 + Math.round(nanos / 1e6);
}

/** 0 is none: anything is shorter. */
function shorter(a: number, b: number): number {
  return a === 0 ? b : Math.min(a, b);
}
