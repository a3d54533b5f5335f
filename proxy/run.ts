// Wires a proxy together from its flags: config source -> ProxyServer -> telemetry ->
// admin and stats servers. main.ts adds signals and process exit around it.

import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAdminServer, startStatsServer } from './admin/index.ts';
import { formatViolations, loadConfigFile } from './config/index.ts';
import type { ProxyFlags } from './flags.ts';
import type { Logger } from './http/rescue.ts';
import { ProxyServer } from './server.ts';
import { ProxyIdentity } from './tls/identity.ts';
import { onceAMinute } from './log.ts';
import { createAccessLog, createProxyMetrics } from './telemetry/index.ts';
import { createRequestObserver } from './telemetry/request-observer.ts';
import { clusterMetricsText } from './telemetry/cluster-metrics.ts';
import { loadBalancerNames } from './upstream/index.ts';

export type RunningProxy = {
  readonly server: ProxyServer;
  /** Re-reads the config file; a bad file keeps the running config and says why. */
  reload(): Promise<boolean>;
  stop(): Promise<void>;
};

export type StartResult = { ok: true; value: RunningProxy } | { ok: false; error: string; exitCode: number };

export async function startProxy(flags: ProxyFlags, io: { log: Logger; accessOut: { write(s: string): unknown } | null }): Promise<StartResult> {
  const { log } = io;
  const opts = { loadBalancers: loadBalancerNames() };
  const loaded = await loadConfigFile(flags.config, opts);
  if (!loaded.ok) {
    return { ok: false, exitCode: 2, error: `${formatViolations(flags.config, loaded.error)}\nsluice-proxy: ${flags.config} is not valid; nothing was started\n` };
  }
  const identity = new ProxyIdentity(dirname(flags.config), { now: Date.now, log });
  const svid = await identity.use(loaded.value.identity);
  if (!svid.ok) {
    return { ok: false, exitCode: 2, error: `sluice-proxy: ${flags.config}: identity: ${svid.error}\nsluice-proxy: no certificate to serve mTLS with; nothing was started\n` };
  }
  const metrics = createProxyMetrics();
  const mtlsLog = onceAMinute(Date.now);
  const accessLog = createAccessLog(io.accessOut);
  const observer = createRequestObserver(metrics, accessLog);
  const server = new ProxyServer({
    log,
    observe: observer.observe,
    onRefused: (listener, code, reason, remote) => {
      observer.refused(listener, code, reason, remote);
      if (code === 'MTLS' && mtlsLog.allow(reason)) log('warn', 'mTLS connection refused', { listener, remote, reason });
    },
    onConnection: (listener, delta) => observer.connection(listener, delta),
    onTcpBytes: (listener, received, sent) => observer.tcpBytes(listener, received, sent),
    random: Math.random,
    now: Date.now,
    svid: identity.current,
  });
  try {
    await server.apply(loaded.value);
  } catch (err) {
    await server.drain(0);
    identity.close();
    return { ok: false, exitCode: 1, error: `sluice-proxy: could not start listeners: ${(err as Error).message}\n` };
  }

  const source = {
    ready: () => server.config !== null && !server.draining,
    draining: () => server.draining,
    configDump: () => server.configDump(),
    clusters: () => server.clusters(),
    certs: () => identity.status(),
    metricsText: () => metrics.render() + clusterMetricsText(server.clusters()),
  };
  let admin, stats;
  try {
    admin = await startAdminServer({ host: flags.adminAddress, port: flags.adminPort, source, log: (msg: string) => log('warn', msg) });
    stats = await startStatsServer({ host: flags.statsAddress, port: flags.statsPort, source });
  } catch (err) {
    await admin?.close();
    await server.drain(0);
    identity.close();
    return { ok: false, exitCode: 1, error: `sluice-proxy: could not start the admin or stats server: ${(err as Error).message}\n` };
  }
  log('info', 'proxy ready', { listeners: server.ports(), admin: admin.port, stats: stats.port, config: flags.config, pid: process.pid });

  let reloading: Promise<boolean> = Promise.resolve(true);
  const reloadOnce = async (): Promise<boolean> => {
    const started = performance.now();
    const next = await loadConfigFile(flags.config, opts);
    if (!next.ok) {
      metrics.configReloads.labels('rejected').inc();
      log('error', 'reload rejected; the running config stays', { config: flags.config, violations: next.error.map((v) => `${v.path}: ${v.message}`) });
      return false;
    }
    const svid = await identity.use(next.value.identity);
    if (!svid.ok) {
      metrics.configReloads.labels('rejected').inc();
      log('error', 'reload rejected; the running config stays', { config: flags.config, error: `identity: ${svid.error}` });
      return false;
    }
    try {
      await server.apply(next.value);
    } catch (err) {
      metrics.configReloads.labels('rejected').inc();
      log('error', 'reload rejected; the running config stays', { config: flags.config, error: (err as Error).message });
      return false;
    }
    metrics.configReloads.labels('ok').inc();
    log('info', 'config reloaded', { config: flags.config, listeners: server.ports(), ms: Math.round(performance.now() - started) });
    return true;
  };

  return {
    ok: true,
    value: {
      server,
      // Reloads run one at a time: two SIGHUPs in a row must not interleave two applies.
      reload: () => (reloading = reloading.then(reloadOnce, reloadOnce)),
      stop: async () => {
        await server.drain(flags.drainTimeoutMs);
        await Promise.all([admin.close(), stats.close()]);
        accessLog.close();
        identity.close();
        log('info', 'stopped', {});
      },
    },
  };
}
