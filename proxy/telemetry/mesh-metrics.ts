// Istio's standard metrics under a sluice_ prefix, with Istio's label names, so dashboards,
// Kiali-style queries and Flagger / Argo Rollouts templates port by renaming the metric.
// Both sides of a hop report: the caller's proxy as reporter="source" (outbound), the
// callee's as reporter="destination" (inbound).
//
// Fourteen of the sixteen labels are fixed per edge: (listener side, peer or endpoint,
// service, protocol). An Edge binds them once; a request then finds its series by status
// and flags in two Map lookups. Edges are dropped (their series stay) when the config changes.

import { parseSpiffeId, workloadOf } from '../../certs/spiffe-id.ts';
import type { Counter, Family, Histogram, Metrics } from '../../kinds/metrics-registry.ts';
import type { Backend, Endpoint, Listener, ProxyConfig } from '../config/model.ts';
import type { RequestContext } from '../http/context.ts';

/** The labels bound per edge, in order. */
export const EDGE_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'connection_security_policy',
] as const;

/** Istio's value for a label it cannot fill. */
export const UNKNOWN = 'unknown';
/** Istio's request_duration_milliseconds buckets. */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);
/** Istio's request/response size buckets: 1 byte to 100 MB by powers of ten. */
export const ISTIO_SIZE_BUCKETS: readonly number[] = Object.freeze([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000]);
/** Edges one listener may hold before new ones share an "unknown" service: a client picks the Host header. */
const MAX_EDGES_PER_LISTENER = 1000;
const OVERFLOW = '\0overflow';

/** Who this proxy is, for the labels of its own side. */
export type MeshSelf = {
  readonly workload: string;
  readonly namespace: string;
  readonly zone: string;
  /** Read when an edge is made: the SVID may come after the runtime. */
  principal(): string;
};

type HttpSeries = { requests: Counter; duration: Histogram; requestBytes: Histogram; responseBytes: Histogram };
type TcpSeries = { sent: Counter; received: Counter; opened: Counter; closed: Counter };
type Families = ReturnType<typeof registerMeshMetrics>;

export function registerMeshMetrics(m: Metrics) {
  const http = ['response_code', 'response_flags'] as const;
  const tcp = ['response_flags'] as const;
  return {
    requests: m.boundCounter('sluice_requests_total', 'Requests, as Istio counts istio_requests_total.', EDGE_LABELS, http),
    duration: m.boundHistogram('sluice_request_duration_milliseconds', 'Request duration in milliseconds, as istio_request_duration_milliseconds.', EDGE_LABELS, http, ISTIO_DURATION_BUCKETS_MS),
    requestBytes: m.boundHistogram('sluice_request_bytes', 'Request body size in bytes, as istio_request_bytes.', EDGE_LABELS, http, ISTIO_SIZE_BUCKETS),
    responseBytes: m.boundHistogram('sluice_response_bytes', 'Response body size in bytes, as istio_response_bytes.', EDGE_LABELS, http, ISTIO_SIZE_BUCKETS),
    tcpSent: m.boundCounter('sluice_tcp_sent_bytes_total', 'Bytes sent to the downstream of a TCP connection, as istio_tcp_sent_bytes_total.', EDGE_LABELS, tcp),
    tcpReceived: m.boundCounter('sluice_tcp_received_bytes_total', 'Bytes received from the downstream of a TCP connection, as istio_tcp_received_bytes_total.', EDGE_LABELS, tcp),
    tcpOpened: m.boundCounter('sluice_tcp_connections_opened_total', 'TCP connections opened, as istio_tcp_connections_opened_total.', EDGE_LABELS, tcp),
    tcpClosed: m.boundCounter('sluice_tcp_connections_closed_total', 'TCP connections closed, as istio_tcp_connections_closed_total.', EDGE_LABELS, tcp),
  };
}

/** One TCP connection as the listener forwarded it. */
export type { TcpStream } from '../listen/tcp-listener.ts';
import type { TcpStream } from '../listen/tcp-listener.ts';

export type MeshRecorder = {
  /** A finished HTTP request and its duration; on every request. */
  request(ctx: RequestContext, ms: number): void;
  tcpOpened(listener: string, stream: TcpStream): void;
  tcpClosed(listener: string, stream: TcpStream, received: number, sent: number): void;
};

// --- edges ---

/** One edge's series; the per-request part (status, flags) is two Map lookups. */
class Edge {
  readonly #f: Families;
  readonly #values: readonly string[];
  #http: Family<Counter, [string, string]> | null = null;
  #bound: { duration: Family<Histogram, [string, string]>; requestBytes: Family<Histogram, [string, string]>; responseBytes: Family<Histogram, [string, string]> } | null = null;
  readonly #byStatus = new Map<number, Map<string, HttpSeries>>();
  #tcp: TcpSeries | null = null;

  constructor(f: Families, values: readonly string[]) {
    this.#f = f;
    this.#values = values;
  }

  http(status: number, flags: string): HttpSeries {
    let byFlags = this.#byStatus.get(status);
    if (byFlags === undefined) this.#byStatus.set(status, (byFlags = new Map()));
    let s = byFlags.get(flags);
    if (s !== undefined) return s;
    if (this.#http === null) {
      this.#http = this.#f.requests.bind(this.#values);
      this.#bound = { duration: this.#f.duration.bind(this.#values), requestBytes: this.#f.requestBytes.bind(this.#values), responseBytes: this.#f.responseBytes.bind(this.#values) };
    }
    const code = String(status);
    const b = this.#bound!;
    s = { requests: this.#http.labels(code, flags), duration: b.duration.labels(code, flags), requestBytes: b.requestBytes.labels(code, flags), responseBytes: b.responseBytes.labels(code, flags) };
    byFlags.set(flags, s);
    return s;
  }

  tcp(): TcpSeries {
    if (this.#tcp !== null) return this.#tcp;
    const v = this.#values;
    const f = this.#f;
    this.#tcp = { sent: f.tcpSent.bind(v).labels('-'), received: f.tcpReceived.bind(v).labels('-'), opened: f.tcpOpened.bind(v).labels('-'), closed: f.tcpClosed.bind(v).labels('-') };
    return this.#tcp;
  }
}

const PROTOCOLS = ['http', 'grpc', 'tcp'] as const;
type Protocol = 0 | 1 | 2;

type MakeEdge = (first: string, second: string, third: string, protocol: Protocol) => Edge;

/**
 * One listener's edges. Inbound: by peer SPIFFE ID, what its proxy said of itself, and the
 * authority; outbound: by backend and endpoint (the third key '').
 */
class Side {
  readonly inbound: boolean;
  readonly #edges = new Map<string, Map<string, Map<string, (Edge | undefined)[]>>>();
  #count = 0;
  readonly #make: MakeEdge;

  constructor(inbound: boolean, make: MakeEdge) {
    this.inbound = inbound;
    this.#make = make;
  }

  edge(first: string, second: string, third: string, protocol: Protocol): Edge {
    let a = this.#edges.get(first);
    if (a === undefined) this.#edges.set(first, (a = new Map()));
    let b = a.get(second);
    if (b === undefined) a.set(second, (b = new Map()));
    let row = b.get(third);
    if (row === undefined) {
      if (this.#count >= MAX_EDGES_PER_LISTENER && third !== OVERFLOW) return this.edge('', '', OVERFLOW, protocol);
      b.set(third, (row = [undefined, undefined, undefined]));
    }
    let e = row[protocol];
    if (e === undefined) {
      this.#count++;
      e = row[protocol] = this.#make(first, second, third, protocol);
    }
    return e;
  }
}

// --- recorder ---

export function createMeshRecorder(f: Families, self: MeshSelf, config: () => ProxyConfig | null): MeshRecorder {
  let seen: ProxyConfig | null = null;
  let sides = new Map<string, Side>();

  const sideOf = (listener: string): Side | undefined => {
    const cfg = config();
    if (cfg !== seen) {
      seen = cfg;
      sides = new Map();
      if (cfg !== null) {
        const backends = new Map(cfg.backends.map((b) => [b.name, b]));
        for (const l of cfg.listeners) sides.set(l.name, isInbound(l) ? new Side(true, inboundEdge(f, self)) : new Side(false, outboundEdge(f, self, backends)));
      }
    }
    return sides.get(listener);
  };

  return {
    request(ctx, ms) {
      const side = sideOf(ctx.listener);
      if (side === undefined) return;
      const ct = ctx.headers['content-type'];
      const protocol: Protocol = typeof ct === 'string' && ct.startsWith('application/grpc') ? 1 : 0;
      const edge = side.inbound ? side.edge(ctx.peer?.identity ?? '', ctx.peerMetadata ?? '', ctx.authority, protocol) : side.edge(ctx.backend ?? '', ctx.upstreamHost ?? '', '', protocol);
      const s = edge.http(ctx.status, ctx.flags.length === 0 ? '-' : ctx.flags.join(','));
      s.requests.inc();
      s.duration.observe(ms);
      s.requestBytes.observe(ctx.bytesReceived);
      s.responseBytes.observe(ctx.bytesSent);
    },
    tcpOpened(listener, stream) {
      edgeOf(sideOf(listener), stream)?.tcp().opened.inc();
    },
    tcpClosed(listener, stream, received, sent) {
      const t = edgeOf(sideOf(listener), stream)?.tcp();
      if (t === undefined) return;
      t.closed.inc();
      t.received.inc(received);
      t.sent.inc(sent);
    },
  };
}

function edgeOf(side: Side | undefined, stream: TcpStream): Edge | undefined {
  if (side === undefined) return undefined;
  return side.inbound ? side.edge(stream.peer ?? '', '', '', 2) : side.edge(stream.backend, stream.upstream ?? '', '', 2);
}

/**
 * A listener takes calls from peers (reporter "destination") when xDS says INBOUND, or, with
 * no direction (no capture, a static file), when it takes mTLS or is an `inbound|PORT` one.
 */
export function isInbound(l: Listener): boolean {
  if (l.direction !== undefined) return l.direction === 'INBOUND';
  return l.tls.mode !== 'DISABLE' || l.name.startsWith('inbound');
}

/**
 * The callee side: this proxy is the destination; the peer's SPIFFE ID says the source's
 * namespace and principal, and what its proxy said of itself (x-sluice-peer) its workload and zone.
 */
function inboundEdge(f: Families, self: MeshSelf): MakeEdge {
  return (peer, metadata, authority, protocol) => {
    const source = peer === '' ? null : parseSpiffeId(peer);
    const ns = source?.ok === true ? (workloadOf(source.value)?.namespace ?? UNKNOWN) : UNKNOWN;
    const said = peerMetadata(metadata);
    const service = authority === OVERFLOW || protocol === 2 ? UNKNOWN : serviceHost(authority, self.namespace);
    const [name, namespace] = serviceParts(service);
    return new Edge(f, [
      'destination',
      said.workload, ns, peer === '' ? UNKNOWN : peer, said.zone,
      self.workload, self.namespace, self.principal(),
      service, name, namespace, self.zone,
      PROTOCOLS[protocol], peer === '' ? 'none' : 'mutual_tls',
    ]);
  };
}

/** The caller side: this proxy is the source; the endpoint's metadata (EDS) says who the destination is. */
function outboundEdge(f: Families, self: MeshSelf, backends: ReadonlyMap<string, Backend>): MakeEdge {
  return (backendName, upstream, _unused, protocol) => {
    const backend = backends.get(backendName);
    const endpoint = backend === undefined || upstream === '' ? undefined : findEndpoint(backend.endpoints, upstream);
    const service = backendName === '' || upstream === OVERFLOW ? UNKNOWN : clusterService(backendName);
    const [name, namespace] = serviceParts(service);
    return new Edge(f, [
      'source',
      self.workload, self.namespace, self.principal(), self.zone,
      endpoint?.workload?.name ?? UNKNOWN, endpoint?.workload?.namespace ?? UNKNOWN, endpoint?.workload?.principal ?? UNKNOWN,
      service, name, namespace, endpoint?.zone ?? UNKNOWN,
      PROTOCOLS[protocol], backend?.tls != null ? 'mutual_tls' : 'none',
    ]);
  };
}

const METADATA_VALUE = /^[A-Za-z0-9._-]{1,253}$/;

/** `workload=NAME;zone=ZONE` (either may be missing); a value that is not a plain name is unknown. */
export function peerMetadata(text: string): { workload: string; zone: string } {
  const out = { workload: UNKNOWN, zone: UNKNOWN };
  if (text === '' || text.length > 600) return out;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0 || !METADATA_VALUE.test(value)) continue;
    if (key === 'workload') out.workload = value;
    else if (key === 'zone') out.zone = value;
  }
  return out;
}

function findEndpoint(endpoints: readonly Endpoint[], key: string): Endpoint | undefined {
  for (const e of endpoints) if (`${e.address}:${e.port}` === key || `[${e.address}]:${e.port}` === key) return e;
  return undefined;
}

/** `outbound|80||reviews.default.svc.cluster.local` (Istio's cluster name) -> its host; any other name is the service. */
export function clusterService(cluster: string): string {
  if (!cluster.startsWith('outbound|')) return cluster;
  const host = cluster.slice(cluster.lastIndexOf('|') + 1);
  return host === '' ? UNKNOWN : host;
}

/** The Host a caller sent, without its port, lower-cased; a bare name is a Service of this proxy's namespace. */
export function serviceHost(authority: string, namespace: string): string {
  let host = authority.toLowerCase();
  const colon = host.startsWith('[') ? host.indexOf(']:') + 1 : host.lastIndexOf(':');
  if (colon > 0) host = host.slice(0, colon);
  if (host === '') return UNKNOWN;
  if (!host.includes('.') && !host.includes(':') && namespace !== UNKNOWN) return `${host}.${namespace}.svc.cluster.local`;
  return host;
}

/** `name.namespace.svc...` -> [name, namespace]; any other host is its own name, in no known namespace. */
export function serviceParts(host: string): [string, string] {
  if (host === UNKNOWN) return [UNKNOWN, UNKNOWN];
  const parts = host.split('.');
  if (parts.length >= 3 && parts[2] === 'svc') return [parts[0], parts[1]];
  return [host, UNKNOWN];
}
