// LoadBalancingPolicy (mesh.sluice.dev/v1alpha1): which balancer picks an endpoint of a
// service, what a consistent-hash balancer hashes a request on, and the locality failover
// threshold. The spec's fields mirror a static Backend's own `loadBalancer`, `hashOn` and
// `failoverThreshold`, and mean the same: the proxy's static file lays a policy over its
// backend's fields, the control plane writes it as Envoy's (control-plane/xds/policies/load-balancing/).

import Type, { type Static } from 'typebox';
import { closed, describeValue, HEADER_NAME_PATTERN, Opt, Text } from './schema-kit.ts';
import { LB_TYPES, type LbType } from './load-balancer-names.ts';

export { HASHING_BALANCERS, LB_TYPES, type LbType } from './load-balancer-names.ts';

type Add = (path: string, message: string) => void;

export const HASH_ON_TYPES = ['Header', 'Cookie', 'SourceIP'] as const;
/**
 * How a Service's zones share its calls. PreferLocal (the default): the caller's own zone
 * first, other zones only as it fails (Envoy's priorities, with the failover threshold).
 * Spread: every zone alike, by weight, wherever the caller runs.
 */
export const ZONE_MODES = ['PreferLocal', 'Spread'] as const;
export type ZoneMode = (typeof ZONE_MODES)[number];

/** What a request is hashed on; a header name is lower-case once resolved. */
export type HashOn =
  | { readonly type: 'Header'; readonly name: string }
  | { readonly type: 'Cookie'; readonly name: string }
  | { readonly type: 'SourceIP' };

// --- schema ---

export const HashOnSchema = Type.Object({ type: Type.Enum(HASH_ON_TYPES), name: Opt(Text) }, closed);
export type RawHashOn = Static<typeof HashOnSchema>;

export const loadBalancingSpecFields = {
  type: Opt(Type.Enum(Object.keys(LB_TYPES) as LbType[])),
  hashOn: Opt(HashOnSchema),
  failoverThreshold: Opt(Type.Integer({ minimum: 1, maximum: 100 })),
  zones: Opt(Type.Enum(ZONE_MODES)),
};
const LoadBalancingSpec = Type.Object(loadBalancingSpecFields, closed);
/** The spec's fields, without targetRefs. */
export type LoadBalancingSpec = Static<typeof LoadBalancingSpec>;

// --- checks (the spec has passed the schema) ---

export function checkLoadBalancing(spec: LoadBalancingSpec, path: string, add: Add): void {
  if (spec.type === undefined && spec.hashOn === undefined && spec.failoverThreshold === undefined && spec.zones === undefined) add(path, "needs 'type', 'hashOn', 'failoverThreshold' or 'zones'");
  // Spread puts every zone on one level: there is nothing left to fail over to.
  if (spec.zones === 'Spread' && spec.failoverThreshold !== undefined) add(`${path}.failoverThreshold`, "does nothing with zones: Spread (every zone is one failover level); remove it or use zones: PreferLocal");
  if (spec.hashOn === undefined) return;
  // The policy says which balancer reads its hash: a hash with no hashing balancer would be ignored.
  if (spec.type !== 'RingHash' && spec.type !== 'Maglev') {
    add(`${path}.hashOn`, `is read by the RingHash and Maglev balancers only; ${spec.type === undefined ? "set 'type' to one of them" : `this policy's type is ${spec.type}`}`);
  }
  checkHashOn(spec.hashOn, `${path}.hashOn`, add);
}

/** A hashOn's name against its type: shared with a static Backend's own `hashOn`. */
export function checkHashOn(h: RawHashOn, path: string, add: Add): void {
  if (h.type === 'SourceIP' && h.name !== undefined) add(`${path}.name`, 'does not go with type SourceIP');
  if (h.type !== 'SourceIP' && h.name === undefined) add(`${path}.name`, `is required when type is ${h.type}: it names the ${h.type === 'Header' ? 'header' : 'cookie'}`);
  if (h.type === 'Header' && h.name !== undefined && !new RegExp(HEADER_NAME_PATTERN).test(h.name)) add(`${path}.name`, `${describeValue(h.name)} is not a valid header name`);
}

// --- resolved ---

export type LoadBalancing = {
  /** The LB registry's name. */
  readonly loadBalancer?: string;
  /** Set (possibly to undefined) whenever `loadBalancer` is: a policy that picks the balancer says what it hashes on, or that it hashes on nothing. */
  readonly hashOn?: HashOn;
  readonly failoverThreshold?: number;
  readonly zones?: ZoneMode;
};

/** Only the fields the spec sets, in the units of the proxy's model. */
export function loadBalancingFields(s: LoadBalancingSpec | undefined): LoadBalancing {
  if (s === undefined) return {};
  const out: { -readonly [K in keyof LoadBalancing]: LoadBalancing[K] } = {};
  if (s.type !== undefined) {
    out.loadBalancer = LB_TYPES[s.type];
    out.hashOn = hashOn(s.hashOn);
  }
  if (s.failoverThreshold !== undefined) out.failoverThreshold = s.failoverThreshold;
  if (s.zones !== undefined) out.zones = s.zones;
  return out;
}

export function hashOn(h: RawHashOn | undefined): HashOn | undefined {
  if (h === undefined) return undefined;
  return h.type === 'SourceIP' ? { type: 'SourceIP' } : { type: h.type, name: h.type === 'Header' ? (h.name ?? '').toLowerCase() : (h.name ?? '') };
}
