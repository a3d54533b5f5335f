// Which policy governs a request: `targetRefs` resolved (Gateway API policy attachment,
// GEP-713), once, for the proxy's static file and the control plane alike. A request is
// routed by a rule of a route to a service (the static file's Backend, the mesh's Service);
// a policy may attach to each of those, and the nearer one overrides the farther one field
// by field: the rule's over the route's, the route's over the service's.
//
// What a field means is the policy kind's business (kinds/retry-policy.ts turns a
// RetryPolicy spec into the fields it sets); this file only says which specs apply, in
// which order.

import type { TargetRefLike } from './policy-targets.ts';

/** A policy as attachment sees it: its namespace (the static file has none) and its targets. */
export type Attachable<S> = {
  readonly namespace?: string;
  readonly targetRefs: readonly TargetRefLike[];
  readonly spec: S;
};

/** The levels a request passes that a policy may name, nearest last. Names are in `namespace`. */
export type AttachPoint = {
  readonly namespace?: string;
  /** The service (Backend, Service) the policy would govern calls to. */
  readonly service?: { readonly kind: string; readonly name: string };
  /** The route (HTTPRoute, GRPCRoute), and its rule's name if it has one. */
  readonly route?: { readonly kind: string; readonly name: string; readonly rule?: string };
};

/**
 * The policies of one kind, indexed by what they target. Two policies on one target: the
 * first in the list wins (the static file refuses that; the control plane lists the oldest
 * first, Gateway API's rule for conflicts).
 */
export class PolicyAttachments<S> {
  readonly #byTarget = new Map<string, S>();

  constructor(policies: Iterable<Attachable<S>>) {
    for (const p of policies) {
      for (const t of p.targetRefs) {
        const k = targetKey(p.namespace, t.kind, t.name, t.sectionName);
        if (!this.#byTarget.has(k)) this.#byTarget.set(k, p.spec);
      }
    }
  }

  get size(): number {
    return this.#byTarget.size;
  }

  /** The policy attached to exactly this target (a whole route when `section` is undefined). */
  on(namespace: string | undefined, kind: string, name: string, section?: string): S | undefined {
    return this.#byTarget.get(targetKey(namespace, kind, name, section));
  }

  /** The service's policy (if asked for), the route's, the rule's: the order to overlay them in. */
  layers(at: AttachPoint): S[] {
    const out: S[] = [];
    const push = (s: S | undefined) => s !== undefined && out.push(s);
    if (at.service !== undefined) push(this.on(at.namespace, at.service.kind, at.service.name));
    if (at.route !== undefined) {
      push(this.on(at.namespace, at.route.kind, at.route.name));
      if (at.route.rule !== undefined) push(this.on(at.namespace, at.route.kind, at.route.name, at.route.rule));
    }
    return out;
  }
}

/** Field by field, later over earlier: what each layer sets wins over the layers before it. */
export function overlay<T extends object>(layers: readonly Partial<T>[]): Partial<T> {
  return Object.assign({}, ...layers) as Partial<T>;
}

function targetKey(namespace: string | undefined, kind: string, name: string, section: string | undefined): string {
  return `${namespace ?? ''}/${kind}/${name}#${section ?? ''}`;
}
