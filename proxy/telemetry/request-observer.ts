// The telemetry step: once a request is over, one access-log line and its metrics. It sits
// outside the filter chain because a response body ends long after the chain returned.

import { performance } from 'node:perf_hooks';
import type { RequestContext } from '../http/context.ts';
import type { AccessLog } from './access-log.ts';
import { statusClass, type ProxyMetrics } from './metrics.ts';
import type { MeshRecorder, TcpStream } from './mesh-metrics.ts';
import { accessLogSpanId, accessLogTraceId } from './trace-context.ts';

export type RequestObserver = {
  observe(ctx: RequestContext): void;
  refused(listener: string, code: string, reason: string, remote: string): void;
  connection(listener: string, delta: 1 | -1): void;
  tcpBytes(listener: string, received: number, sent: number, stream?: TcpStream): void;
  tcpOpen(listener: string, stream: TcpStream): void;
};

/** `mesh`: Istio's standard metrics, labelled with who this proxy is; null leaves them unfed (tests of the rest). */
export function createRequestObserver(metrics: ProxyMetrics, accessLog: AccessLog, mesh: MeshRecorder | null = null): RequestObserver {
  return {
    observe(ctx) {
      const ms = performance.now() - ctx.startMs;
      const route = ctx.route?.statName ?? '-';
      const backend = ctx.backend ?? '-';
      const cls = statusClass(ctx.status);
      metrics.requests.labels(ctx.listener, route, backend, cls).inc();
      metrics.requestDuration.labels(ctx.listener, route, backend).observe(ms);
      metrics.bytesReceived.labels(ctx.listener).inc(ctx.bytesReceived);
      metrics.bytesSent.labels(ctx.listener).inc(ctx.bytesSent);
      if (ctx.upstreamHost !== null) metrics.upstreamRequests.labels(backend, ctx.upstreamHost, cls).inc();
      if (ctx.flags.length > 0) for (const f of ctx.flags) metrics.localReplies.labels(ctx.listener, f).inc();
      mesh?.request(ctx, ms);
      if (accessLog.on) accessLog.log({
        time: '',
        request_id: ctx.requestId,
        method: ctx.method,
        authority: ctx.authority,
        path: ctx.path,
        protocol: ctx.protocol,
        status: ctx.status,
        flags: ctx.flags.length === 0 ? '-' : ctx.flags.join(','),
        details: ctx.details,
        route,
        upstream: ctx.backend,
        upstream_host: ctx.upstreamHost,
        bytes_received: ctx.bytesReceived,
        bytes_sent: ctx.bytesSent,
        duration_ms: Math.round(ms * 1000) / 1000,
        downstream_remote: ctx.downstreamRemote,
        downstream_peer: ctx.peer?.identity ?? null,
        listener: ctx.listener,
        trace_id: accessLogTraceId(ctx),
        span_id: accessLogSpanId(ctx),
      });
    },
    refused(listener, code, _reason, _remote) {
      if (code === 'MTLS') return void metrics.mtlsRefused.labels(listener).inc();
      // A tcp connection its policies deny is closed, Envoy's network RBAC way: counted with the RBAC flag.
      // NR: a zone ingress connection whose SNI no filter chain matches (Envoy's flag for exactly that).
      metrics.localReplies.labels(listener, code === 'H2_ABUSE' ? 'H2_ABUSE' : code === 'RBAC_DENIED' ? 'RBAC' : code === 'NR' ? 'NR' : 'DPE').inc();
      if (code === 'H2_ABUSE') metrics.h2Goaway.labels(listener, 'rapid_reset').inc();
    },
    connection(listener, delta) {
      metrics.downstreamConnectionsActive.labels(listener).inc(delta);
      if (delta === 1) metrics.downstreamConnections.labels(listener).inc();
    },
    tcpBytes(listener, received, sent, stream) {
      metrics.bytesReceived.labels(listener).inc(received);
      metrics.bytesSent.labels(listener).inc(sent);
      if (stream !== undefined) mesh?.tcpClosed(listener, stream, received, sent);
    },
    tcpOpen(listener, stream) {
      mesh?.tcpOpened(listener, stream);
    },
  };
}
