// The one object a request carries through the filter chain. A class, not an object
// literal, so every request has the same V8 shape; filters read and write its fields,
// the exchange (listen/) creates it and the telemetry step reads it when the response ends.

import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ResponseFlag } from '../errors.ts';
import type { TraceSpan } from '../telemetry/trace-context.ts';
import type { MatchedRule } from './route-table.ts';
import type { FailureNotes } from '../telemetry/failure-notes.ts';
import type { Deadline } from './filters/timeout.ts';

export type HeaderMap = Record<string, string | string[]>;

/** Who is on the other end of an mTLS connection, worked out once per connection. */
export type PeerInfo = {
  /** The peer's SPIFFE ID. */
  readonly identity: string;
  /** The x-forwarded-client-cert value the app gets: `By=<this proxy>;URI=<peer>`. */
  readonly xfcc: string;
};

export type HttpProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

/** What a handler resolves with: a status and headers now, a body that streams later. */
export type ProxyResponse = {
  status: number;
  /** Lower-case names; filters may still change them until the exchange writes the head. */
  headers: HeaderMap;
  body: ResponseBody | Buffer | string | null;
};

/**
 * A response body that arrives after the head (an upstream's). `start` is called once,
 * by the exchange, after the head is written; the body then writes into `sink` and honours
 * its backpressure. `cancel` is called instead of (or after) `start` when the downstream
 * went away or the head could not be written, and must release the upstream request.
 */
export interface ResponseBody {
  start(sink: BodySink): void;
  cancel(reason: Error): void;
}

/** Cancels a response's streamed body (an upstream's), if it has one, freeing the upstream request. */
export function releaseBody(res: ProxyResponse, reason: Error = new Error('response discarded')): void {
  const body = res.body;
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body)) body.cancel(reason);
}

export interface BodySink {
  /** false: stop until the callback given to `onDrain` runs. */
  write(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  /** The body ended normally; trailers (gRPC status) when the upstream sent any. */
  end(trailers: HeaderMap | null): void;
  /** The body broke mid-way: the downstream must see a reset, not a clean end. */
  abort(err: Error): void;
}

const NO_HEADERS: readonly string[] = Object.freeze([]);
/** Most requests end with no flag: they share this one (frozen) array until addFlag makes their own. */
const NO_FLAGS: readonly ResponseFlag[] = Object.freeze([]);

export class RequestContext {
  readonly listener: string;
  readonly protocol: HttpProtocol;
  readonly downstreamRemote: string;
  /** performance.now() at the first byte we acted on. */
  readonly startMs: number;

  method: string;
  /** Host / :authority as the client sent it. */
  authority: string;
  /** Normalized once, before routing (see kinds/normalize-path.ts), without the query. */
  path: string;
  /** Raw query, without '?'. */
  query: string;
  /** The headers to send upstream: hop-by-hop already dropped, forwarding headers set. */
  headers: HeaderMap;
  /** The downstream request body, or null when the request has none. */
  body: Readable | null;
  requestId: string;

  route: MatchedRule | null = null;
  backend: string | null = null;
  upstreamHost: string | null = null;
  /** Envoy response flags, comma-joined in the access log. Add with addFlag (or flagFirst), never in place. */
  flags: readonly ResponseFlag[] = NO_FLAGS;
  /** Envoy's response code details: why this status. */
  details = '';
  status = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** The try in flight (upstream/forward.ts), set when it starts; `abort` cancels it. */
  upstreamTry: { cancel(err: Error): void } | null = null;
  /** The request's one deadline (http/filters/timeout.ts), when a timeout applies to it. */
  deadline: Deadline | null = null;
  /** Why the request was given up (client gone, timeout): no further try may start. */
  aborted: Error | null = null;
  /** Tries sent upstream (1 + retries); 0 when the request never left the proxy. */
  attempts = 0;
  downstreamClosed = false;
  /** The verified mTLS peer, or null on a plaintext connection. */
  peer: PeerInfo | null = null;
  /** What that peer's proxy said of itself (x-sluice-peer), for the mesh metrics; null when none or not a verified peer. */
  peerMetadata: string | null = null;
  /** The request's header fields as received, [name, value, ...], duplicates kept apart. */
  rawHeaders: readonly string[] = NO_HEADERS;
  /** Header names a filter set itself (claims of a verified token): read from `headers`, not `rawHeaders`. */
  rewrittenHeaders: readonly string[] = NO_HEADERS;
  /** The verified end-user token, when the listener checks them and the request had one. */
  jwt: { readonly principal: string; readonly claims: Readonly<Record<string, unknown>> } | null = null;
  /** The proxy's span for this request; null when tracing is off (telemetry/tracing.ts). */
  span: TraceSpan | null = null;
  /** Set for an HTTP/1.1 Upgrade request: the router tunnels bytes instead of proxying HTTP. */
  upgrade: { readonly socket: Socket; readonly head: Buffer } | null = null;
  /** What failure sites noted for `sluicectl explain` (telemetry/failure-notes.ts); null while nothing failed. */
  explain: FailureNotes | null = null;

  constructor(
    listener: string,
    protocol: HttpProtocol,
    downstreamRemote: string,
    startMs: number,
    method: string,
    authority: string,
    path: string,
    query: string,
    headers: HeaderMap,
    body: Readable | null,
    requestId: string,
  ) {
    this.listener = listener;
    this.protocol = protocol;
    this.downstreamRemote = downstreamRemote;
    this.startMs = startMs;
    this.method = method;
    this.authority = authority;
    this.path = path;
    this.query = query;
    this.headers = headers;
    this.body = body;
    this.requestId = requestId;
  }

  /** The route table reads the context directly as its RouteRequest. */
  get host(): string {
    return this.authority;
  }

  /** The request target as it goes upstream. */
  target(): string {
    return this.query === '' ? this.path : `${this.path}?${this.query}`;
  }

  /** Gives the request up: the try in flight is cancelled and no retry follows. */
  abort(err: Error): void {
    this.aborted ??= err;
    this.upstreamTry?.cancel(err);
  }

  addFlag(flag: ResponseFlag): void {
    if (!this.flags.includes(flag)) this.flags = [...this.flags, flag];
  }

  /** Puts `flag` first (the cause of a local reply leads the list), once. */
  flagFirst(flag: ResponseFlag): void {
    if (!this.flags.includes(flag)) this.flags = [flag, ...this.flags];
  }
}
