// LoadBalancingPolicy -> Envoy's fields (xds/SUBSET.md, "LoadBalancingPolicy"), so a Sluice
// proxy, an Envoy or a proxyless gRPC client reading them balance alike:
//
// - `type` is the Service's clusters' `lb_policy`, with `ring_hash_lb_config` /
//   `maglev_lb_config` set to the ring and table sizes a Sluice proxy builds (Envoy's
//   defaults, said out loud so a proxy can check it builds what it was told);
// - `hashOn` is the `hash_policy` of every route whose cluster (or one of whose weighted
//   clusters) is the Service's: Envoy hashes per route, and the balancer of the cluster the
//   route picks reads the hash. A route split over Services with different hashOn gets every
//   one of them, combined, as Envoy combines several hash policies;
// - `failoverThreshold` is the ClusterLoadAssignment's `policy.overprovisioning_factor`:
//   Envoy gives a priority level health x factor of the traffic (capped at all of it), and
//   the static meaning is "all of it while at least T% is healthy, in proportion below", so
//   factor = 100 / T (in Envoy's percent, 10000 / T). `common_lb_config.healthy_panic_threshold`
//   is another thing (when to stop trusting health altogether), and
//   `locality_weighted_lb_config` weighs localities of one level, which a Sluice proxy does
//   not: neither is the failover threshold;
// - `zones`: PreferLocal (the default) leaves the priorities the generator set (the node's
//   zone 0, other zones 1); Spread takes them out, so every zone is priority 0 and shares
//   the calls by weight.
//
// Proxyless gRPC reads ROUND_ROBIN and RING_HASH (gRFC A42) and, of hash_policy, only
// `header`: its clusters get RING_HASH for Maglev too (consistent hashing is the point, and
// Maglev is how Envoy does it, not what it means), ROUND_ROBIN for LeastRequest (what they
// get with no policy), and only the header hash sources: gRPC skips cookie and
// connection_properties hash policies, so with those its calls hash at random.

import { PolicyAttachments } from '../../../../kinds/policy-attachment.ts';
import type { TargetRefLike } from '../../../../kinds/policy-targets.ts';
import { hashOn as resolveHashOn, type HashOn, type LbType, type LoadBalancingSpec } from '../../../../kinds/load-balancing.ts';
import type { Resource } from '../../../api/resource.ts';
import { outboundCluster, type Obj } from '../../generate/envoy.ts';
import type { Flavor } from '../../generate/resources.ts';
import type { MeshView } from '../../mesh-view.ts';
import type { ServiceAt, XdsPolicy } from '../index.ts';

export type LoadBalancingPolicyResource = Resource<LoadBalancingSpec & { readonly targetRefs: readonly TargetRefLike[] }>;

/** What a Sluice proxy builds (proxy/upstream/lb/ring-hash.ts, maglev.ts), which are Envoy's defaults. */
export const RING_SIZE = { minimum: 1024, maximum: 8 * 1024 * 1024 } as const;
export const MAGLEV_TABLE_SIZE = 65537;

const LB_POLICY: Readonly<Record<Flavor, Readonly<Record<LbType, string>>>> = {
  proxy: { LeastRequest: 'LEAST_REQUEST', RoundRobin: 'ROUND_ROBIN', RingHash: 'RING_HASH', Maglev: 'MAGLEV' },
  generic: { LeastRequest: 'ROUND_ROBIN', RoundRobin: 'ROUND_ROBIN', RingHash: 'RING_HASH', Maglev: 'RING_HASH' },
};

type Attached = {
  readonly policies: PolicyAttachments<LoadBalancingSpec>;
  /** Cluster name -> the hash sources of its Service's policy, for the Services whose balancer hashes. */
  readonly hashByCluster: ReadonlyMap<string, readonly HashOn[]>;
};

// Built once per view, by the first hook that needs it: generation runs per view, never per proxy.
const attachments = new WeakMap<MeshView, Attached>();

function attached(view: MeshView): Attached {
  let a = attachments.get(view);
  if (a === undefined) {
    const policies = new PolicyAttachments(view.loadBalancingPolicies.map((p) => ({ namespace: p.metadata.namespace ?? 'default', targetRefs: p.spec?.targetRefs ?? [], spec: p.spec! })));
    const hashByCluster = new Map<string, readonly HashOn[]>();
    if (policies.size > 0) {
      for (const svc of view.services.values()) {
        const spec = policies.on(svc.namespace, 'Service', svc.name);
        const h = spec?.type === 'RingHash' || spec?.type === 'Maglev' ? resolveHashOn(spec.hashOn) : undefined;
        if (h !== undefined) for (const sp of svc.ports) hashByCluster.set(outboundCluster(svc.host, sp.port), [h]);
      }
    }
    a = { policies, hashByCluster };
    attachments.set(view, a);
  }
  return a;
}

const serviceSpec = (at: ServiceAt): LoadBalancingSpec | undefined => {
  const a = attached(at.view);
  return a.policies.size === 0 ? undefined : a.policies.on(at.service.namespace, 'Service', at.service.name);
};

export const loadBalancingPolicy: XdsPolicy = {
  kind: 'LoadBalancingPolicy',

  cluster(cluster, at) {
    const type = serviceSpec(at)?.type;
    if (type === undefined) return;
    const lb = LB_POLICY[at.flavor][type];
    cluster.lb_policy = lb;
    if (lb === 'RING_HASH') cluster.ring_hash_lb_config = { minimum_ring_size: { value: RING_SIZE.minimum }, maximum_ring_size: { value: RING_SIZE.maximum } };
    if (lb === 'MAGLEV') cluster.maglev_lb_config = { table_size: { value: MAGLEV_TABLE_SIZE } };
  },

  route(route, at) {
    const { hashByCluster } = attached(at.view);
    if (hashByCluster.size === 0) return;
    const action = route.route as Obj | undefined;
    if (action === undefined) return;
    const clusters: string[] = typeof action.cluster === 'string' ? [action.cluster] : ((action.weighted_clusters as { clusters?: { name: string }[] } | undefined)?.clusters ?? []).map((c) => c.name);
    const sources: HashOn[] = [];
    const seen = new Set<string>();
    for (const c of clusters) {
      for (const h of hashByCluster.get(c) ?? []) {
        const k = JSON.stringify(h);
        if (seen.has(k)) continue;
        seen.add(k);
        sources.push(h);
      }
    }
    const policies = sources.filter((h) => at.flavor === 'proxy' || h.type === 'Header').map(hashPolicy);
    if (policies.length > 0) action.hash_policy = policies;
  },

  assignment(cla, at) {
    const spec = serviceSpec(at);
    // Spread: every zone is one level, wherever the caller runs (the generator put other zones at 1).
    if (spec?.zones === 'Spread') for (const locality of cla.endpoints as Obj[]) delete locality.priority;
    const threshold = spec?.failoverThreshold;
    if (threshold === undefined) return;
    cla.policy = { overprovisioning_factor: { value: overprovisioningFactor(threshold) } };
  },
};

/** A failover threshold (percent) as Envoy's overprovisioning_factor (percent of 1.0): 71 -> 141, 100 -> 100. */
export function overprovisioningFactor(thresholdPercent: number): number {
  return Math.round(10000 / thresholdPercent);
}

function hashPolicy(h: HashOn): Obj {
  if (h.type === 'Header') return { header: { header_name: h.name } };
  if (h.type === 'Cookie') return { cookie: { name: h.name } };
  return { connection_properties: { source_ip: true } };
}
