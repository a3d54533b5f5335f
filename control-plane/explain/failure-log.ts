// The failed requests proxies reported (access-log-service.ts), kept for `sluicectl explain`:
// a ring of the last `perNode` records per proxy, for at most `maxNodes` proxies (the one
// heard from longest ago goes first). Memory is bounded whatever the traffic; a record is
// read back by request id, or as the newest from one proxy to one host.

/** One failed request as a proxy saw it. Times are ISO-8601. */
export type FailureRecord = {
  /** The reporting proxy's node id (<workload>.<namespace>). */
  readonly node: string;
  /** Order of arrival at this control plane (set by FailureLog.add): newer is larger. */
  sequence: number;
  readonly receivedAt: string;
  readonly startTime: string;
  readonly requestId: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly status: number;
  /** Envoy's short response flags: NR, UH, UF, URX, UT, UO, RBAC... */
  readonly flags: readonly string[];
  readonly details: string;
  readonly listener: string;
  readonly route: string;
  readonly upstreamCluster: string;
  readonly upstreamHost: string | null;
  readonly downstreamPeer: string | null;
  readonly attempts: number;
  /** Sluice's notes from the failure site (proxy/telemetry/failure-notes.ts). */
  readonly notes: Readonly<Record<string, unknown>>;
};

export type FailureQuery = {
  readonly requestId?: string;
  readonly node?: string;
  /** Host compared without port and case. */
  readonly authority?: string;
  readonly limit?: number;
};

export type FailureLogOptions = { readonly perNode?: number; readonly maxNodes?: number };

export class FailureLog {
  #perNode: number;
  #maxNodes: number;
  /** Insertion order is recency: a node is moved to the end each time it reports. */
  #rings = new Map<string, FailureRecord[]>();
  /** Records refused because a ring was full (the oldest went) or a node was forgotten. */
  overwritten = 0;
  #sequence = 0;

  constructor(opts: FailureLogOptions = {}) {
    this.#perNode = opts.perNode ?? 1000;
    this.#maxNodes = opts.maxNodes ?? 10_000;
  }

  add(record: FailureRecord): void {
    record.sequence = ++this.#sequence;
    let ring = this.#rings.get(record.node);
    if (ring === undefined) {
      ring = [];
      if (this.#rings.size >= this.#maxNodes) {
        const [oldest, records] = this.#rings.entries().next().value!;
        this.overwritten += records.length;
        this.#rings.delete(oldest);
      }
    } else {
      this.#rings.delete(record.node);
    }
    this.#rings.set(record.node, ring);
    ring.push(record);
    if (ring.length > this.#perNode) {
      ring.shift();
      this.overwritten++;
    }
  }

  /** Matching records, newest first. */
  query(q: FailureQuery): FailureRecord[] {
    const host = q.authority === undefined ? undefined : hostOf(q.authority);
    const out: FailureRecord[] = [];
    const rings = q.node === undefined ? [...this.#rings.values()] : [this.#rings.get(q.node) ?? []];
    for (const ring of rings) {
      for (const r of ring) {
        if (q.requestId !== undefined && r.requestId !== q.requestId) continue;
        if (host !== undefined && hostOf(r.authority) !== host) continue;
        out.push(r);
      }
    }
    out.sort((a, b) => b.sequence - a.sequence);
    return q.limit === undefined ? out : out.slice(0, q.limit);
  }
}

/** "Orders.default:80" -> "orders.default"; "[::1]:80" -> "[::1]". */
export function hostOf(authority: string): string {
  const a = authority.toLowerCase();
  if (a.startsWith('[')) return a.slice(0, a.indexOf(']') + 1);
  const colon = a.lastIndexOf(':');
  return colon === -1 ? a : a.slice(0, colon);
}
