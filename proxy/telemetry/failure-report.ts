// The failed requests a proxy reports to its control plane, for `sluicectl explain`: each as
// an Envoy HTTPAccessLogEntry (envoy/data/accesslog/v3), with Sluice's notes (failure-notes.ts)
// in its metadata under `sluice.dev/explain`. Bounded everywhere: a token bucket caps the
// entries per second, the queue keeps at most `maxQueued` and drops the oldest past that
// (counted), and nothing here waits on the control plane: traffic never notices whether the
// stream (xds/failure-stream.ts) is up.

import type { RequestContext } from '../http/context.ts';
import { toStruct } from '../../xds/struct.ts';

/** The metadata key (filter_metadata) that carries Sluice's notes and the listener. */
export const EXPLAIN_METADATA = 'sluice.dev/explain';

export type FailureReporterOptions = {
  /** Entries per second, on average; bursts up to this many. Default 50. */
  readonly perSecond?: number;
  /** Entries held while the control plane is away or slow; the oldest go first. Default 1 000. */
  readonly maxQueued?: number;
  /** Epoch ms. */
  readonly now: () => number;
};

export type FailureReporter = {
  /** Called for every finished request; returns at once unless it failed and a sender is attached. */
  offer(ctx: RequestContext): void;
  /** Takes up to `max` queued entries, oldest first. */
  take(max: number): object[];
  /** Puts entries back at the front (a send that failed); the cap still holds. */
  putBack(entries: readonly object[]): void;
  /** A sender attached: until then nothing is queued (a proxy without a control plane). */
  enable(onQueued: () => void): void;
  /** Entries another worker thread made (--workers): queued like its own, once a sender is attached; `limited`, the ones its rate limit let go. */
  add(entries: readonly object[], limited?: number): void;
  readonly stats: { queued: number; dropped: number; limited: number; sent: number };
};

const DEFAULT_PER_SECOND = 50;
const DEFAULT_MAX_QUEUED = 1000;

export function createFailureReporter(opts: FailureReporterOptions): FailureReporter {
  const perSecond = opts.perSecond ?? DEFAULT_PER_SECOND;
  const maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
  let queue: object[] = [];
  let onQueued: (() => void) | null = null;
  let tokens = perSecond;
  let refilledAt = opts.now();
  const stats = { queued: 0, dropped: 0, limited: 0, sent: 0 };
  const push = (entry: object) => {
    queue.push(entry);
    if (queue.length > maxQueued) {
      queue.shift();
      stats.dropped++;
    }
    stats.queued = queue.length;
  };
  return {
    offer(ctx) {
      if (onQueued === null || (ctx.status < 400 && ctx.flags.length === 0)) return;
      const now = opts.now();
      tokens = Math.min(perSecond, tokens + ((now - refilledAt) * perSecond) / 1000);
      refilledAt = now;
      if (tokens < 1) {
        stats.limited++;
        return;
      }
      tokens--;
      push(accessLogEntry(ctx, now));
      onQueued();
    },
    take(max) {
      const out = queue.slice(0, max);
      queue = queue.slice(out.length);
      stats.queued = queue.length;
      return out;
    },
    putBack(entries) {
      queue = [...entries, ...queue];
      while (queue.length > maxQueued) {
        queue.shift();
        stats.dropped++;
      }
      stats.queued = queue.length;
    },
    enable(fn) {
      onQueued = fn;
    },
    add(entries, limited = 0) {
      stats.limited += limited;
      if (onQueued === null || entries.length === 0) return;
      for (const e of entries) push(e);
      onQueued();
    },
    stats,
  };
}

const FLAG_FIELDS: Readonly<Record<string, string>> = {
  NR: 'no_route_found',
  NC: 'no_cluster_found',
  UH: 'no_healthy_upstream',
  UF: 'upstream_connection_failure',
  UC: 'upstream_connection_termination',
  UPE: 'upstream_protocol_error',
  UR: 'upstream_remote_reset',
  UT: 'upstream_request_timeout',
  UO: 'upstream_overflow',
  URX: 'upstream_retry_limit_exceeded',
  DI: 'delay_injected',
  FI: 'fault_injected',
  DC: 'downstream_connection_termination',
  DPE: 'downstream_protocol_error',
  LR: 'local_reset',
};

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const VERSIONS = { 'HTTP/1.0': 'HTTP10', 'HTTP/1.1': 'HTTP11', 'HTTP/2': 'HTTP2' } as const;

/** One finished request as an HTTPAccessLogEntry, in @grpc/proto-loader's form (keepCase). */
export function accessLogEntry(ctx: RequestContext, nowMs: number): object {
  const flags: Record<string, unknown> = {};
  for (const f of ctx.flags) {
    if (f === 'RBAC') flags.unauthorized_details = { reason: 'EXTERNAL_SERVICE' };
    else if (FLAG_FIELDS[f] !== undefined) flags[FLAG_FIELDS[f]] = true;
  }
  const durationMs = Math.max(0, performance.now() - ctx.startMs);
  const start = nowMs - durationMs;
  const peer = ctx.explain?.peer;
  return {
    common_properties: {
      sample_rate: 1,
      downstream_remote_address: address(ctx.downstreamRemote),
      ...(ctx.peer === null ? {} : { tls_properties: { peer_certificate_properties: { subject_alt_name: [{ uri: ctx.peer.identity }] } } }),
      start_time: { seconds: String(Math.floor(start / 1000)), nanos: Math.floor((start % 1000) * 1e6) },
      duration: { seconds: String(Math.floor(durationMs / 1000)), nanos: Math.floor((durationMs % 1000) * 1e6) },
      ...(ctx.upstreamHost === null ? {} : { upstream_remote_address: address(ctx.upstreamHost) }),
      upstream_cluster: ctx.backend ?? '',
      response_flags: flags,
      route_name: ctx.route?.statName ?? '',
      upstream_request_attempt_count: ctx.attempts,
      ...(peer === undefined ? {} : { upstream_transport_failure_reason: `the peer is ${peer.seen}, not ${peer.expected.join(' or ')}` }),
      metadata: { filter_metadata: { [EXPLAIN_METADATA]: toStruct({ listener: ctx.listener, ...(ctx.explain ?? {}) }) } },
    },
    protocol_version: VERSIONS[ctx.protocol],
    request: {
      request_method: METHODS.has(ctx.method) ? ctx.method : 'METHOD_UNSPECIFIED',
      authority: ctx.authority,
      path: ctx.target(),
      request_id: ctx.requestId,
    },
    response: { response_code: { value: ctx.status }, response_code_details: ctx.details },
  };
}

function address(hostPort: string): object {
  const colon = hostPort.lastIndexOf(':');
  const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
  const port = colon === -1 ? 0 : Number(hostPort.slice(colon + 1));
  return { socket_address: { address: host.startsWith('[') ? host.slice(1, -1) : host, port_value: Number.isInteger(port) ? port : 0 } };
}
