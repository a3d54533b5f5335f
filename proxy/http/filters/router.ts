// The terminal handler: rule -> backend (weighted) -> the tries at that backend (retry
// policy, circuit breaker, load balancer) -> upstream.

import type { BackendRef, RetryPolicy, RouteRule } from '../../config/model.ts';
import { SluiceError } from '../../errors.ts';
import type { Cluster, EndpointState } from '../../upstream/index.ts';
import type { InFlight, TryOutcome } from '../../upstream/forward.ts';
import { sendWithRetries } from '../../upstream/resilience/attempts.ts';
import type { ProxyResponse, RequestContext } from '../context.ts';
import type { Handler } from '../filter.ts';
import { applyHeaderModifier } from './header-modifier.ts';
import { PEER_METADATA_HEADER } from '../headers.ts';

export type RouterDeps = {
  readonly clusters: { get(name: string): Cluster | undefined };
  /** Sends one try; `outcome` hears how it ended, once (upstream/forward.ts send). */
  readonly forward: (ctx: RequestContext, endpoint: EndpointState, backend: InFlight | null, outcome: TryOutcome) => void;
  /** Injected so tests can make weighted picks, mirror shares and backoff deterministic. */
  readonly random: () => number;
  /** Sent as x-sluice-peer to backends that are peer proxies (mTLS): who this proxy is, for their metrics. */
  readonly peerMetadata?: string;
};

export function routerHandler(deps: RouterDeps): Handler {
  const send = sender(deps);
  return (ctx) => {
    const ref = ctx.route?.pickBackend(deps.random);
    if (ref === undefined) return Promise.reject(new SluiceError('NO_HEALTHY_UPSTREAM', 'the route has no backend with weight above 0'));
    ctx.backend = ref.name;
    if (ref.filters === undefined) return send(ctx, ref);
    return withBackendFilters(ctx, ref, send);
  };
}

/** A backendRef's own header changes: after the rule's on the way in, before them on the way out (the rule's filters wrap the router). */
async function withBackendFilters(ctx: RequestContext, ref: BackendRef, send: (ctx: RequestContext, ref: BackendRef) => Promise<ProxyResponse>): Promise<ProxyResponse> {
  for (const f of ref.filters!) if (f.type === 'RequestHeaderModifier') applyHeaderModifier(ctx.headers, f.requestHeaderModifier);
  const res = await send(ctx, ref);
  for (const f of ref.filters!) if (f.type === 'ResponseHeaderModifier') applyHeaderModifier(res.headers, f.responseHeaderModifier);
  return res;
}

function sender(deps: RouterDeps): (ctx: RequestContext, ref: BackendRef) => Promise<ProxyResponse> {
  // The policy for a (rule, backend) pair, merged once per config: the cluster object is
  // new on every reload, so the cache forgets old configs by itself.
  const merged = new WeakMap<Cluster, WeakMap<RouteRule, RetryPolicy>>();
  return (ctx, ref) => {
    const cluster = deps.clusters.get(ref.name);
    if (cluster === undefined) return Promise.reject(new SluiceError('BACKEND_NOT_FOUND', `backend '${ref.name}' is not defined`));
    if (deps.peerMetadata !== undefined && cluster.config.tls !== null) ctx.headers[PEER_METADATA_HEADER] = deps.peerMetadata;
    const rule = ctx.route!.rule;
    // Most rules override nothing: they use the backend's policy as it is, with no lookup.
    if (!overrides(rule)) return sendWithRetries(ctx, cluster, cluster.config.retry, deps);
    let byRule = merged.get(cluster);
    if (byRule === undefined) merged.set(cluster, (byRule = new WeakMap()));
    let policy = byRule.get(rule);
    if (policy === undefined) byRule.set(rule, (policy = effectivePolicy(cluster.config.retry, rule)));
    return sendWithRetries(ctx, cluster, policy, deps);
  };
}

/**
 * The backend's policy, overridden by what a route's policy sets, and the rule's own
 * Gateway API `timeouts.backendRequest` (the per-try timeout) over both.
 */
export function effectivePolicy(backend: RetryPolicy, rule: RouteRule): RetryPolicy {
  if (!overrides(rule)) return backend;
  const perTry = rule.timeouts.backendRequest;
  return { ...backend, ...rule.retry, ...(perTry === undefined ? {} : { perTryTimeoutMs: perTry }) };
}

function overrides(rule: RouteRule): boolean {
  return rule.retry !== undefined || rule.timeouts.backendRequest !== undefined;
}
