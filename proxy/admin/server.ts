// The admin server (loopback: health, config dump, clusters, stats) and the stats server
// (what Prometheus and the kubelet reach: metrics and readiness only, never the config).
// Both are a table of read-only routes; a new endpoint is a new row.

import { http } from '../node-http.ts';
import type { AddressInfo } from 'node:net';
import { endpointKey, type ClusterStatus } from '../upstream/index.ts';
import { APP_HEALTH_PREFIX, type AppProbes } from '../../kinds/app-probes.ts';
import { runAppProbe } from './app-probes.ts';

/** What the admin and stats servers read. Called per admin request, never on the data path. */
export interface AdminSource {
  /** true once listeners are bound and config loaded, false while draining. */
  ready(): boolean;
  /** Optional: true once a drain started, so /ready can say "draining" instead of "not ready". */
  draining?(): boolean;
  /** Optional: why the proxy is not ready although its config is loaded (capture that does not work), or null. */
  unready?(): string | null;
  /** JSON-serializable config dump: { version, loadedAt, config }. */
  configDump(): unknown;
  /** Every backend and its endpoints with their live state. The server does not mutate it. */
  clusters(): readonly ClusterStatus[] | Promise<readonly ClusterStatus[]>;
  /** Prometheus exposition text (with --workers, every worker's counts added up). */
  metricsText(): string | Promise<string>;
  /** Optional (--workers N > 1): each worker thread, its state and its own count of requests. */
  workers?(): Promise<unknown>;
  /** Optional: the proxy's own certificate, or null when it has none. */
  certs?(): unknown;
}

export type AdminServer = {
  /** The bound port (the real one when asked for 0). */
  readonly port: number;
  /** Stops accepting; resolves once every connection is gone. */
  close(): Promise<void>;
};

type Reply = { status: number; type: string; body: string };
type Route = {
  readonly path: string;
  /** The route takes every path under `path` (which ends with '/'), not `path` alone. */
  readonly prefix?: boolean;
  readonly summary: string;
  handle(source: AdminSource, query: URLSearchParams, request: { path: string; userAgent: string | undefined }): Reply | Promise<Reply>;
};

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const PROMETHEUS = 'text/plain; version=0.0.4; charset=utf-8';

// --- routes ---

const readyRoute = (path: string): Route => ({
  path,
  summary: 'readiness: 200 once listeners are bound and config loaded, 503 while starting or draining',
  handle(source) {
    const why = source.unready?.() ?? null;
    if (source.ready() && why === null) return text(200, 'ready\n');
    if (source.draining?.()) return text(503, 'draining\n');
    return text(503, why === null ? 'not ready\n' : `not ready: ${why}\n`);
  },
});

const prometheusRoute = (path: string): Route => ({
  path,
  summary: 'metrics in the Prometheus text format 0.0.4',
  handle: async (source) => ({ status: 200, type: PROMETHEUS, body: await source.metricsText() }),
});

const adminRoutes: readonly Route[] = [
  { path: '/', summary: 'this index', handle: () => text(200, indexText(adminRoutes)) },
  readyRoute('/ready'),
  { path: '/live', summary: 'liveness: 200 while the process runs', handle: () => text(200, 'live\n') },
  { path: '/config_dump', summary: 'the running config as JSON: { version, loadedAt, config }', handle: (s) => json(s.configDump()) },
  {
    path: '/clusters',
    summary: 'backends and their endpoints with live state (?format=json for JSON)',
    handle: async (s, q) => (q.get('format') === 'json' ? json({ clusters: await s.clusters() }) : text(200, clustersText(await s.clusters()))),
  },
  {
    path: '/workers',
    summary: 'the threads serving traffic (--workers) and the requests each finished',
    handle: async (s) => json({ workers: (await s.workers?.()) ?? [] }),
  },
  {
    path: '/certs',
    summary: "the proxy's own certificate: SPIFFE ID, validity, roots in the bundle, files",
    handle: (s) => json({ certificate: s.certs?.() ?? null }),
  },
  { path: '/stats', summary: 'metrics in the Prometheus text format', handle: async (s) => text(200, await s.metricsText()) },
  prometheusRoute('/stats/prometheus'),
];

/** The app's own probes, asked on 127.0.0.1 for the kubelet (app-probes.ts); a path the injector did not write is 404. */
const appHealthRoute = (probes: AppProbes): Route => ({
  path: APP_HEALTH_PREFIX,
  prefix: true,
  summary: "the app's liveness/readiness/startup probes, forwarded to it",
  handle: async (_source, _query, request) => {
    const probe = probes.get(request.path);
    if (probe === undefined) return text(404, `no app probe at ${request.path}\n`);
    const r = await runAppProbe(probe, request.userAgent);
    return text(r.status, r.body);
  },
});

const statsRoutes = (probes: AppProbes): readonly Route[] => [prometheusRoute('/stats/prometheus'), readyRoute('/healthz/ready'), appHealthRoute(probes)];

// --- servers ---

/** The admin server. Meant for loopback: /config_dump shows the whole running config. */
export function startAdminServer(opts: { host: string; port: number; source: AdminSource; log?: (msg: string) => void }): Promise<AdminServer> {
  if (opts.log && !isLoopback(opts.host)) opts.log(`admin server on non-loopback address ${opts.host}: /config_dump is reachable from the network`);
  return serve(adminRoutes, opts);
}

/** The stats server: /stats/prometheus, /healthz/ready and the app's probes (/app-health/...) only, safe to expose to scrapers and probes. */
export function startStatsServer(opts: { host: string; port: number; source: AdminSource; appProbes?: AppProbes; log?: (msg: string) => void }): Promise<AdminServer> {
  return serve(statsRoutes(opts.appProbes ?? new Map()), opts);
}

/** How long close() lets a slow reader finish before cutting its connection. */
const CLOSE_GRACE_MS = 2000;

function serve(routes: readonly Route[], opts: { host: string; port: number; source: AdminSource; log?: (msg: string) => void }): Promise<AdminServer> {
  const byPath = new Map(routes.filter((r) => r.prefix !== true).map((r) => [r.path, r]));
  const prefixed = routes.filter((r) => r.prefix === true);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = byPath.get(path) ?? prefixed.find((r) => path.startsWith(r.path));
    const send = (reply: Reply) => {
      res.writeHead(reply.status, { 'content-type': reply.type, 'content-length': Buffer.byteLength(reply.body), 'cache-control': 'no-store' });
      res.end(reply.body);
    };
    // The request body (if any) is not read; drain it so keep-alive still works.
    req.resume();
    if (route === undefined) return send(text(404, `not found: try / for the list of endpoints\n`));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(text(405, 'method not allowed: the admin endpoints are read-only (GET)\n'));
    }
    const failed = (err: unknown) => {
      opts.log?.(`admin ${route.path} failed: ${(err as Error).message}`);
      return text(500, 'internal error\n');
    };
    let reply: Reply | Promise<Reply>;
    try {
      reply = route.handle(opts.source, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)), { path, userAgent: req.headers['user-agent'] });
    } catch (err) {
      reply = failed(err);
    }
    if (reply instanceof Promise) reply.then(send, (err: unknown) => send(failed(err)));
    else send(reply);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      server.on('error', (err) => opts.log?.(`admin server error: ${err.message}`));
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
            server.close(() => {
              clearTimeout(cut);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

// --- bodies ---

function text(status: number, body: string): Reply {
  return { status, type: TEXT, body };
}

function json(value: unknown): Reply {
  return { status: 200, type: JSON_TYPE, body: `${JSON.stringify(value, null, 2)}\n` };
}

function indexText(routes: readonly Route[]): string {
  const width = Math.max(...routes.map((r) => r.path.length));
  return `sluice admin\n\n${routes.map((r) => `  ${r.path.padEnd(width)}  ${r.summary}\n`).join('')}`;
}

/** Envoy's /clusters layout: `backend::summary_key::value`, then `backend::host:port::key::value`. */
export function clustersText(clusters: readonly ClusterStatus[]): string {
  const lines: string[] = [];
  for (const c of clusters) {
    const l = c.limits;
    lines.push(
      `${c.name}::protocol::${c.protocol}`,
      `${c.name}::load_balancer::${c.loadBalancer}`,
      `${c.name}::circuit_breakers::max_connections::${l.maxConnections}`,
      `${c.name}::circuit_breakers::max_pending_requests::${l.maxPendingRequests}`,
      `${c.name}::circuit_breakers::max_requests::${l.maxActiveRequests}`,
      `${c.name}::circuit_breakers::max_retries::${l.maxActiveRetries}`,
      `${c.name}::rq_active::${c.activeRequests}`,
      `${c.name}::rq_retry::${c.retries}`,
      `${c.name}::rq_retry_refused::${c.retriesRefused}`,
      `${c.name}::rq_overflow::${c.overflows}`,
    );
    for (const e of c.endpoints) {
      const at = `${c.name}::${endpointKey(e)}`;
      lines.push(`${at}::health::${e.health}`);
      if (e.healthReason !== undefined) lines.push(`${at}::health_reason::${e.healthReason}`);
      if (e.zone !== undefined) lines.push(`${at}::zone::${e.zone}`);
      lines.push(
        `${at}::priority::${e.priority}`,
        `${at}::weight::${e.weight}`,
        `${at}::ejections::${e.ejections}`,
        `${at}::rq_active::${e.activeRequests}`,
        `${at}::rq_total::${e.totalRequests}`,
        `${at}::cx_connect_fail::${e.connectFailures}`,
      );
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
