// What every proxy runs whatever its config source: the ProxyServer with its telemetry
// hooks, and the admin and stats servers. run.ts (a static file) and run-xds.ts (a control
// plane) each feed it configs their own way.

import { startAdminServer, startStatsServer } from './admin/index.ts';
import type { ProxyFlags } from './flags.ts';
import type { Logger } from './http/rescue.ts';
import { onceAMinute } from './log.ts';
import { ProxyServer } from './server.ts';
import type { CaptureProbe } from './capture/dispatch.ts';
import type { ProxyIdentity } from './tls/identity.ts';
import { createAccessLog, createProxyMetrics } from './telemetry/index.ts';
import { clusterMetricsText } from './telemetry/cluster-metrics.ts';
import { createRequestObserver } from './telemetry/request-observer.ts';
import { createTracing, type MeshSelf, type Tracing } from './telemetry/tracing.ts';
import { readFileSync } from 'node:fs';
import { APP_PROBES_ENV, parseAppProbes } from '../kinds/app-probes.ts';

export type Io = { log: Logger; accessOut: { write(s: string): unknown } | null };

export type Runtime = {
  readonly server: ProxyServer;
  readonly metrics: ReturnType<typeof createProxyMetrics>;
  readonly tracing: Tracing;
  /** Flushes the access log and the spans still queued. */
  close(): Promise<void>;
};

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `self`: who this proxy is, for the spans' mesh attributes (telemetry/span-attributes.ts). */
export function createRuntime(io: Io, identity: ProxyIdentity, captureProbe: CaptureProbe | null = null, self: MeshSelf = {}): Runtime {
  const { log } = io;
  const tracing = createTracing(log, self, VERSION);
  const metrics = createProxyMetrics();
  const mtlsLog = onceAMinute(Date.now);
  const accessLog = createAccessLog(io.accessOut);
  const observer = createRequestObserver(metrics, accessLog);
  const server = new ProxyServer({
    log,
    observe: (ctx) => {
      observer.observe(ctx);
      if (ctx.span !== null) tracing.end(ctx);
    },
    onRefused: (listener, code, reason, remote) => {
      observer.refused(listener, code, reason, remote);
      if (code === 'MTLS' && mtlsLog.allow(reason)) log('warn', 'mTLS connection refused', { listener, remote, reason });
      if (code === 'RBAC_DENIED' && mtlsLog.allow(reason)) log('warn', 'tcp connection denied by authorization', { listener, remote, reason });
      // Keyed by the code, not the reason: a scanner sends a new SNI every time.
      if (code === 'NR' && mtlsLog.allow('NR')) log('warn', 'connection closed: no filter chain matches its SNI', { listener, remote, reason });
    },
    onConnection: (listener, delta) => observer.connection(listener, delta),
    onTcpBytes: (listener, received, sent) => observer.tcpBytes(listener, received, sent),
    random: Math.random,
    now: Date.now,
    svid: identity.current,
    captureProbe,
    tracing,
  });
  return {
    server,
    metrics,
    tracing,
    close: async () => {
      accessLog.close();
      await tracing.close();
    },
  };
}

export type AdminServers = { readonly adminPort: number; readonly statsPort: number; close(): Promise<void> };

/**
 * The admin (loopback) and stats servers over `runtime`; `extraDump` adds to /config_dump (the
 * xDS state); `unready` says why the proxy is not ready yet (capture's check), null once it is.
 * `env`'s SLUICE_APP_PROBES (written by the injector) are the app probes the stats server
 * answers; a value that does not parse is a startup error.
 */
export async function startAdmin(
  flags: ProxyFlags,
  runtime: Runtime,
  identity: ProxyIdentity,
  log: Logger,
  extraDump?: () => Record<string, unknown>,
  unready?: () => string | null,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AdminServers> {
  const { server, metrics } = runtime;
  const probesText = env[APP_PROBES_ENV];
  const appProbes = probesText === undefined || probesText === '' ? undefined : parseAppProbes(probesText);
  if (appProbes !== undefined && !appProbes.ok) throw new Error(appProbes.error);
  const source = {
    ready: () => server.config !== null && !server.draining,
    unready: () => unready?.() ?? null,
    draining: () => server.draining,
    configDump: () => ({ ...(server.configDump() as Record<string, unknown>), ...extraDump?.() }),
    clusters: () => server.clusters(),
    certs: () => identity.status(),
    metricsText: () => metrics.render() + clusterMetricsText(server.clusters()),
  };
  const admin = await startAdminServer({ host: flags.adminAddress, port: flags.adminPort, source, log: (msg: string) => log('warn', msg) });
  let stats;
  try {
    stats = await startStatsServer({ host: flags.statsAddress, port: flags.statsPort, source, appProbes: appProbes?.value });
  } catch (err) {
    await admin.close();
    throw err;
  }
  return { adminPort: admin.port, statsPort: stats.port, close: async () => void (await Promise.all([admin.close(), stats.close()])) };
}
