// The last SVID the certificate service issued to each Workload's proxy, in memory, for
// `sluicectl check` (GET /debug/certificates). A proxy renews its SVID over the certificate
// stream and keeps its ADS stream: the certificate that stream was opened with grows old
// while the proxy holds a fresh one, so what the CA last issued is the proxy's certificate.
// A restarted control plane knows none until the next renewal; the ADS handshake's
// certificate, then the proxy's current one, stands in.

export type IssuedSvid = {
  readonly identity: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
};

/** Newest per key, a Workload at most once: as many entries as Workloads joined. */
export class IssuedSvids {
  #byNode = new Map<string, IssuedSvid>();

  /** Called by the certificate service after each SVID it issued. */
  record(namespace: string, workload: string, svid: IssuedSvid): void {
    this.#byNode.set(nodeIdOf(namespace, workload), svid);
  }

  /** The last SVID issued to the proxy with this node id (`<workload>.<namespace>`, xds/node.ts). */
  latest(nodeId: string): IssuedSvid | undefined {
    return this.#byNode.get(nodeId);
  }
}

const nodeIdOf = (namespace: string, workload: string) => `${workload}.${namespace}`;
