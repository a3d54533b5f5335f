// Sluice's policy kinds (mesh.sluice.dev/v1alpha1): the resilience kinds RetryPolicy,
// CircuitBreakerPolicy and FaultInjectionPolicy, and the security kinds AuthorizationPolicy
// and RequestAuthentication. Each is a Kubernetes-shaped resource that attaches to what it
// governs by `targetRefs` (Gateway API policy attachment, GEP-713): a Backend, an HTTPRoute,
// one rule of a route (`sectionName`), or a Listener. This file holds the resilience kinds'
// spec schemas (the security kinds' live in authz-spec.ts and jwt-spec.ts), the checks a
// schema cannot express; resolve-policies.ts turns them into the model.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import Type, { type Static, type TSchema } from 'typebox';
import { authorizationSpecFields, checkAuthorization, type AuthorizationSpec } from './authz-spec.ts';
import { checkRequestAuthentication, requestAuthenticationSpecFields, type RequestAuthenticationSpec } from './jwt-spec.ts';
import type { ConnectionLimits, OutlierDetection, RetryBudget, RetryPolicy } from './model.ts';
import { RETRY_ON } from './model.ts';
import type { RawConfig, RawPolicy } from './schema.ts';
import { checkDurations, closed, Count, didYouMean, Duration, MAX_TIMER_MS, Name, Opt, parseDuration, Ref, structuralViolation, Text } from './schema.ts';

export const POLICY_API_VERSION = 'mesh.sluice.dev/v1alpha1';
const GROUPS = { Backend: 'mesh.sluice.dev', HTTPRoute: 'gateway.networking.k8s.io', Listener: 'mesh.sluice.dev' } as const;
type TargetKind = keyof typeof GROUPS;

const TargetRef = Type.Object({ group: Opt(Text), kind: Type.Enum(['Backend', 'HTTPRoute', 'Listener']), name: Ref, sectionName: Opt(Name) }, closed);
const TargetRefs = Type.Array(TargetRef, { minItems: 1 });
const Whole = (min = 0) => Type.Integer({ minimum: min, maximum: MAX_TIMER_MS });
const Percent = Type.Number({ minimum: 0, maximum: 100 });

const RetrySpec = Type.Object(
  {
    targetRefs: TargetRefs,
    attempts: Opt(Type.Integer({ minimum: 0, maximum: 10 })),
    retryOn: Opt(Type.Array(Type.Enum(RETRY_ON))),
    retriableStatusCodes: Opt(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }))),
    backoff: Opt(Type.Object({ baseInterval: Opt(Duration), maxInterval: Opt(Duration) }, closed)),
    retryNonIdempotent: Opt(Type.Boolean()),
    bufferLimitBytes: Opt(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024 })),
    timeouts: Opt(Type.Object({ request: Opt(Duration), perTry: Opt(Duration), connect: Opt(Duration), idle: Opt(Duration) }, closed)),
    budget: Opt(Type.Object({ percent: Opt(Type.Integer({ minimum: 0, maximum: 1000 })), minRetriesPerSecond: Opt(Whole()), ttl: Opt(Duration) }, closed)),
  },
  closed,
);

const CircuitBreakerSpec = Type.Object(
  {
    targetRefs: TargetRefs,
    limits: Opt(Type.Object({ maxConnections: Opt(Count), maxPendingRequests: Opt(Whole()), maxActiveRequests: Opt(Count), maxActiveRetries: Opt(Whole()) }, closed)),
    outlierDetection: Opt(
      Type.Object(
        {
          disabled: Opt(Type.Boolean()),
          interval: Opt(Duration),
          consecutive5xx: Opt(Whole()),
          consecutiveGatewayErrors: Opt(Whole()),
          baseEjectionTime: Opt(Duration),
          maxEjectionTime: Opt(Duration),
          maxEjectionPercent: Opt(Type.Integer({ minimum: 0, maximum: 100 })),
          successRate: Opt(Type.Object({ minimumHosts: Opt(Count), requestVolume: Opt(Count), stdevFactor: Opt(Count) }, closed)),
        },
        closed,
      ),
    ),
    healthCheck: Opt(
      Type.Object(
        {
          path: Text,
          host: Opt(Text),
          interval: Opt(Duration),
          timeout: Opt(Duration),
          unhealthyThreshold: Opt(Count),
          healthyThreshold: Opt(Count),
          expectedStatuses: Opt(Type.Array(Type.Object({ from: Type.Integer({ minimum: 100, maximum: 599 }), to: Type.Integer({ minimum: 100, maximum: 599 }) }, closed), { minItems: 1 })),
        },
        closed,
      ),
    ),
  },
  closed,
);

const FaultSpec = Type.Object(
  {
    targetRefs: TargetRefs,
    delay: Opt(Type.Object({ fixedDelay: Duration, percent: Opt(Percent) }, closed)),
    abort: Opt(Type.Object({ httpStatus: Opt(Type.Integer({ minimum: 200, maximum: 599 })), grpcStatus: Opt(Type.Integer({ minimum: 1, maximum: 16 })), percent: Opt(Percent) }, closed)),
  },
  closed,
);

export type RetrySpec = Static<typeof RetrySpec>;
export type CircuitBreakerSpec = Static<typeof CircuitBreakerSpec>;
export type FaultSpec = Static<typeof FaultSpec>;
export type TargetRef = Static<typeof TargetRef>;

const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
const compile = <T extends TSchema>(t: T) => ajv.compile<Static<T>>(t);

const AuthorizationSpecSchema = Type.Object({ targetRefs: TargetRefs, ...authorizationSpecFields }, closed);
const RequestAuthenticationSpecSchema = Type.Object({ targetRefs: TargetRefs, ...requestAuthenticationSpecFields }, closed);

/**
 * Each kind: its spec's validator, what it may target, and whether a target takes several
 * (authorization policies add up, Istio's way: DENY ones first, then any ALLOW one).
 */
const KINDS: Record<string, { readonly validate: ValidateFunction; readonly targets: readonly TargetKind[]; readonly why?: string; readonly many?: boolean }> = {
  RetryPolicy: { validate: compile(RetrySpec), targets: ['Backend', 'HTTPRoute'] },
  CircuitBreakerPolicy: { validate: compile(CircuitBreakerSpec), targets: ['Backend'], why: 'its limits and health checks are kept per backend' },
  FaultInjectionPolicy: { validate: compile(FaultSpec), targets: ['HTTPRoute'], why: 'faults are injected where requests are routed' },
  AuthorizationPolicy: { validate: compile(AuthorizationSpecSchema), targets: ['Listener'], why: 'requests are authorized where they arrive, before routing', many: true },
  RequestAuthentication: { validate: compile(RequestAuthenticationSpecSchema), targets: ['Listener'], why: 'tokens are checked where requests arrive, before routing' },
};
export const POLICY_KINDS = Object.keys(KINDS);

// --- defaults (what a backend gets with no policy) ---

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 2,
  retryOn: Object.freeze(['connect-failure', 'refused-stream', 'reset', 'unavailable', 'cancelled'] as const),
  retriableStatusCodes: Object.freeze([503]),
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  retryNonIdempotent: false,
  bufferLimitBytes: 64 * 1024,
});
export const DEFAULT_BUDGET: RetryBudget = Object.freeze({ percent: 20, minRetriesPerSecond: 10, ttlMs: 10_000 });
export const DEFAULT_LIMITS: ConnectionLimits = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxActiveRequests: 1024, maxActiveRetries: 64 });
export const DEFAULT_OUTLIER: OutlierDetection = Object.freeze({
  intervalMs: 10_000,
  consecutive5xx: 5,
  consecutiveGatewayErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  successRate: null,
});

// --- validation ---

type Add = (path: string, message: string) => void;

/** Names a policy can target, gathered from the document without trusting its shape. */
type Targets = { backends: Set<string>; routes: Map<string, Set<string>>; listeners: Map<string, unknown> };

/** Every violation in `doc.policies` (the envelope's schema errors are reported by the caller). */
export function checkPolicies(doc: RawConfig, add: Add, envelopeBroken: (path: string) => boolean): void {
  if (!Array.isArray(doc.policies)) return;
  const targets = gatherTargets(doc);
  const claimed = new Map<string, string>();
  doc.policies.forEach((p, i) => {
    const path = `policies[${i}]`;
    if (typeof p !== 'object' || p === null || envelopeBroken(path)) return;
    if (p.apiVersion !== POLICY_API_VERSION) return add(`${path}.apiVersion`, `must be ${POLICY_API_VERSION}; got '${p.apiVersion}'`);
    const kind = KINDS[p.kind];
    if (kind === undefined) {
      const hint = didYouMean(p.kind, POLICY_KINDS);
      return add(`${path}.kind`, `must be one of ${POLICY_KINDS.join(', ')}; got '${p.kind}'${hint === undefined ? '' : `; did you mean '${hint}'?`}`);
    }
    if (!kind.validate(p.spec)) {
      for (const e of kind.validate.errors ?? []) {
        const v = structuralViolation({ ...e, instancePath: `/policies/${i}/spec${e.instancePath}` } as ErrorObject);
        add(v.path, v.message);
      }
      return;
    }
    checkTargets(p, `${path}.spec`, kind, targets, claimed, add);
    if (p.kind === 'RetryPolicy') checkRetry(p.spec as RetrySpec, `${path}.spec`, add);
    else if (p.kind === 'CircuitBreakerPolicy') checkCircuitBreaker(p.spec as CircuitBreakerSpec, `${path}.spec`, add);
    else if (p.kind === 'FaultInjectionPolicy') checkFault(p.spec as FaultSpec, `${path}.spec`, add);
    else if (p.kind === 'AuthorizationPolicy') checkAuthorization(p.spec as AuthorizationSpec, `${path}.spec`, add);
    else checkRequestAuthentication(p.spec as RequestAuthenticationSpec, `${path}.spec`, add);
  });
}

function gatherTargets(doc: RawConfig): Targets {
  const backends = new Set<string>();
  const routes = new Map<string, Set<string>>();
  for (const b of Array.isArray(doc.backends) ? doc.backends : []) if (typeof b?.name === 'string') backends.add(b.name);
  const listeners = new Map<string, unknown>();
  for (const l of Array.isArray(doc.listeners) ? doc.listeners : []) if (typeof l?.name === 'string') listeners.set(l.name, l.protocol);
  for (const r of Array.isArray(doc.routes) ? doc.routes : []) {
    if (typeof r?.name !== 'string') continue;
    const rules = new Set<string>();
    for (const rule of Array.isArray(r.rules) ? r.rules : []) if (typeof rule?.name === 'string') rules.add(rule.name);
    routes.set(r.name, rules);
  }
  return { backends, routes, listeners };
}

function checkTargets(p: RawPolicy, path: string, kind: (typeof KINDS)[string], targets: Targets, claimed: Map<string, string>, add: Add): void {
  const spec = p.spec as { targetRefs: Static<typeof TargetRef>[] };
  spec.targetRefs.forEach((t, k) => {
    const at = `${path}.targetRefs[${k}]`;
    if (!kind.targets.includes(t.kind)) return add(`${at}.kind`, `a ${p.kind} targets ${kind.targets.join(' or ')} only${kind.why ? `: ${kind.why}` : ''}; got ${t.kind}`);
    if (t.group !== undefined && t.group !== GROUPS[t.kind]) add(`${at}.group`, `the group of ${t.kind} is ${GROUPS[t.kind]}; got '${t.group}'`);
    if (t.kind !== 'HTTPRoute' && t.sectionName !== undefined) add(`${at}.sectionName`, 'applies to HTTPRoute targets only (it names one rule of the route)');
    if (t.kind === 'Backend') {
      if (!targets.backends.has(t.name)) return add(`${at}.name`, `backend '${t.name}' is not defined; defined backends: ${[...targets.backends].join(', ') || 'none'}`);
    } else if (t.kind === 'Listener') {
      if (!targets.listeners.has(t.name)) return add(`${at}.name`, `listener '${t.name}' is not defined; defined listeners: ${[...targets.listeners.keys()].join(', ') || 'none'}`);
      if (targets.listeners.get(t.name) === 'tcp') return add(`${at}.name`, `listener '${t.name}' is a tcp listener; a ${p.kind} applies to http listeners, whose requests it can see`);
    } else {
      const rules = targets.routes.get(t.name);
      if (rules === undefined) return add(`${at}.name`, `route '${t.name}' is not defined; defined routes: ${[...targets.routes.keys()].join(', ') || 'none'}`);
      if (t.sectionName !== undefined && !rules.has(t.sectionName)) {
        return add(`${at}.sectionName`, `route '${t.name}' has no rule named '${t.sectionName}'; named rules: ${[...rules].join(', ') || 'none (give the rule a name)'}`);
      }
    }
    if (kind.many === true) return;
    const key = `${p.kind}|${t.kind}|${t.name}|${t.sectionName ?? ''}`;
    const first = claimed.get(key);
    const what = t.kind === 'Backend' ? `backend '${t.name}'` : t.kind === 'Listener' ? `listener '${t.name}'` : t.sectionName === undefined ? `route '${t.name}'` : `rule '${t.sectionName}' of route '${t.name}'`;
    if (first !== undefined) add(at, `${what} is already the target of ${first}; give each target at most one ${p.kind}`);
    else claimed.set(key, `${p.kind} '${p.metadata.name}' (${path.replace(/\.spec$/, '')})`);
  });
}

function checkRetry(spec: RetrySpec, path: string, add: Add): void {
  const routeTargets = spec.targetRefs.map((t, k) => [t, k] as const).filter(([t]) => t.kind === 'HTTPRoute');
  if (routeTargets.length > 0) {
    const where = `targetRefs[${routeTargets[0][1]}]`;
    for (const key of ['connect', 'idle'] as const) {
      if (spec.timeouts?.[key] !== undefined) add(`${path}.timeouts.${key}`, `is a property of a backend's connections, and ${where} is a route; put it in a RetryPolicy that targets the backend`);
    }
    if (spec.budget !== undefined) add(`${path}.budget`, `is kept per backend, and ${where} is a route; put it in a RetryPolicy that targets the backend`);
  }
  checkDurations(add, `${path}.timeouts`, { ...spec.timeouts });
  checkDurations(add, `${path}.backoff`, { ...spec.backoff });
  checkDurations(add, `${path}.budget`, { ttl: spec.budget?.ttl });
  const { request, perTry } = spec.timeouts ?? {};
  if (request !== undefined && perTry !== undefined && parseDuration(request) !== 0 && parseDuration(perTry) > parseDuration(request)) {
    add(`${path}.timeouts.perTry`, `must not be longer than timeouts.request (${request}); got ${perTry}`);
  }
  const base = spec.backoff?.baseInterval;
  const max = spec.backoff?.maxInterval;
  if (base !== undefined && parseDuration(base) === 0) add(`${path}.backoff.baseInterval`, 'must be above 0 (full jitter draws from 0 up to it)');
  const baseMs = base === undefined ? DEFAULT_RETRY.backoffBaseMs : parseDuration(base);
  const maxMs = max === undefined ? Math.max(DEFAULT_RETRY.backoffMaxMs, baseMs) : parseDuration(max);
  if (maxMs < baseMs) add(`${path}.backoff.maxInterval`, `must not be shorter than baseInterval (${base ?? `${DEFAULT_RETRY.backoffBaseMs}ms`}); got ${max}`);
  if (spec.retriableStatusCodes !== undefined && spec.retryOn !== undefined && !spec.retryOn.includes('retriable-status-codes')) {
    add(`${path}.retriableStatusCodes`, "has no effect unless retryOn lists 'retriable-status-codes'");
  }
  if (spec.budget?.ttl !== undefined && parseDuration(spec.budget.ttl) < 1000) add(`${path}.budget.ttl`, `must be at least 1s; got ${spec.budget.ttl}`);
}

function checkCircuitBreaker(spec: CircuitBreakerSpec, path: string, add: Add): void {
  const o = spec.outlierDetection;
  if (o !== undefined) {
    checkDurations(add, `${path}.outlierDetection`, { interval: o.interval, baseEjectionTime: o.baseEjectionTime, maxEjectionTime: o.maxEjectionTime });
    for (const key of ['interval', 'baseEjectionTime'] as const) {
      if (o[key] !== undefined && parseDuration(o[key]) === 0) add(`${path}.outlierDetection.${key}`, 'must be above 0');
    }
    const base = o.baseEjectionTime === undefined ? DEFAULT_OUTLIER.baseEjectionMs : parseDuration(o.baseEjectionTime);
    if (o.maxEjectionTime !== undefined && parseDuration(o.maxEjectionTime) < base) {
      add(`${path}.outlierDetection.maxEjectionTime`, `must not be shorter than baseEjectionTime (${o.baseEjectionTime ?? '30s'}); got ${o.maxEjectionTime}`);
    }
  }
  const h = spec.healthCheck;
  if (h !== undefined) {
    if (!h.path.startsWith('/')) add(`${path}.healthCheck.path`, `must start with '/'; got '${h.path}'`);
    checkDurations(add, `${path}.healthCheck`, { interval: h.interval, timeout: h.timeout });
    for (const key of ['interval', 'timeout'] as const) if (h[key] !== undefined && parseDuration(h[key]) === 0) add(`${path}.healthCheck.${key}`, 'must be above 0');
    h.expectedStatuses?.forEach((r, k) => r.from > r.to && add(`${path}.healthCheck.expectedStatuses[${k}]`, `'from' (${r.from}) must not be above 'to' (${r.to})`));
  }
}

function checkFault(spec: FaultSpec, path: string, add: Add): void {
  if (spec.delay === undefined && spec.abort === undefined) add(path, "needs 'delay', 'abort' or both");
  checkDurations(add, `${path}.delay`, { fixedDelay: spec.delay?.fixedDelay });
  if (spec.abort !== undefined && spec.abort.httpStatus === undefined && spec.abort.grpcStatus === undefined) add(`${path}.abort`, "needs 'httpStatus' or 'grpcStatus'");
}
