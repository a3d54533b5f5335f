// The control plane's own metrics, on the registry the proxy uses (kinds/metrics-registry.ts),
// served as Prometheus text at GET /metrics on the API port (istiod serves its own on 15014).
// Counters and histograms are fed by the ADS server as things happen; everything else is read
// from live state at scrape time, so a proxy that left or a zone that went away drops out.

import { X509Certificate } from 'node:crypto';
import { uriNames } from '../../certs/pem.ts';
import { createMetrics, type Counter, type Family, type Histogram } from '../../kinds/metrics-registry.ts';
import { TYPE_URLS } from '../../xds/index.ts';
import type { ZoneRow } from '../apiserver/zones.ts';
import type { AdsServer } from '../xds/ads-server.ts';
import { nodeZone } from '../xds/generate/resources.ts';
import type { MeshView } from '../xds/mesh-view.ts';

/** Push and ACK times, in seconds: from a millisecond to half a minute. */
export const PUSH_BUCKETS_S: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** What the ADS server reports as it works; each call is cheap (a counter or a bucket). */
export type XdsEvents = {
  /** A client refused a response of this type. */
  nack(typeUrl: string): void;
  /** A client ACKed a response `seconds` after it was sent (Istio's proxy convergence time). */
  acked(typeUrl: string, seconds: number): void;
  /** One push pass over every stream, from the view taken to the last response written. */
  pushed(seconds: number): void;
};

/** Where the scrape-time values live; each is read once per scrape. */
export type ControlPlaneState = {
  readonly ads: AdsServer;
  view(): MeshView | null;
  /** This control plane's role and, for a zone, its name. */
  readonly role: 'standalone' | 'global' | 'zone';
  /** sluicectl get zones' rows (zone/index.ts): a zone's own row is its link to the global. */
  zones(): readonly ZoneRow[];
};

export type ControlPlaneMetrics = {
  readonly events: XdsEvents;
  /** Binds the scrape-time families to live state; until then they render as HELP and TYPE only. */
  attach(state: ControlPlaneState): void;
  render(): string;
  describe: ReturnType<typeof createMetrics>['describe'];
};

const SHORT = new Map<string, string>(Object.entries(TYPE_URLS).map(([k, v]) => [v, k]));
const typeName = (url: string) => SHORT.get(url) ?? url;

export function createControlPlaneMetrics(): ControlPlaneMetrics {
  const m = createMetrics();
  let state: ControlPlaneState | null = null;
  const nacks: Family<Counter, [type: string]> = m.counter('sluice_cp_xds_nacks_total', 'Responses an xDS client refused (NACK), by resource type.', ['type']);
  const convergence: Family<Histogram, [type: string]> = m.histogram('sluice_cp_xds_ack_seconds', 'Time from a response sent to its ACK, by resource type (Istio pilot_proxy_convergence_time).', ['type'], PUSH_BUCKETS_S);
  const push: Histogram = m.histogram('sluice_cp_push_seconds', 'Time of one push pass: from a new view to the last stream written (Istio pilot_xds_push_time).', [], PUSH_BUCKETS_S).labels();

  m.collected('sluice_cp_connected_proxies', 'xDS clients on a stream now, by zone ("unknown": none) and kind (proxy, or generic: proxyless gRPC).', 'gauge', ['zone', 'kind'], () => {
    if (state === null) return [];
    const view = state.view();
    const counts = new Map<string, number>();
    for (const s of state.ads.streams.values()) {
      if (s.node === null) continue;
      const zone = (view === null ? undefined : nodeZone(view, s.node)) ?? 'unknown';
      const k = `${zone}\n${s.node.kind}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].sort().map(([k, n]) => [k.split('\n'), n] as const);
  });
  m.collected('sluice_cp_resources', 'Resources in the view the control plane serves, by kind.', 'gauge', ['kind'], () => {
    const view = state?.view() ?? null;
    if (view === null) return [];
    const rows: [string, number][] = [
      ['Service', view.serviceResources.length],
      ['Workload', view.workloads.size],
      ['HTTPRoute', view.httpRoutes.length],
      ['GRPCRoute', view.grpcRoutes.length],
      ['RetryPolicy', view.retryPolicies.length],
      ['CircuitBreakerPolicy', view.circuitBreakerPolicies.length],
      ['AuthorizationPolicy', view.authorizationPolicies.length],
      ['RequestAuthentication', view.requestAuthentications.length],
      ['LoadBalancingPolicy', view.loadBalancingPolicies.length],
      ['FaultInjectionPolicy', view.faultInjectionPolicies.length],
    ];
    return rows.map(([kind, n]) => [[kind], n] as const);
  });
  m.collected('sluice_cp_proxy_cert_expiry_timestamp_seconds', 'When the certificate each connected xDS client presented runs out (Unix seconds), by node id and SPIFFE ID.', 'gauge', ['node', 'identity'], () => {
    if (state === null) return [];
    const out: (readonly [string[], number])[] = [];
    for (const s of state.ads.streams.values()) {
      if (s.node === null) continue;
      let raw: Buffer | undefined;
      try {
        raw = s.call.getAuthContext().sslPeerCertificate?.raw;
      } catch {
        raw = undefined; // the stream is ending
      }
      if (raw === undefined) continue;
      const cert = new X509Certificate(raw);
      out.push([[s.node.id, uriNames(cert)[0] ?? 'unknown'], Math.floor(cert.validToDate.getTime() / 1000)]);
    }
    return out;
  });
  m.collected('sluice_cp_zone_link_up', "1 while a zone's link is up, else 0: on a zone, its own link to the global; on a global, each zone's.", 'gauge', ['zone'], () => linkRows(state, (r) => (r.status === 'online' ? 1 : 0)));
  m.collected('sluice_cp_zone_last_sync_timestamp_seconds', 'When a zone link last synced (Unix seconds), as sluice_cp_zone_link_up picks its zones.', 'gauge', ['zone'], () =>
    linkRows(state, (r) => (r.lastSync === '' ? 0 : Math.floor(Date.parse(r.lastSync) / 1000))),
  );

  return {
    events: {
      nack: (url) => nacks.labels(typeName(url)).inc(),
      acked: (url, seconds) => convergence.labels(typeName(url)).observe(seconds),
      pushed: (seconds) => push.observe(seconds),
    },
    attach(s) {
      state = s;
    },
    render: m.render,
    describe: m.describe,
  };
}

function linkRows(state: ControlPlaneState | null, value: (r: ZoneRow) => number): (readonly [string[], number])[] {
  if (state === null || state.role === 'standalone') return [];
  const rows = state.zones().filter((r) => (state.role === 'zone' ? r.self === true : true));
  return rows.map((r) => [[r.name], value(r)] as const);
}
