// What `sluicectl proxy-status` shows: every client on an ADS stream and, per type, whether
// it holds the current config (SYNCED), has not confirmed it yet (STALE), or refused it
// (NACKED, with the client's own words), as istiod's /debug/syncz does.

import { TYPE_URLS, type TypeUrl } from '../../xds/index.ts';
import type { AdsServer, AdsStream } from './ads-server.ts';
import { ADMIN_KEY, metadataOf } from './node.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import { versionOf } from './snapshot.ts';
import { nodeZone } from './generate/resources.ts';

export type TypeSync = {
  readonly state: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT SENT';
  /** The version the current config has for this client's subscription. */
  readonly version: string;
  readonly sent: string;
  readonly acked: string;
  readonly resources: number | 'all';
  readonly nack?: { readonly version: string; readonly message: string; readonly at: string };
};

export type ProxyStatus = {
  readonly id: string;
  /** CONNECTED: on a stream now; OFFLINE: it was, and left at `lastSeen` (its types as they were then). */
  readonly status: 'CONNECTED' | 'OFFLINE';
  readonly lastSeen?: string;
  readonly kind: 'proxy' | 'generic';
  readonly peer: string;
  readonly connectedAt: string;
  readonly userAgent: string;
  /** Where the proxy's admin listens (its `sluice.dev/admin` metadata), for sluicectl proxy-config. */
  readonly admin?: string;
  /** The zone it is in, as its endpoints' priorities are set (generate/resources.ts nodeZone); absent: none. */
  readonly zone?: string;
  /** A proxy that is its zone's ingress (sluice-proxy --mode zone-ingress). */
  readonly mode?: 'zone-ingress';
  readonly types: Readonly<Partial<Record<keyof typeof TYPE_URLS, TypeSync>>>;
};

const SHORT = Object.fromEntries(Object.entries(TYPE_URLS).map(([k, v]) => [v, k])) as Record<TypeUrl, keyof typeof TYPE_URLS>;

export function proxyStatus(ads: AdsServer, cache: SnapshotCache): ProxyStatus[] {
  const out: ProxyStatus[] = [];
  const rows: [AdsStream, number | null][] = [];
  for (const s of ads.streams.values()) rows.push([s, null]);
  for (const { stream, leftAt } of ads.departed.values()) rows.push([stream, leftAt]);
  for (const [s, leftAt] of rows) {
    if (s.node === null) continue;
    let snapshot = null;
    try {
      snapshot = cache.snapshotFor(s.node);
    } catch {
      snapshot = null;
    }
    const types: Partial<Record<keyof typeof TYPE_URLS, TypeSync>> = {};
    for (const [type, st] of s.types) {
      const version = snapshot === null ? '' : versionOf(snapshot.get(type)!, st.names);
      const nacked = st.nack !== null && st.nack.nonce === st.sentNonce;
      const state = st.sentVersion === '' ? 'NOT SENT' : nacked ? 'NACKED' : st.ackedVersion === version && st.sentVersion === version ? 'SYNCED' : 'STALE';
      types[SHORT[type]] = {
        state,
        version,
        sent: st.sentVersion,
        acked: st.ackedVersion,
        resources: st.names === null ? 'all' : st.names.size,
        ...(st.nack !== null ? { nack: { version: st.nack.version, message: st.nack.message, at: new Date(st.nack.at).toISOString() } } : {}),
      };
    }
    const info = s.nodeInfo;
    const admin = info === null ? undefined : metadataOf(info)[ADMIN_KEY];
    const view = cache.view;
    const zone = view === null ? undefined : nodeZone(view, s.node);
    out.push({
      id: s.node.id,
      status: leftAt === null ? 'CONNECTED' : 'OFFLINE',
      ...(leftAt === null ? {} : { lastSeen: new Date(leftAt).toISOString() }),
      kind: s.node.kind,
      peer: s.peer,
      connectedAt: new Date(s.connectedAt).toISOString(),
      userAgent: [info?.user_agent_name, info?.user_agent_version].filter(Boolean).join(' '),
      ...(typeof admin === 'string' ? { admin } : {}),
      ...(zone === undefined ? {} : { zone }),
      ...(s.node.kind === 'proxy' && s.node.ingress !== undefined ? { mode: 'zone-ingress' as const } : {}),
      types,
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
