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
import { createFailureReporter, type FailureReporter } from './telemetry/failure-report.ts';
import { createTracing, type Tracing } from './telemetry/tracing.ts';
import { readFileSync } from 'node:fs';
import { createMeshRecorder, UNKNOWN, type MeshSelf } from './telemetry/mesh-metrics.ts';
import type { ProxyConfig } from './config/model.ts';
import { parseSpiffeId, workloadOf } from '../certs/spiffe-id.ts';
import { APP_PROBES_ENV, parseAppProbes } from '../kinds/app-probes.ts';
import { familyTotal, renderSnapshot } from '../kinds/metrics-snapshot.ts';
import type { WorkerPool } from './workers/pool.ts';

export type Io = { log: Logger; accessOut: { write(s: string): unknown } | null };

export type Runtime = {
  readonly server: ProxyServer;
  readonly metrics: ReturnType<typeof createProxyMetrics>;
  /** Failed requests for the control plane (sluicectl explain); queues nothing until a sender enables it. */
  readonly failures: FailureReporter;
  readonly tracing: Tracing;
  /** The worker threads (--workers N > 1), set once started; null: the main thread serves alone. */
  workers: WorkerPool | null;
  /** Flushes the access log and the spans still queued. */
  close(): Promise<void>;
};

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Who this proxy runs for, as the mesh metrics label its own side and its spans' mesh attributes say; unknown parts stay "unknown". */
export type SelfLabels = { readonly workload?: string; readonly namespace?: string; readonly zone?: string };

export function createRuntime(io: Io, identity: ProxyIdentity, captureProbe: CaptureProbe | null = null, self: SelfLabels = {}): Runtime {
  const { log } = io;
  const tracing = createTracing(log, self, VERSION);
  const metrics = createProxyMetrics();
  const mtlsLog = onceAMinute(Date.now);
  const accessLog = createAccessLog(io.accessOut);
  // The server is made below and asked only once requests flow; the recorder compares the config per request.
  const configOf = (): ProxyConfig | null => server.config;
  const mesh = createMeshRecorder(metrics.mesh, meshSelf(self, identity, configOf), configOf);
  const observer = createRequestObserver(metrics, accessLog, mesh);
  const failures = createFailureReporter({ now: Date.now });
  const server = new ProxyServer({
    log,
    observe: (ctx) => {
      observer.observe(ctx);
      failures.offer(ctx);
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
    onTcpBytes: (listener, received, sent, stream) => observer.tcpBytes(listener, received, sent, stream),
    onTcpOpen: (listener, stream) => observer.tcpOpen(listener, stream),
    random: Math.random,
    now: Date.now,
    svid: identity.current,
    captureProbe,
    ...peerMetadataOf(self),
    tracing,
  });
  return {
    server,
    metrics,
    failures,
    tracing,
    workers: null,
    close: async () => {
      accessLog.close();
      await tracing.close();
    },
  };
}

/** What this proxy tells the peer proxies it calls (x-sluice-peer): its Workload and zone, when it knows them. */
function peerMetadataOf(self: SelfLabels): { peerMetadata?: string } {
  const parts = [...(self.workload === undefined ? [] : [`workload=${self.workload}`]), ...(self.zone === undefined ? [] : [`zone=${self.zone}`])];
  return parts.length === 0 ? {} : { peerMetadata: parts.join(';') };
}

/** The proxy's own labels: its Workload and namespace when it joined a control plane, else what its SVID and config say. */
function meshSelf(self: SelfLabels, identity: ProxyIdentity, config: () => ProxyConfig | null): MeshSelf {
  const principal = () => identity.current()?.identity ?? UNKNOWN;
  const fromSvid = (): string => {
    const id = parseSpiffeId(principal());
    return id.ok ? (workloadOf(id.value)?.namespace ?? UNKNOWN) : UNKNOWN;
  };
  return {
    workload: self.workload ?? UNKNOWN,
    get namespace() {
      return self.namespace ?? fromSvid();
    },
    get zone() {
      return self.zone ?? config()?.node.zone ?? UNKNOWN;
    },
    principal,
  };
}

/** The registry and the backends' counts as Prometheus text: with worker threads, everyone's added up. */
export async function metricsText(runtime: Runtime): Promise<string> {
  const { server, metrics, workers } = runtime;
  if (workers === null) return metrics.render() + clusterMetricsText(server.clusters());
  const all = await workers.metricsAndClusters({ metrics: metrics.snapshot(), clusters: server.clusters() });
  return renderSnapshot(all.metrics) + clusterMetricsText(all.clusters);
}

/** /workers: each thread serving traffic (0 is the main thread) and what it has counted. */
async function workersView(runtime: Runtime): Promise<unknown[]> {
  const own = { worker: 0, threadId: 0, alive: true, restarts: 0, metrics: runtime.metrics.snapshot() };
  const all = [own, ...((await runtime.workers?.views()) ?? [])];
  return all.map(({ metrics, ...w }) => ({ ...w, requests: familyTotal(metrics, 'sluice_route_requests_total'), connections: familyTotal(metrics, 'sluice_downstream_connections_total') }));
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
    clusters: () => runtime.workers?.clusters(server.clusters()) ?? server.clusters(),
    certs: () => identity.status(),
    metricsText: () => metricsText(runtime),
    workers: () => workersView(runtime),
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
