// The control plane's HTTP API (DESIGN: port 15014): Kubernetes-style REST paths per kind,
// bearer-token access, JSON in and out, watches streamed. Plain HTTP on loopback; the
// caller passes TLS options for any other address (main.ts decides).

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from '../log.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';
import { readBody } from './body.ts';
import { CERTIFICATES_PATH, certificatesReport, type CertificatesOptions } from './certificates.ts';
import { parsePath, type Target } from './paths.ts';
import { resourceApi, type StatusOf } from './resources.ts';
import type { ControlPlaneFacts } from '../api/carried.ts';
import { ApiError, status, type Status } from './status.ts';
import { FAILURES_PATH, failuresQuery } from './failures.ts';
import type { FailureQuery, FailureRecord } from '../explain/failure-log.ts';
import { bearerMatches } from './token.ts';
import { isTokenPath, serveTokens, type TokenApiOptions } from './tokens.ts';
import { streamWatch } from './watch.ts';
import { serveZoneTokens, ZONE_TOKENS_PATH, ZONES_PATH, zonesReport, type ZonesApiOptions } from './zones.ts';
import { DURATION_PATTERN, parseDuration } from '../../kinds/schema-kit.ts';
import type { StatsReport } from '../telemetry/metrics-sink.ts';
import { serveDashboard } from '../dashboard/serve.ts';

export type ApiServerOptions = {
  readonly store: ResourceStore;
  readonly token: string;
  readonly log: Logger;
  readonly version: string;
  /** Serve HTTPS with this certificate chain and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** GET /debug/xds/proxies: every xDS client and its sync state per type (sluicectl proxy-status). */
  readonly proxyStatus?: () => unknown;
  /** GET /debug/certificates: the CA's and the connected clients' certificates (sluicectl check); absent: not served. */
  readonly certificates?: CertificatesOptions;
  /** The join-token API (tokens.ts) under /apis/ca.sluice.dev/v1; absent: not served. */
  readonly tokens?: TokenApiOptions;
  /** What resources are checked against before they are stored (api/carried.ts). */
  readonly facts: ControlPlaneFacts;
  /** The status the control plane computed for a resource, served in its `status` (control-plane/status/). */
  readonly statusOf?: StatusOf;
  /** Zone tokens and GET /debug/zones (zones.ts); absent: not served. */
  readonly zones?: ZonesApiOptions;
  /** Why this control plane's role refuses writes of a kind (zone/roles.ts); undefined: taken. */
  readonly refuse?: (kind: string) => string | undefined;
  /** GET /debug/stats?window=1m: golden metrics per Service and edge, from what the proxies send (telemetry/metrics-sink.ts); absent: not served. */
  readonly stats?: (windowMs: number) => StatsReport;
  /** GET /debug/failures: the failed requests proxies reported (sluicectl explain); absent: not served. */
  readonly failures?: (q: FailureQuery) => FailureRecord[];
  /** GET /metrics: Prometheus text, served without the token as istiod serves its own (README, "Metrics"); absent: not served. */
  readonly metrics?: () => string;
};

/** Golden metrics per Service and edge (sluicectl stat, top; the dashboard). */
export const STATS_PATH = '/debug/stats';

export function createApiServer(opts: ApiServerOptions): Server {
  const api = resourceApi(opts.store, opts.facts, opts.statusOf);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://api');
    if (url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (serveDashboard(url.pathname, req.method ?? 'GET', res)) return;
    // Before the token: a Prometheus scrapes it with no secret; it holds counts, node ids, SPIFFE IDs and zone names, never a token or a key.
    if (url.pathname === '/metrics' && opts.metrics !== undefined) {
      if (req.method !== 'GET') return notAllowed(res, req.method ?? '', 'GET');
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      return void res.end(opts.metrics());
    }
    if (!bearerMatches(req.headers.authorization, opts.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="sluice"');
      return send(res, 401, status('UNAUTHORIZED', 'this API needs a bearer token: the admin token is in DATADIR/admin-token (sluicectl --token-file)'));
    }
    if (url.pathname === '/version') return send(res, 200, { version: opts.version, revision: opts.store.revision() });
    if (url.pathname === '/debug/xds/proxies' && opts.proxyStatus !== undefined) {
      return req.method === 'GET' ? send(res, 200, { items: opts.proxyStatus() }) : notAllowed(res, req.method ?? '', 'GET');
    }
    if (url.pathname === STATS_PATH && opts.stats !== undefined) {
      if (req.method !== 'GET') return notAllowed(res, req.method ?? '', 'GET');
      const w = url.searchParams.get('window') ?? '1m';
      if (!new RegExp(DURATION_PATTERN).test(w)) return send(res, 400, status('BAD_REQUEST', `window must be a duration such as 30s, 1m or 5m; got '${w}'`));
      return send(res, 200, opts.stats(parseDuration(w)));
    }
    if (url.pathname === FAILURES_PATH && opts.failures !== undefined) {
      if (req.method !== 'GET') return notAllowed(res, req.method ?? '', 'GET');
      const q = failuresQuery(url.searchParams);
      return typeof q === 'string' ? send(res, 400, status('BAD_REQUEST', q)) : send(res, 200, { items: opts.failures(q) });
    }
    if (url.pathname === CERTIFICATES_PATH && opts.certificates !== undefined) {
      return req.method === 'GET' ? send(res, 200, certificatesReport(opts.certificates)) : notAllowed(res, req.method ?? '', 'GET');
    }
    if (opts.zones !== undefined && url.pathname === ZONES_PATH) {
      return req.method === 'GET' ? send(res, 200, zonesReport(opts.zones)) : notAllowed(res, req.method ?? '', 'GET');
    }
    if (opts.zones !== undefined && url.pathname === ZONE_TOKENS_PATH) {
      const r = await serveZoneTokens(opts.zones, opts.log, req);
      return send(res, r.code, r.body);
    }
    const refusedToken = req.method === 'POST' ? opts.refuse?.('JoinToken') : undefined;
    if (refusedToken !== undefined && isTokenPath(url.pathname)) return send(res, 403, status('FORBIDDEN', refusedToken));
    if (opts.tokens !== undefined && isTokenPath(url.pathname)) {
      const r = await serveTokens(opts.tokens, opts.log, req, url.pathname);
      return send(res, r.code, r.body);
    }
    const parsed = parsePath(url.pathname);
    if (!parsed.ok) return send(res, 404, status('NOT_FOUND', parsed.message));
    const target = parsed.target;
    const dryRun = url.searchParams.get('dryRun') === 'All';
    const method = req.method ?? 'GET';
    const refused = method === 'GET' ? undefined : opts.refuse?.(target.kind.kind);
    if (refused !== undefined) return send(res, 403, status('FORBIDDEN', refused, { kind: target.kind.kind, name: target.name }));
    if (target.name === undefined) {
      if (method === 'GET') {
        const watch = url.searchParams.get('watch');
        if (watch === 'true' || watch === '1') return streamWatch(opts.store, target, url.searchParams.get('resourceVersion'), res);
        return send(res, 200, await api.list(target));
      }
      if (method === 'POST') {
        const created = await api.create(target, await readBody(req), dryRun);
        if (!dryRun) opts.log('info', 'created', describe(target, created.metadata));
        return send(res, 201, created);
      }
      return notAllowed(res, method, 'GET, POST');
    }
    const one = target as Target & { name: string };
    if (method === 'GET') return send(res, 200, await api.get(one));
    if (method === 'PUT') {
      const updated = await api.update(one, await readBody(req), dryRun);
      if (!dryRun) opts.log('info', 'updated', describe(target, updated.metadata));
      return send(res, 200, updated);
    }
    if (method === 'DELETE') {
      const removed = await api.remove(one, url.searchParams.get('resourceVersion') ?? undefined);
      opts.log('info', 'deleted', describe(target, removed.metadata));
      return send(res, 200, removed);
    }
    return notAllowed(res, method, 'GET, PUT, DELETE');
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const body = err instanceof ApiError ? err.body : isStoreError(err) ? status(err.code, err.message, err.violations.length > 0 ? { violations: err.violations } : undefined) : undefined;
      if (body === undefined) opts.log('error', 'request failed', { method: req.method, path: req.url, error: (err as Error).stack ?? String(err) });
      if (res.headersSent) return void res.destroy();
      // A body refused unread (413) is left to Node, which reads and drops the rest on a
      // kept-alive connection (bounded by requestTimeout): closing instead would reset
      // the connection under a client still sending, and it would never see the 413.
      send(res, body?.code ?? 500, body ?? status('INTERNAL', 'the control plane failed to serve this request; its log has the details'));
    });
  };
  const server = opts.tls === undefined ? createHttpServer(listener) : createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, listener);
  // Watches stay open for as long as the client wants; the request itself must arrive promptly.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  return server;
}

function send(res: ServerResponse, code: number, body: object | Status): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
}

function notAllowed(res: ServerResponse, method: string, allowed: string): void {
  res.setHeader('allow', allowed);
  send(res, 405, status('METHOD_NOT_ALLOWED', `${method} is not served here; use ${allowed}`));
}

function describe(target: Target, meta: { name: string; namespace?: string; resourceVersion?: string }): Record<string, unknown> {
  return { kind: target.kind.kind, namespace: meta.namespace, name: meta.name, resourceVersion: meta.resourceVersion };
}
