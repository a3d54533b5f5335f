// Load balancing over xDS -> the model's: a Cluster's lb_policy (and the ring or table size
// it names), a ClusterLoadAssignment's overprovisioning factor (the backend's failover
// threshold) and a route's hash_policy (what a request through it is hashed on). A
// LoadBalancingPolicy is generated as these fields (control-plane/xds/policies/load-balancing/).

import { HEADER_NAME_PATTERN } from '../../kinds/http-names.ts';
import type { HashOn } from '../config/model.ts';
import { TABLE_SIZE } from '../upstream/lb/maglev.ts';
import { MAX_RING_SIZE, MIN_RING_SIZE } from '../upstream/lb/ring-hash.ts';
import { message, scalar, WRAPPED, type Pb, type Sink } from './shape.ts';

/** Envoy's lb_policy -> the proxy's LB registry. An unset lb_policy is ROUND_ROBIN, the enum's zero. */
export const LB_POLICIES: Readonly<Record<string, string>> = { ROUND_ROBIN: 'round-robin', LEAST_REQUEST: 'least-request', RING_HASH: 'ring-hash', MAGLEV: 'maglev' };

export const RING_HASH_LB_CONFIG = message({ minimum_ring_size: WRAPPED, maximum_ring_size: WRAPPED });
export const MAGLEV_LB_CONFIG = message({ table_size: WRAPPED });
/** ClusterLoadAssignment.policy. */
export const ASSIGNMENT_POLICY = message({ overprovisioning_factor: WRAPPED });
/** RouteAction.hash_policy[]: the sources a Sluice proxy hashes on. */
export const HASH_POLICY = message({ header: message({ header_name: scalar }), cookie: message({ name: scalar }), connection_properties: message({ source_ip: scalar }) });

/** The backend's balancer; the ring or table size, when said, must be the one the proxy builds. */
export function translateLbPolicy(c: Pb, sink: Sink): string {
  const policy = String(c.lb_policy ?? 'ROUND_ROBIN');
  const ring: Pb | undefined = c.ring_hash_lb_config;
  if (ring !== undefined) {
    if (policy !== 'RING_HASH') sink.add('ring_hash_lb_config', `is read with lb_policy RING_HASH only; this cluster's is ${policy}`);
    sameSize(ring.minimum_ring_size, MIN_RING_SIZE, sink, 'ring_hash_lb_config.minimum_ring_size');
    sameSize(ring.maximum_ring_size, MAX_RING_SIZE, sink, 'ring_hash_lb_config.maximum_ring_size');
  }
  const maglev: Pb | undefined = c.maglev_lb_config;
  if (maglev !== undefined) {
    if (policy !== 'MAGLEV') sink.add('maglev_lb_config', `is read with lb_policy MAGLEV only; this cluster's is ${policy}`);
    sameSize(maglev.table_size, TABLE_SIZE, sink, 'maglev_lb_config.table_size');
  }
  return LB_POLICIES[policy] ?? 'round-robin';
}

// The sizes are Envoy's defaults, which a Sluice proxy builds always: another would be a ring it does not have.
function sameSize(v: Pb | undefined, size: number, sink: Sink, path: string): void {
  if (v !== undefined && Number(v.value ?? 0) !== size) sink.add(path, `a Sluice proxy builds ${size} (Envoy's default) and no other; got ${v.value ?? 0}`);
}

/**
 * The failover threshold (percent) of an overprovisioning factor (Envoy's percent of 1.0):
 * a level keeps all its traffic while health x factor reaches 100 %, so the threshold is
 * 100 / factor, read to the whole percent a static backend's `failoverThreshold` holds.
 * undefined when the assignment does not say (the backend's default then holds).
 */
export function failoverThreshold(policy: Pb | undefined, sink: Sink): number | undefined {
  const f = policy?.overprovisioning_factor;
  if (f === undefined) return undefined;
  const factor = Number(f.value ?? 0);
  if (factor < 100) {
    sink.add('policy.overprovisioning_factor', `must be at least 100 (1.0): below, a fully healthy level would not take all its traffic, which a Sluice proxy does not do; got ${factor}`);
    return undefined;
  }
  if (factor > 10000) {
    sink.add('policy.overprovisioning_factor', `must be at most 10000: a Sluice proxy's failover threshold is a whole percent, at least 1 %; got ${factor}`);
    return undefined;
  }
  return Math.round(10000 / factor);
}

/** A route's hash_policy[], in order; every entry must be one a Sluice proxy can hash on. */
export function translateHashPolicy(list: readonly Pb[], sink: Sink): HashOn[] {
  const out: HashOn[] = [];
  list.forEach((h, i) => {
    const at = sink.at(`[${i}]`);
    if (h.header !== undefined) {
      const name = String(h.header.header_name ?? '');
      if (name === '') at.add('header.header_name', 'required');
      else if (!new RegExp(HEADER_NAME_PATTERN).test(name)) at.add('header.header_name', `'${name}' is not a header name a Sluice proxy can read (pseudo-headers are not hashed on)`);
      else out.push({ type: 'Header', name: name.toLowerCase() });
    } else if (h.cookie !== undefined) {
      const name = String(h.cookie.name ?? '');
      if (name === '') at.add('cookie.name', 'required');
      else out.push({ type: 'Cookie', name });
    } else if (h.connection_properties !== undefined) {
      if (h.connection_properties.source_ip !== true) at.add('connection_properties.source_ip', 'must be true: it is the only connection property a Sluice proxy hashes on');
      else out.push({ type: 'SourceIP' });
    } else if (Object.keys(h).length === 0) {
      at.add('', 'needs header, cookie or connection_properties');
    }
  });
  return out;
}
