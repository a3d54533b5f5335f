// The status of Workloads: whether the proxy that runs each one is connected, and whether
// it holds the current config (every type ACKed at the current version: SYNCED; a NACK:
// NACKED; sent but not yet ACKed: STALE). A proxy that left stays as OFFLINE (proxy-status.ts).
// Recomputed on every new view and on every proxy connect, ACK, NACK and leave.

import type { MeshView } from '../xds/mesh-view.ts';
import type { ProxyStatus } from '../xds/proxy-status.ts';
import { statusKey, type Computed, type ConditionInput } from './conditions.ts';

export type ProxyState = 'SYNCED' | 'STALE' | 'NACKED' | 'OFFLINE';

/** One proxy running a Workload, as its status lists it. */
export type WorkloadProxy = { readonly id: string; readonly state: ProxyState; readonly since: string; readonly nack?: string };

export function proxyState(p: ProxyStatus): ProxyState {
  if (p.status === 'OFFLINE') return 'OFFLINE';
  const types = Object.values(p.types);
  if (types.some((t) => t?.state === 'NACKED')) return 'NACKED';
  return types.length > 0 && types.every((t) => t?.state === 'SYNCED') ? 'SYNCED' : 'STALE';
}

export function workloadStatus(view: MeshView, proxies: readonly ProxyStatus[]): Map<string, Computed> {
  const byWorkload = new Map<string, WorkloadProxy[]>();
  for (const p of proxies) {
    if (p.kind !== 'proxy') continue;
    // A Sluice proxy's node id is <workload>.<namespace> (xds/node.ts); the namespace has no dot.
    const dot = p.id.lastIndexOf('.');
    const k = statusKey('Workload', p.id.slice(dot + 1), p.id.slice(0, dot));
    const state = proxyState(p);
    const nack = Object.values(p.types).find((t) => t?.state === 'NACKED')?.nack?.message;
    const row: WorkloadProxy = { id: p.id, state, since: state === 'OFFLINE' ? (p.lastSeen ?? p.connectedAt) : p.connectedAt, ...(nack === undefined ? {} : { nack }) };
    byWorkload.set(k, [...(byWorkload.get(k) ?? []), row]);
  }
  const services = servicesOf(view);
  const out = new Map<string, Computed>();
  for (const w of view.workloads.values()) {
    const k = statusKey('Workload', w.metadata.namespace ?? 'default', w.metadata.name);
    const rows = byWorkload.get(k) ?? [];
    out.set(k, { uid: w.metadata.uid, generation: w.metadata.generation ?? 1, conditions: conditionsOf(rows), fields: { proxies: rows, services: services.get(k) ?? [] } });
  }
  return out;
}

/** InSync first: `sluicectl get` shows the first condition that is not True, else the first's reason (Synced). */
function conditionsOf(rows: readonly WorkloadProxy[]): ConditionInput[] {
  const live = rows.filter((r) => r.state !== 'OFFLINE');
  if (rows.length === 0) {
    const never = 'no proxy has joined as this Workload since the control plane started';
    return [c('InSync', false, 'NeverConnected', never), c('Connected', false, 'NeverConnected', never)];
  }
  if (live.length === 0) {
    const gone = rows.map((r) => `proxy ${r.id} left at ${r.since}`).join('; ');
    return [c('InSync', false, 'Offline', gone), c('Connected', false, 'Offline', gone)];
  }
  const connected = c('Connected', true, 'Connected', live.map((r) => `proxy ${r.id} connected since ${r.since}`).join('; '));
  const nacked = live.filter((r) => r.state === 'NACKED');
  if (nacked.length > 0) return [c('InSync', false, 'Nacked', nacked.map((r) => `proxy ${r.id} refused the current config: ${r.nack ?? ''}`).join('; ')), connected];
  const stale = live.filter((r) => r.state === 'STALE');
  if (stale.length > 0) return [c('InSync', false, 'Stale', stale.map((r) => `proxy ${r.id} has not acknowledged the current config yet`).join('; ')), connected];
  return [c('InSync', true, 'Synced', 'its proxy holds the current config of every type'), connected];
}

const c = (type: string, ok: boolean, reason: string, message: string): ConditionInput => ({ type, status: ok ? 'True' : 'False', reason, message });

/** Workload key -> `Service/<name>:<port>` it serves. */
function servicesOf(view: MeshView): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, list] of view.served) {
    const [namespace, name] = [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)];
    out.set(statusKey('Workload', namespace, name), [...new Set(list.map((s) => `Service/${s.service.name}`))]);
  }
  return out;
}
