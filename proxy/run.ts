// Wires a proxy together from its flags: config source -> ProxyServer -> telemetry ->
// admin and stats servers. main.ts adds signals and process exit around it.

import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatViolations, loadConfigFile } from './config/index.ts';
import type { ProxyFlags } from './flags.ts';
import { createRuntime, startAdmin, type AdminServers, type Io } from './runtime.ts';
import type { ProxyServer } from './server.ts';
import { ProxyIdentity } from './tls/identity.ts';
import { loadBalancerNames } from './upstream/index.ts';
import { applyEverywhere, WorkerPool } from './workers/pool.ts';

export type RunningProxy = {
  readonly server: ProxyServer;
  /** Re-reads the config file; a bad file keeps the running config and says why. */
  reload(): Promise<boolean>;
  stop(): Promise<void>;
};

export type StartResult = { ok: true; value: RunningProxy } | { ok: false; error: string; exitCode: number };

export async function startProxy(flags: ProxyFlags, io: Io): Promise<StartResult> {
  // grpc-js, protobufjs, the xDS translators and the certificate code are only for a proxy
  // that follows a control plane: a static one never loads them (~10 MiB of heap and code).
  if (flags.xds !== null) return (await import('./run-xds.ts')).startXdsProxy(flags, flags.xds, io);
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
  const self = loaded.value.node.zone === undefined ? {} : { zone: loaded.value.node.zone };
  const runtime = createRuntime(io, identity, null, self);
  const { server, metrics } = runtime;
  if (flags.workers > 1) runtime.workers = new WorkerPool(flags.workers - 1, { accessLog: flags.accessLog, baseDir: dirname(flags.config), probe: null, self }, { log, failures: runtime.failures });
  const drainAll = (timeoutMs: number) => Promise.all([server.drain(timeoutMs), runtime.workers?.drain(timeoutMs)]);
  try {
    await applyEverywhere(server, runtime.workers, loaded.value, loaded.value.identity, null, log);
  } catch (err) {
    await drainAll(0);
    identity.close();
    return { ok: false, exitCode: 1, error: `sluice-proxy: could not start listeners: ${(err as Error).message}\n` };
  }

  let admin: AdminServers;
  try {
    admin = await startAdmin(flags, runtime, identity, log);
  } catch (err) {
    await drainAll(0);
    identity.close();
    return { ok: false, exitCode: 1, error: `sluice-proxy: could not start the admin or stats server: ${(err as Error).message}\n` };
  }
  log('info', 'proxy ready', { listeners: server.ports(), admin: admin.adminPort, stats: admin.statsPort, config: flags.config, pid: process.pid, workers: flags.workers });

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
      await applyEverywhere(server, runtime.workers, next.value, next.value.identity, server.config?.identity ?? null, log);
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
        await drainAll(flags.drainTimeoutMs);
        await admin.close();
        await runtime.close();
        identity.close();
        log('info', 'stopped', {});
      },
    },
  };
}
