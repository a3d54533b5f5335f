#!/usr/bin/env node
// sluice-cp: the control plane. Flags -> data dir (admin token, CA) -> store -> xDS (TLS
// on :15012, plaintext on loopback :15010) -> HTTP API; SIGTERM/SIGINT close the API and
// the xDS streams, then the store, so no acknowledged write is cut short.

import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ensureAdminToken, createApiServer } from './apiserver/index.ts';
import { addAccessLogService } from './explain/access-log-service.ts';
import { FailureLog } from './explain/failure-log.ts';
import { addCertificateService, controlPlaneCredentials, IssuedSvids, joinTokens, servingCertificate } from './ca/index.ts';
import { FlagError, isLoopback, parseFlags, USAGE } from './flags.ts';
import { DEFAULT_IMAGE_REPOSITORY, injectConfig, startWebhookServer, type WebhookServer } from './inject/index.ts';
import { createLogger, logSink, type Logger } from './log.ts';
import { openStore, type KubeStore } from './store/index.ts';
import { startXds } from './xds/index.ts';
import { createControlPlaneMetrics } from './telemetry/metrics.ts';
import { roleCa, RoleError, roleParts } from './zone/index.ts';
import { MetricsSink } from './telemetry/metrics-sink.ts';
import { routeGrpcLogs } from '../xds/grpc-log.ts';
import { stopWithWrapper } from '../xds/wrapper.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
// Either may have lost its reader for good: see log.ts.
const stderr = logSink(process.stderr);
const stdout = logSink(process.stdout);
const log = createLogger(stderr);
routeGrpcLogs(log);

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    stderr.write(`sluice-cp: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags === 'help' || flags === 'version') {
    stdout.write(flags === 'help' ? USAGE : `sluice-cp ${VERSION}\n`);
    return 0;
  }

  const token = ensureAdminToken(flags.dataDir);
  if (token.created) log('info', 'admin token created', { file: token.file });
  if (token.warning !== undefined) log('warn', token.warning);
  let roleCaResult;
  try {
    roleCaResult = await roleCa(flags, VERSION, log);
  } catch (err) {
    if (!(err instanceof RoleError)) throw err;
    stderr.write(`sluice-cp: ${err.message}\n`);
    return 2;
  }
  const { ca, created } = roleCaResult;
  if (created) log('info', 'CA created', { dir: flags.caDir, trustDomain: ca.trustDomain });
  if (flags.trustDomainGiven && ca.trustDomain !== flags.trustDomain) {
    stderr.write(
      `sluice-cp: --trust-domain ${flags.trustDomain}, but the CA in ${flags.caDir} is for ${ca.trustDomain}; every certificate it signs names spiffe://${ca.trustDomain}/.... Start without --trust-domain (or with --trust-domain ${ca.trustDomain}) to keep this CA, or give another --store/--ca-dir for a CA of ${flags.trustDomain}\n`,
    );
    return 2;
  }
  const tls = isLoopback(flags.apiHost) ? undefined : servingCertificate(ca, flags.apiHost, Date.now());
  const store = await openStore(flags.store, { clock: Date.now, log, kubeconfig: flags.kubeconfig });
  const role = roleParts(flags, { ca, store, version: VERSION, log });
  const metrics = createControlPlaneMetrics();
  const xds = await startXds({ events: metrics.events, store, log, now: Date.now, trustBundle: () => ca.bundle, trustDomain: ca.trustDomain, zones: role.zones, onStatusChanged: flags.store === 'kubernetes' ? (await import('./store/kube-status.ts')).writeStatusThrough(store as KubeStore) : undefined });
  await role.start(xds);
  metrics.attach({ ads: xds.ads, view: () => xds.view(), role: flags.role, zones: () => role.api.rows() });
  const tokens = joinTokens({ store, trustDomain: ca.trustDomain, now: Date.now });
  const issued = new IssuedSvids();
  // On Kubernetes: pods' service-account tokens are checked by TokenReview, and the injector's
  // caBundle and namespace labels come from the same API (client-node, loaded only here).
  const onKube = flags.store === 'kubernetes' ? await kubernetesParts(flags.kubeconfig, () => ca.bundle, log) : null;
  const meshStats = new MetricsSink({ now: Date.now, view: () => xds.view(), log });
  const grpcServers: grpc.Server[] = [];
  // The proxies' failed requests, for sluicectl explain (bounded: explain/failure-log.ts).
  const failures = new FailureLog();
  const bind = async (flag: string, addr: { host: string; port: number }, credentials: grpc.ServerCredentials, certificates: boolean): Promise<string> => {
    const server = new grpc.Server();
    xds.register(server, { tls: certificates });
    // The certificate service only over TLS: a join token must not cross a plaintext port, and a client SVID needs a handshake.
    // The zone stream too: a zone proves itself by its intermediate, or by a zone token that must not cross plaintext.
    if (certificates) role.register(server);
    if (certificates) addAccessLogService(server, { log: failures, logger: log, view: xds.view, now: Date.now });
    if (certificates) addCertificateService(server, { store, ca, now: Date.now, log, tokens, issued, reviewTokens: onKube?.reviewTokens });
    // The proxies' golden metrics (sluicectl stat, top): on TLS only, where a proxy proves itself by its SVID.
    if (certificates) meshStats.register(server);
    const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${addr.port}`, credentials, (err, p) => (err ? reject(new StartError(`${flag} ${host}:${addr.port} cannot be bound (${err.message}): is another sluice-cp, or another program, on that port?`)) : resolve(p))),
    );
    grpcServers.push(server);
    return `${host}:${port}`;
  };
  const xdsCredentials = controlPlaneCredentials(ca, flags.xds.host, Date.now());
  const xdsTls = await bind('--xds-addr', flags.xds, xdsCredentials.credentials, true);
  const xdsPlain = flags.xdsPlaintext === null ? null : await bind('--xds-plaintext-addr', flags.xdsPlaintext, grpc.ServerCredentials.createInsecure(), false);
  let webhook: WebhookServer | null = null;
  if (flags.webhook !== null) {
    const { name, namespace } = flags.webhookService;
    const config = injectConfig({ image: flags.injectImage ?? `${DEFAULT_IMAGE_REPOSITORY}:${VERSION}`, service: name, namespace, sidecarMode: flags.injectSidecarMode, caBundle: () => ca.bundle });
    const w = flags.webhook;
    webhook = await startWebhookServer({ host: w.host, port: w.port, ca, service: name, namespace, config, log, now: Date.now, namespaceLabels: onKube?.injector.namespaceLabels }).catch((err: NodeJS.ErrnoException) => {
      throw new StartError(`--webhook-addr ${w.host}:${w.port} cannot be bound (${err.code ?? err.message}): is another sluice-cp, or another program, on that port?`);
    });
    log('info', 'webhook listening', { url: `https://${w.host.includes(':') ? `[${w.host}]` : w.host}:${webhook.port}/inject`, service: `${name}.${namespace}.svc`, sidecarMode: config.sidecarMode, image: config.image });
  }
  // The serving certificates live 30 days: renew them daily.
  const renewServing = setInterval(() => {
    xdsCredentials.renew(ca, Date.now());
    webhook?.renew(ca);
  }, 86_400_000);
  renewServing.unref();
  log('info', 'xds listening', { tls: xdsTls, plaintext: xdsPlain, role: flags.role, ...(flags.zone === undefined ? {} : { zone: flags.zone.name, global: flags.zone.global }) });
  const server = createApiServer({ store, token: token.token, log, version: VERSION, tls, proxyStatus: () => xds.status(), certificates: { trustDomain: ca.trustDomain, get caPem() { return ca.ca; }, bundlePem: ca.bundle, clients: () => xds.peerCertificates(), issued: (node) => issued.latest(node) }, tokens: { tokens, trustBundle: ca.bundle }, facts: { trustDomain: ca.trustDomain, role: flags.role }, statusOf: (r) => xds.resourceStatus.statusOf(r), zones: role.api, refuse: role.refuse, stats: (windowMs) => meshStats.report(windowMs), failures: (q) => failures.query(q), metrics: () => metrics.render() });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new StartError(`--api-addr ${flags.apiHost}:${flags.apiPort} cannot be bound (${err.code ?? err.message}): is another sluice-cp, or another program, on that port?`)));
    server.listen(flags.apiPort, flags.apiHost, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log('info', 'stopping', { signal });
      server.close();
      server.closeAllConnections();
      clearInterval(renewServing);
      void webhook?.close();
      onKube?.injector.stop();
      role.close();
      xds.close();
      for (const g of grpcServers) g.forceShutdown();
      store.close().then(
        () => resolve(0),
        (err: unknown) => {
          log('error', 'closing the store failed', { error: (err as Error).message });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    stopWithWrapper();
    // Only now: a supervisor (or a test) that reads this line may stop us at once, and the
    // handlers above must already be there, or SIGTERM kills the process before the store is closed.
    log('info', 'api listening', { url: `${tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`, store: flags.store, revision: store.revision() });
  });
}

/** A start that cannot go on (a port that cannot be bound): said in one line, the process ends. */
class StartError extends Error {}

main().then(
  // Exit once stopped: the store is closed and the servers are down, and a client's stream
  // grpc-js has not finished ending (a proxyless client that just went away) must not keep
  // the process alive past SIGTERM (it did, for minutes).
  (code) => process.exit(code),
  (err: unknown) => {
    log('error', 'sluice-cp failed to start', { error: (err as Error).message });
    // Exit now: the xDS servers or the store already opened would keep the process alive,
    // and a supervisor would take a control plane without its API for a healthy one. No
    // write was acknowledged yet: nothing listens for them before the API does.
    process.exit(1);
  },
);

/** What sluice-cp asks the Kubernetes API besides the store: TokenReviews, and the injector's caBundle and namespace labels. */
async function kubernetesParts(kubeconfig: string | undefined, bundle: () => string, log: Logger) {
  const { loadKubeConfig } = await import('./store/kube-client.ts');
  const { clusterTokenReviewer } = await import('./ca/pod-attestation.ts');
  const { injectorOnKubernetes } = await import('./inject/kubernetes.ts');
  const kc = loadKubeConfig(kubeconfig);
  return { reviewTokens: await clusterTokenReviewer(kc), injector: injectorOnKubernetes(kc, { bundle, log }) };
}
