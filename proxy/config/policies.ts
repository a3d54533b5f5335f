// Sluice's policy kinds (mesh.sluice.dev/v1alpha1) in the proxy's static config: the
// resilience kinds RetryPolicy, CircuitBreakerPolicy and FaultInjectionPolicy,
// LoadBalancingPolicy, and the
// security kinds AuthorizationPolicy and RequestAuthentication. Each is a Kubernetes-shaped
// resource that attaches to what it governs by `targetRefs` (Gateway API policy attachment,
// GEP-713): a Backend, an HTTPRoute, one rule of a route (`sectionName`), or a Listener of
// the file. The spec fields and their checks are shared with the control plane (kinds/);
// this file adds the targets the static file knows and checks that they exist.
// resolve-policies.ts turns them into the model.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import Type, { type Static, type TSchema } from 'typebox';
import { authorizationSpecFields, checkAuthorization, type AuthorizationSpec } from '../../kinds/authz-spec.ts';
import { checkLoadBalancing, loadBalancingSpecFields, type LoadBalancingSpec } from '../../kinds/load-balancing.ts';
import { checkRequestAuthentication, requestAuthenticationSpecFields, type RequestAuthenticationSpec } from '../../kinds/jwt-spec.ts';
import { checkTargetRef, type TargetShape } from '../../kinds/policy-targets.ts';
import { checkCircuitBreaker, checkFault, checkRetry, circuitBreakerSpecFields, faultSpecFields, retrySpecFields, type CircuitBreakerSpec, type FaultSpec, type RetrySpec } from '../../kinds/resilience-specs.ts';
import type { RawConfig, RawPolicy } from './schema.ts';
import { closed, didYouMean, Name, Opt, Ref, structuralViolation, Text } from './schema.ts';

export const POLICY_API_VERSION = 'mesh.sluice.dev/v1alpha1';
const SHAPE: TargetShape = { groups: { Backend: 'mesh.sluice.dev', HTTPRoute: 'gateway.networking.k8s.io', Listener: 'mesh.sluice.dev' }, sectioned: ['HTTPRoute'] };

const TargetRef = Type.Object({ group: Opt(Text), kind: Type.Enum(['Backend', 'HTTPRoute', 'Listener']), name: Ref, sectionName: Opt(Name) }, closed);
const TargetRefs = Type.Array(TargetRef, { minItems: 1 });
export type TargetRef = Static<typeof TargetRef>;
type Targeted = { targetRefs: TargetRef[] };

type Add = (path: string, message: string) => void;

const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
const compile = <F extends Record<string, TSchema>>(fields: F) => ajv.compile(Type.Object({ targetRefs: TargetRefs, ...fields }, closed));

/** The index of the first target that is a route: RetryPolicy fields kept per backend do not belong there. */
const firstRoute = (spec: Targeted) => {
  const k = spec.targetRefs.findIndex((t) => t.kind === 'HTTPRoute');
  return k === -1 ? undefined : k;
};

/**
 * Each kind: its spec's validator and checks, what it may target, and whether a target takes
 * several (authorization policies add up, Istio's way: DENY ones first, then any ALLOW one).
 */
type PolicyKind = {
  readonly validate: ValidateFunction;
  /** Runs on a spec the validator accepted. */
  readonly check: (spec: unknown, path: string, add: Add) => void;
  readonly targets: readonly string[];
  readonly why?: string;
  readonly many?: boolean;
};
const KINDS: Record<string, PolicyKind> = {
  RetryPolicy: { validate: compile(retrySpecFields), check: (s, path, add) => checkRetry(s as RetrySpec, path, add, firstRoute(s as Targeted)), targets: ['Backend', 'HTTPRoute'] },
  CircuitBreakerPolicy: {
    validate: compile(circuitBreakerSpecFields),
    check: (s, path, add) => checkCircuitBreaker(s as CircuitBreakerSpec, path, add),
    targets: ['Backend'],
    why: 'its limits and health checks are kept per backend',
  },
  FaultInjectionPolicy: { validate: compile(faultSpecFields), check: (s, path, add) => checkFault(s as FaultSpec, path, add), targets: ['HTTPRoute'], why: 'faults are injected where requests are routed' },
  LoadBalancingPolicy: {
    validate: compile(loadBalancingSpecFields),
    check: (s, path, add) => checkLoadBalancing(s as LoadBalancingSpec, path, add),
    targets: ['Backend'],
    why: 'the balancer and what it hashes on are kept per backend',
  },
  AuthorizationPolicy: {
    validate: compile(authorizationSpecFields),
    check: (s, path, add) => checkAuthorization(s as AuthorizationSpec, path, add),
    targets: ['Listener'],
    why: 'requests are authorized where they arrive, before routing',
    many: true,
  },
  RequestAuthentication: {
    validate: compile(requestAuthenticationSpecFields),
    check: (s, path, add) => checkRequestAuthentication(s as RequestAuthenticationSpec, path, add),
    targets: ['Listener'],
    why: 'tokens are checked where requests arrive, before routing',
  },
};
export const POLICY_KINDS = Object.keys(KINDS);

// --- validation ---

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
    kind.check(p.spec, `${path}.spec`, add);
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

function checkTargets(p: RawPolicy, path: string, kind: PolicyKind, targets: Targets, claimed: Map<string, string>, add: Add): void {
  (p.spec as Targeted).targetRefs.forEach((t, k) => {
    const at = `${path}.targetRefs[${k}]`;
    if (!checkTargetRef(t, at, p.kind, kind, SHAPE, add)) return;
    if (t.kind === 'Backend') {
      if (!targets.backends.has(t.name)) return add(`${at}.name`, `backend '${t.name}' is not defined; defined backends: ${[...targets.backends].join(', ') || 'none'}`);
    } else if (t.kind === 'Listener') {
      if (!targets.listeners.has(t.name)) return add(`${at}.name`, `listener '${t.name}' is not defined; defined listeners: ${[...targets.listeners.keys()].join(', ') || 'none'}`);
      // An AuthorizationPolicy decides on a tcp listener's connections by their peer (kinds/authz-spec.ts forConnections); a token needs a request.
      if (targets.listeners.get(t.name) === 'tcp' && p.kind !== 'AuthorizationPolicy') return add(`${at}.name`, `listener '${t.name}' is a tcp listener; a ${p.kind} applies to http listeners, whose requests it can see`);
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
