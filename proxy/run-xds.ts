// A proxy that follows a control plane (sluice-proxy --control-plane): join with the token
// (or the identity kept from an earlier start) -> SVID on disk, renewed by the certificate
// service -> ProxyServer with admin and stats -> ADS over mTLS with that SVID, each config
// applied as it comes. Without the control plane it keeps serving what it last applied.

import { X509Certificate } from 'node:crypto';
import { caTrustDomains, certificateBlocks, workloadId } from '../certs/index.ts';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CA_BUNDLE_ENV, parseTokenFile } from '../xds/index.ts';
import { dialControlPlane } from '../xds/dial.ts';
import { routeGrpcLogs } from '../xds/grpc-log.ts';
import type { ProxyFlags, XdsFlags } from './flags.ts';
import type { RunningProxy, StartResult } from './run.ts';
import { createRuntime, startAdmin, type AdminServers, type Io } from './runtime.ts';
import { ProxyIdentity } from './tls/identity.ts';
import { AdsClient, systemClock } from './xds/ads-client.ts';
import { SvidClient } from './xds/svid-client.ts';
import { MetricsReporter } from './xds/metrics-reporter.ts';
import { FailureStream } from './xds/failure-stream.ts';
import { toStruct } from '../xds/struct.ts';
import { captureProbe, checkRedirect } from './capture/probe.ts';
import { applyEverywhere, WorkerPool } from './workers/pool.ts';

const fail = (exitCode: number, error: string): StartResult => ({ ok: false, exitCode, error: `sluice-proxy: ${error}\n` });

export async function startXdsProxy(flags: ProxyFlags, xf: XdsFlags, io: Io): Promise<StartResult> {
  const { log } = io;
  routeGrpcLogs(log);
  const dir = xf.identityDir;
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') };

  let proof: { trustBundle: string; joinToken?: string; podToken?: () => string; identity?: string; workload?: string };
  if (xf.serviceAccountTokenFile !== null) {
    const pod = podProof(xf.serviceAccountTokenFile, files.bundle, process.env);
    if (typeof pod === 'string') return fail(2, pod);
    proof = pod;
  } else if (xf.tokenFile !== null) {
    let text: string;
    try {
      text = readFileSync(xf.tokenFile, 'utf8');
    } catch (err) {
      return fail(2, `--token ${xf.tokenFile}: ${(err as Error).message}`);
    }
    const parsed = parseTokenFile(text, xf.tokenFile);
    if (!parsed.ok) return fail(2, parsed.error);
    proof = { trustBundle: parsed.value.bundle, joinToken: parsed.value.token, identity: parsed.value.identity };
  } else {
    try {
      proof = { trustBundle: readFileSync(files.bundle, 'utf8') };
    } catch {
      return fail(2, `no --token and no identity in ${dir}: a proxy joins the first time with a token (sluicectl token create --workload NAME --out FILE)`);
    }
  }
  const svids = new SvidClient({ address: xf.controlPlane, dir, ...proof }, { now: Date.now, log, random: Math.random });
  let issued;
  try {
    issued = await svids.start();
  } catch (err) {
    svids.close();
    return fail(2, `could not get an identity from ${xf.controlPlane}: ${(err as Error).message}`);
  }
  if (issued.workload === '') {
    svids.close();
    return fail(2, `${dir} holds an SVID for ${issued.svid.identity}, and the control plane cannot tell which Workload it speaks for (several run as that service account): join again with a token (sluicectl token create --workload NAME --out FILE; sluice-proxy ... --token FILE)`);
  }
  const identity = new ProxyIdentity(dir, { now: Date.now, log });
  const loaded = await identity.use(files);
  if (!loaded.ok) {
    svids.close();
    return fail(2, `${dir}: identity: ${loaded.error}`);
  }
  log('info', 'identity ready', { identity: issued.svid.identity, workload: issued.workload, namespace: issued.namespace, source: issued.source });

  const probe = xf.capture === null ? null : captureProbe(xf.capture.probe.address, xf.capture.probe.port, process.pid);
  const self = { workload: issued.workload, namespace: issued.namespace, ...(xf.zone === undefined ? {} : { zone: xf.zone }) };
  const runtime = createRuntime(io, identity, probe, self);
  const server = runtime.server;
  if (flags.workers > 1) runtime.workers = new WorkerPool(flags.workers - 1, { accessLog: flags.accessLog, baseDir: dir, probe, self }, { log, failures: runtime.failures });
  let ads: AdsClient | null = null;
  let admin: AdminServers;
  // In capture mode: why redirection does not (yet) reach this proxy; null once it does.
  let captureProblem: string | null = probe === null ? null : 'the capture check has not run yet: it runs once the first config is applied';
  try {
    admin = await startAdmin(flags, runtime, identity, log, () => ({ xds: ads?.status() ?? null, failure_reports: runtime.failures.stats }), () => captureProblem);
  } catch (err) {
    await runtime.workers?.drain(0);
    svids.close();
    identity.close();
    return fail(1, `could not start the admin or stats server: ${(err as Error).message}`);
  }
  let ready = false;
  const dial = dialControlPlane(xf.controlPlane);
  ads = new AdsClient({
    target: xf.controlPlane,
    // Read at each connection: the SVID may have been renewed since the last one.
    credentials: () => grpc.credentials.createSsl(readFileSync(files.bundle), readFileSync(files.key), readFileSync(files.cert), dial.verify),
    channelOptions: dial.options,
    node: {
      id: `${issued.workload}.${issued.namespace}`,
      locality: xf.zone === undefined ? {} : { zone: xf.zone },
      metadata: {
        'sluice.dev/proxy': 'sluice-proxy',
        'sluice.dev/outbound-port': xf.outboundPort,
        'sluice.dev/app-ports': xf.apps,
        'sluice.dev/admin': `${flags.adminAddress}:${admin.adminPort}`,
        ...(xf.capture === null ? {} : { 'sluice.dev/capture': { inboundPort: xf.capture.inboundPort, strictEgress: xf.capture.strictEgress } }),
        // The control plane sends a zone ingress its SNI passthrough listener on this port, and nothing of a workload's.
        ...(xf.zoneIngress === null ? {} : { 'sluice.dev/mode': 'zone-ingress', 'sluice.dev/ingress-port': xf.zoneIngress.port }),
      },
    },
    identity: files,
    clock: systemClock,
    random: Math.random,
    log,
    // Refused before it ever had a config (its flags, its identity): one line that says what
    // is wrong and what to run, and a non-zero exit, so a supervisor's restart policy acts
    // instead of the proxy retrying the same refusal forever with /ready at 503.
    refused: (why) => {
      log('error', `the control plane refused this proxy: ${why}; fix what it names and start again, or join anew (sluicectl token create --workload ${issued.workload} --out FILE; sluice-proxy --control-plane ${xf.controlPlane} --token FILE)`, { controlPlane: xf.controlPlane, node: `${issued.workload}.${issued.namespace}` });
      void running.stop().finally(() => process.exit(2));
    },
    apply: async (config, { bundlePem }) => {
      if (bundlePem !== null && bundlePem !== readFileSync(files.bundle, 'utf8')) writeAtomically(files.bundle, bundlePem);
      await applyEverywhere(server, runtime.workers, config, files, files, log);
      runtime.metrics.configReloads.labels('ok').inc();
      if (!ready && probe !== null) checkCapture();
      if (!ready) log('info', 'proxy ready', { listeners: server.ports(), admin: admin.adminPort, stats: admin.statsPort, controlPlane: xf.controlPlane, pid: process.pid, workers: flags.workers });
      else log('info', 'config applied', { listeners: server.ports() });
      ready = true;
    },
  });
  // The rules may come after the proxy (the CNI race): checked again every few seconds until they work.
  let captureTimer: NodeJS.Timeout | null = null;
  const checkCapture = () => {
    void checkRedirect(probe!).then((why) => {
      if (why === null) {
        if (captureProblem !== null) log('info', 'capture works: a connection to the probe address reached this proxy', { probe: `${probe!.address}:${probe!.port}` });
        captureProblem = null;
        return;
      }
      if (why !== captureProblem) log('error', 'capture does not work; the proxy stays unready until it does', { reason: why });
      captureProblem = why;
      captureTimer = setTimeout(checkCapture, 3000);
      captureTimer.unref();
    });
  };
  ads.start();
  // The golden metrics, to the control plane that aggregates them (sluicectl stat, top).
  const reporter = new MetricsReporter({
    target: xf.controlPlane,
    credentials: () => grpc.credentials.createSsl(readFileSync(files.bundle), readFileSync(files.key), readFileSync(files.cert), dial.verify),
    channelOptions: dial.options,
    nodeId: `${issued.workload}.${issued.namespace}`,
    // Every worker's counts added up: the control plane sees one proxy.
    snapshot: () => (runtime.workers === null ? runtime.metrics.snapshot() : runtime.workers.metrics(runtime.metrics.snapshot())),
    log,
  });
  reporter.start();
  // Failed requests go to the same control plane, over the same mTLS, for sluicectl explain.
  const failures = new FailureStream({
    target: xf.controlPlane,
    credentials: () => grpc.credentials.createSsl(readFileSync(files.bundle), readFileSync(files.key), readFileSync(files.cert), dial.verify),
    channelOptions: dial.options,
    node: { id: `${issued.workload}.${issued.namespace}`, user_agent_name: 'sluice-proxy', metadata: toStruct({ 'sluice.dev/proxy': 'sluice-proxy' }) },
    reporter: runtime.failures,
    clock: systemClock,
    random: Math.random,
    log,
  });
  failures.start();
  log('info', 'following the control plane', { controlPlane: xf.controlPlane, node: `${issued.workload}.${issued.namespace}`, admin: admin.adminPort });

  const running: RunningProxy = {
    server,
    reload: async () => {
      log('info', 'SIGHUP ignored: this proxy takes its config from the control plane', { controlPlane: xf.controlPlane });
      return false;
    },
    stop: async () => {
      if (captureTimer !== null) clearTimeout(captureTimer);
      reporter.close();
      await ads.close();
      failures.close();
      svids.close();
      await Promise.all([server.drain(flags.drainTimeoutMs), runtime.workers?.drain(flags.drainTimeoutMs)]);
      await admin.close();
      await runtime.close();
      identity.close();
      log('info', 'stopped', {});
    },
  };
  return { ok: true, value: running };
}

/** The pushed trust bundle replaces the file the TLS contexts read, whole or not at all. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.xds.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

/**
 * A pod's proof, as the injector sets it up: the projected service-account token file
 * (re-read at each join), the identity of its service account in the trust domain its roots
 * name (the root's URI SAN spiffe://TD), and the roots to check the control plane with: the
 * injected SLUICE_CA_BUNDLE, or the identity folder's after a restart.
 */
function podProof(tokenFile: string, bundleFile: string, env: NodeJS.ProcessEnv): { trustBundle: string; podToken: () => string; identity: string; workload: string } | string {
  try {
    readFileSync(tokenFile, 'utf8');
  } catch (err) {
    return `--service-account-token ${tokenFile}: ${(err as Error).message} (the injector mounts the projected token there)`;
  }
  const missing = ['POD_NAME', 'POD_NAMESPACE', 'SERVICE_ACCOUNT'].filter((k) => !env[k]);
  if (missing.length > 0) return `--service-account-token needs ${missing.join(', ')} in the environment (the injector sets them from the downward API)`;
  let bundle = env[CA_BUNDLE_ENV] ?? '';
  if (bundle.trim() === '') {
    try {
      bundle = readFileSync(bundleFile, 'utf8');
    } catch {
      return `--service-account-token needs the mesh's roots: ${CA_BUNDLE_ENV} in the environment (the injector sets it) or ${bundleFile} from an earlier join`;
    }
  }
  const trustDomain = trustDomainOf(bundle);
  if (trustDomain === null) return `${CA_BUNDLE_ENV}: no certificate in it names its trust domain (a root of this mesh carries the URI SAN spiffe://TRUST-DOMAIN)`;
  return {
    trustBundle: bundle,
    podToken: () => readFileSync(tokenFile, 'utf8'),
    identity: workloadId(trustDomain, env.POD_NAMESPACE!, env.SERVICE_ACCOUNT!),
    workload: env.POD_NAME!,
  };
}

/** The trust domain the bundle's first CA names (its URI SAN spiffe://TD, certs caTrustDomains), or null. */
function trustDomainOf(bundle: string): string | null {
  for (const pem of certificateBlocks(bundle)) {
    try {
      const td = caTrustDomains(new X509Certificate(pem))[0];
      if (td !== undefined) return td;
    } catch {
      // Not a certificate: the next one may be.
    }
  }
  return null;
}
