// control-plane/xds/: store -> mesh index -> generators -> snapshot cache -> ADS server
// (DESIGN: "Pipelines of small parts", go-control-plane's snapshot cache).

import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.ts';
import type { ResourceStore } from '../store/store.ts';
import { admitOnTls, peerSpiffeId } from './admission.ts';
import { AdsServer, type AdsServerDeps } from './ads-server.ts';
import { MeshIndex, type MeshIndexOptions } from './mesh-index.ts';
import type { MeshView } from './mesh-view.ts';
import { peerCertificates, type PeerCertificate } from './peer-certificates.ts';
import { proxyStatus, type ProxyStatus } from './proxy-status.ts';
import { zoneIngressAddress, type IngressAddress } from '../zone/ingress-address.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import { StatusController, type StatusControllerOptions } from '../status/index.ts';

export { AdsServer } from './ads-server.ts';
export { buildMeshView, type MeshView } from './mesh-view.ts';
export { SnapshotCache } from './snapshot-cache.ts';
export { nodeContextOf, PROXY_KEY, OUTBOUND_PORT_KEY, APP_PORTS_KEY, DEFAULT_OUTBOUND_PORT } from './node.ts';
export type { NodeContext } from './generate/resources.ts';
export type { ProxyStatus } from './proxy-status.ts';
export type { PeerCertificate } from './peer-certificates.ts';

export type XdsOptions = {
  readonly store: ResourceStore;
  readonly log: Logger;
  readonly now: () => number;
  /** The PEM roots workloads trust (pushed as the ROOTCA secret). */
  readonly trustBundle: () => string;
  /** The CA's trust domain, used until a Mesh resource names one. */
  readonly trustDomain: string;
  readonly admit?: AdsServerDeps['admit'];
  /** Each change of a resource's computed status (store/kube-status.ts writes it to the cluster). */
  readonly onStatusChanged?: StatusControllerOptions['onChanged'];
  /** Under --role zone: this zone and the others (MeshIndexOptions.zones). */
  readonly zones?: MeshIndexOptions['zones'];
  /** Where the ADS server reports NACKs, ACK times and push passes (telemetry/metrics.ts). */
  readonly events?: AdsServerDeps['events'];
};

export type Xds = {
  readonly ads: AdsServer;
  /**
   * Adds the ADS service to a gRPC server: on the :15012 TLS one (`tls: true`) a Sluice
   * proxy must present its Workload's SVID; the :15010 plaintext one is for loopback tools.
   */
  register(server: grpc.Server, opts?: { tls: boolean }): void;
  view(): MeshView | null;
  /** Every connected client and, per type, whether it holds the current config. */
  status(): ProxyStatus[];
  /** The SVID each connected client presented on :15012 (sluicectl check). */
  peerCertificates(): PeerCertificate[];
  /** The status the control plane computes for every resource (control-plane/status/). */
  readonly resourceStatus: StatusController;
  /** Where other zones reach this zone: `configured`, else its connected zone ingress (zone/ingress-address.ts); null: none. */
  ingressAddress(configured?: IngressAddress | null): IngressAddress | null;
  /** Rebuilds the view from what it reads besides the store (the remote zones changed). */
  refresh(): void;
  close(): void;
};

/** Follows the store and serves what it holds to every xDS client; resolves once the first snapshot is ready. */
export async function startXds(opts: XdsOptions): Promise<Xds> {
  const cache = new SnapshotCache(opts.log);
  // Each feeds the other: the ADS server says when a proxy's state moved, the status reads its streams.
  const ads = new AdsServer({ cache, log: opts.log, now: opts.now, admit: opts.admit, onChange: () => resourceStatus.proxiesChanged(), events: opts.events });
  const resourceStatus = new StatusController({ now: opts.now, proxies: () => proxyStatus(ads, cache), onChanged: opts.onStatusChanged });
  const index = new MeshIndex({
    store: opts.store,
    log: opts.log,
    trustBundle: opts.trustBundle,
    defaultTrustDomain: opts.trustDomain,
    zones: opts.zones,
    onView: (view) => {
      if (!cache.setView(view)) return;
      // The push first: status is for operators, and it must not stand between a change and the proxies.
      ads.pushAll();
      // Status says what the proxies are sent: only of a view the cache took.
      resourceStatus.viewChanged(view);
    },
  });
  await index.start();
  return {
    ads,
    register: (server, { tls } = { tls: false }) => ads.register(server, tls ? (node, call) => admitOnTls(node, peerSpiffeId(call), cache.view) : opts.admit),
    view: () => cache.view,
    status: () => proxyStatus(ads, cache),
    peerCertificates: () => peerCertificates(ads),
    resourceStatus,
    ingressAddress: (configured = null) => zoneIngressAddress(cache.view, [...ads.streams.values()].map((s) => s.node), configured),
    refresh: () => void index.refresh(),
    close: () => {
      index.close();
      resourceStatus.close();
      ads.close();
    },
  };
}
