// What a proxy's span says about its request once it is over: the OpenTelemetry HTTP
// semantic conventions (stable names, semconv 1.2x) and the mesh's own, `sluice.*`, where
// neither the conventions nor Istio have a name. README, "Tracing", lists them all.

import type { RequestContext } from '../http/context.ts';

/** Who this proxy is, for the mesh attributes; each field is left out of the span when unknown. */
export type MeshSelf = { readonly workload?: string; readonly namespace?: string; readonly zone?: string };

type Attributes = Record<string, string | number>;

export function spanName(ctx: RequestContext): string {
  // Low cardinality, as the conventions ask: the method, and the route's name when one matched.
  return ctx.route === null ? ctx.method : `${ctx.method} ${ctx.route.statName}`;
}

export function spanAttributes(ctx: RequestContext, kind: 'server' | 'client', self: MeshSelf): Attributes {
  const a: Attributes = {
    'http.request.method': ctx.method,
    'url.path': ctx.path,
    'url.scheme': kind === 'server' && ctx.peer !== null ? 'https' : 'http',
    'network.protocol.version': ctx.protocol === 'HTTP/2' ? '2' : ctx.protocol === 'HTTP/1.0' ? '1.0' : '1.1',
    'sluice.request_id': ctx.requestId,
    'sluice.listener': ctx.listener,
    'sluice.response_flags': ctx.flags.length === 0 ? '-' : ctx.flags.join(','),
    'sluice.response_code_details': ctx.details,
    'sluice.retry_count': Math.max(0, ctx.attempts - 1),
  };
  if (ctx.query !== '') a['url.query'] = ctx.query;
  const { host, port } = splitAuthority(ctx.authority);
  if (host !== '') a['server.address'] = host;
  if (port !== null) a['server.port'] = port;
  if (ctx.status > 0) a['http.response.status_code'] = ctx.status;
  const ua = ctx.headers['user-agent'];
  if (typeof ua === 'string') a['user_agent.original'] = ua;
  if (ctx.route !== null) a['sluice.route'] = ctx.route.statName;
  if (ctx.backend !== null) a['sluice.upstream_cluster'] = ctx.backend;
  if (ctx.upstreamHost !== null) a['sluice.upstream_host'] = ctx.upstreamHost;
  if (self.zone !== undefined) a['sluice.zone'] = self.zone;
  const service = serviceOf(host);
  if (service !== null) {
    a['sluice.destination.service'] = service.service;
    a['sluice.destination.namespace'] = service.namespace;
  }
  if (kind === 'server') {
    const remote = ctx.downstreamRemote;
    const colon = remote.lastIndexOf(':');
    if (colon > 0) a['client.address'] = remote.slice(0, colon);
    // The caller's identity: its SPIFFE ID, and the namespace in it (spiffe://TD/ns/NS/sa/SA).
    if (ctx.peer !== null) {
      a['sluice.source.principal'] = ctx.peer.identity;
      const ns = /\/ns\/([^/]+)\//.exec(ctx.peer.identity);
      if (ns !== null) a['sluice.source.namespace'] = ns[1];
    }
    if (self.workload !== undefined) a['sluice.destination.workload'] = self.workload;
    if (self.namespace !== undefined) a['sluice.destination.namespace'] = self.namespace;
  } else {
    if (self.workload !== undefined) a['sluice.source.workload'] = self.workload;
    if (self.namespace !== undefined) a['sluice.source.namespace'] = self.namespace;
    // Semconv's own name for the retries of a client request.
    if (ctx.attempts > 1) a['http.request.resend_count'] = ctx.attempts - 1;
  }
  if (ctx.status >= 500 || (kind === 'client' && ctx.status >= 400)) a['error.type'] = String(ctx.status);
  else if (ctx.status === 0) a['error.type'] = ctx.flags[0] ?? 'incomplete';
  return a;
}

function splitAuthority(authority: string): { host: string; port: number | null } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (m === null) return { host: authority, port: null };
  return { host: m[1], port: m[2] === undefined ? null : Number(m[2]) };
}

/** A mesh Service's host, <service>.<namespace>.svc[.<domain>]; null for any other host. */
function serviceOf(host: string): { service: string; namespace: string } | null {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.|$)/.exec(host);
  return m === null ? null : { service: m[1], namespace: m[2] };
}
