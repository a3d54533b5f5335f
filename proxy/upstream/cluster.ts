// Backends (Envoy's clusters): their connection pools, balancer, circuit-breaker counters,
// retry budget and health checking. Pools (and each endpoint's health) outlive config
// reloads when an endpoint is unchanged, so a reload never drops a warm keep-alive
// connection nor forgets an ejection; counters outlive them per backend name.

import net from 'node:net';
import type { Dispatcher } from 'undici';
import Client from 'undici/lib/dispatcher/client.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import type { Backend, ConnectionLimits, Endpoint, RetryBudget as RetryBudgetConfig } from '../config/model.ts';
import type { Logger } from '../http/rescue.ts';
import type { LoadedSvid } from '../tls/svid-store.ts';
import { onceAMinute } from '../log.ts';
import { EndpointState, endpointKey, type StreamOpener } from './endpoint.ts';
import { HealthChecker } from './health/health-check.ts';
import { OutlierDetector } from './health/outlier.ts';
import { createLoadBalancer, type LoadBalancer } from './lb/registry.ts';
import { connectMesh, meshConnector, MTLS_FAILURE } from './mesh-connect.ts';
import { RetryBudget } from './resilience/retry-budget.ts';

export type Cluster = {
  readonly name: string;
  readonly config: Backend;
  readonly endpoints: readonly EndpointState[];
  readonly lb: LoadBalancer;
  readonly limits: ConnectionLimits;
  /** Requests one endpoint takes at once before the next one waits (is pending). */
  readonly capacityPerEndpoint: number;
  readonly counters: BackendCounters;
  readonly budget: RetryBudget;
  readonly outlier: OutlierDetector | null;
  readonly healthChecker: HealthChecker | null;
};

/** Live per-backend counts: the circuit breaker reads them, /clusters and metrics show them. */
export class BackendCounters {
  activeRequests = 0;
  activeRetries = 0;
  retries = 0;
  /** Retries the budget or maxActiveRetries did not allow. */
  retriesRefused = 0;
  /** Requests answered 503 UO by the circuit breaker. */
  overflows = 0;
}

export type ClusterDeps = {
  readonly random: () => number;
  readonly now: () => number;
  readonly log: Logger;
  /** The proxy's own certificate, for backends reached over mTLS. */
  readonly svid: () => LoadedSvid | null;
};

/** Multiplexed h2c: one connection takes this many streams (the pool's maxConcurrentStreams). */
const H2_STREAMS = 250;

/** One backend's live state, as the admin API's /clusters shows it. */
export type ClusterStatus = {
  name: string;
  protocol: string;
  loadBalancer: string;
  activeRequests: number;
  activeRetries: number;
  retries: number;
  retriesRefused: number;
  overflows: number;
  limits: ConnectionLimits;
  endpoints: EndpointStatus[];
};

export type EndpointStatus = {
  address: string;
  port: number;
  weight: number;
  health: 'healthy' | 'unhealthy';
  healthReason?: string;
  zone?: string;
  priority: number;
  ejections: number;
  activeRequests: number;
  totalRequests: number;
  connectFailures: number;
};

export class ClusterSet {
  #deps: ClusterDeps;
  #clusters = new Map<string, Cluster>();
  /** Endpoint state by pool identity, shared by every backend that lists the endpoint. */
  #states = new Map<string, EndpointState>();

  constructor(deps: ClusterDeps) {
    this.#deps = deps;
    const limit = onceAMinute(deps.now);
    // Why a peer was refused is only in a log line: the request just sees a connect failure.
    this.#mtlsFailed = (backend, endpoint, err) => {
      if (limit.allow(`${backend}|${err.message}`)) deps.log('warn', 'mTLS connection to an upstream failed', { backend, upstream: endpoint, error: err.message });
    };
  }

  readonly #mtlsFailed: MtlsFailed;

  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /**
   * Replaces the backends. Endpoints whose pool identity is unchanged keep their pool
   * and counters; pools no longer named are closed gracefully (in-flight requests finish).
   */
  update(backends: readonly Backend[]): void {
    const nextStates = new Map<string, EndpointState>();
    const nextClusters = new Map<string, Cluster>();
    for (const backend of backends) {
      const endpoints = backend.endpoints.map((ep) => {
        const id = poolIdentity(backend, ep);
        const claimed = nextStates.get(id);
        if (claimed !== undefined) {
          // Listed by two backends: one pool, and one state unless they weigh it differently.
          return claimed.weight === ep.weight && claimed.endpoint.priority === ep.priority ? claimed : new EndpointState(ep, claimed.dispatcher, claimed.openStream);
        }
        let state = this.#states.get(id);
        // The same pool, maybe with a new weight or zone: health and counters are kept.
        if (state === undefined) state = new EndpointState(ep, createDispatcher(backend, ep, this.#deps.svid, this.#mtlsFailed), streamOpener(backend, ep, this.#deps.svid, this.#mtlsFailed));
        else state.update(ep);
        nextStates.set(id, state);
        return state;
      });
      nextClusters.set(backend.name, this.#build(backend, endpoints, this.#clusters.get(backend.name)));
    }
    for (const old of this.#clusters.values()) stopHealth(old);
    for (const c of nextClusters.values()) {
      c.outlier?.start();
      c.healthChecker?.start();
    }
    forgetUnwatchedHealth(nextClusters.values());
    const retired = new Set<Dispatcher>();
    for (const [id, state] of this.#states) if (!nextStates.has(id)) retired.add(state.dispatcher);
    for (const state of nextStates.values()) retired.delete(state.dispatcher);
    for (const d of retired) d.close().catch(() => {});
    this.#states = nextStates;
    this.#clusters = nextClusters;
  }

  #build(backend: Backend, endpoints: EndpointState[], old: Cluster | undefined): Cluster {
    const { random, now, log } = this.#deps;
    return {
      name: backend.name,
      config: backend,
      endpoints,
      lb: createLoadBalancer(backend, endpoints, { random }),
      limits: backend.limits,
      capacityPerEndpoint: backend.protocol === 'http2' || backend.tls !== null ? H2_STREAMS : backend.limits.maxConnections,
      counters: old?.counters ?? new BackendCounters(),
      budget: old !== undefined && sameBudget(old.config.retryBudget, backend.retryBudget) ? old.budget : new RetryBudget(backend.retryBudget, now),
      outlier: backend.outlierDetection === null ? null : new OutlierDetector(backend.outlierDetection, endpoints, { now, log }),
      healthChecker: backend.healthCheck === null ? null : new HealthChecker(backend.healthCheck, endpoints, { log, mtls: backend.tls !== null }),
    };
  }

  status(): ClusterStatus[] {
    return [...this.#clusters.values()].map((c) => ({
      name: c.name,
      protocol: c.config.tls === null ? c.config.protocol : 'mtls-h2',
      loadBalancer: c.config.loadBalancer,
      activeRequests: c.counters.activeRequests,
      activeRetries: c.counters.activeRetries,
      retries: c.counters.retries,
      retriesRefused: c.counters.retriesRefused,
      overflows: c.counters.overflows,
      limits: c.limits,
      endpoints: c.endpoints.map((e) => ({
        address: e.endpoint.address,
        port: e.endpoint.port,
        weight: e.weight,
        health: e.healthy ? 'healthy' : 'unhealthy',
        ...(e.healthReason ? { healthReason: e.healthReason } : {}),
        ...(e.endpoint.zone === undefined ? {} : { zone: e.endpoint.zone }),
        priority: e.endpoint.priority,
        ejections: e.ejections,
        activeRequests: e.activeRequests,
        totalRequests: e.totalRequests,
        connectFailures: e.connectFailures,
      })),
    }));
  }

  /** Waits for in-flight upstream requests, then closes every pool. */
  async close(): Promise<void> {
    for (const c of this.#clusters.values()) stopHealth(c);
    const all = new Set([...this.#states.values()].map((s) => s.dispatcher));
    this.#states.clear();
    this.#clusters.clear();
    await Promise.all([...all].map((d) => d.close().catch(() => {})));
  }

  /** Drops every connection at once (after the drain deadline). */
  async destroy(): Promise<void> {
    for (const c of this.#clusters.values()) stopHealth(c);
    const all = new Set([...this.#states.values()].map((s) => s.dispatcher));
    await Promise.all([...all].map((d) => d.destroy().catch(() => {})));
  }
}

/**
 * An ejection or a failed health check with nothing left to end it (the policy that made it
 * was removed by a reload) would keep an endpoint out for good: forget it.
 */
function forgetUnwatchedHealth(clusters: Iterable<Cluster>): void {
  const ejectable = new Set<EndpointState>();
  const checked = new Set<EndpointState>();
  const all = new Set<EndpointState>();
  for (const c of clusters) {
    for (const e of c.endpoints) {
      all.add(e);
      if (c.outlier !== null) ejectable.add(e);
      if (c.healthChecker !== null) checked.add(e);
    }
  }
  for (const e of all) {
    if (e.ejectedUntil !== 0 && !ejectable.has(e)) {
      e.ejectedUntil = 0;
      e.ejectionReason = '';
      e.refreshHealth();
    }
    if (e.checkFailed && !checked.has(e)) {
      e.checkFailed = false;
      e.checkReason = '';
      e.refreshHealth();
    }
  }
}

function stopHealth(c: Cluster): void {
  c.outlier?.stop();
  c.healthChecker?.stop();
}

function sameBudget(a: RetryBudgetConfig, b: RetryBudgetConfig): boolean {
  return a.percent === b.percent && a.minRetriesPerSecond === b.minRetriesPerSecond && a.ttlMs === b.ttlMs;
}

/** What a pool is built from: a change here means a new pool. */
function poolIdentity(backend: Backend, ep: Endpoint): string {
  const tls = backend.tls === null ? '' : `${backend.tls.serverName}|${backend.tls.identities.join(',')}`;
  return `${backend.protocol}|${endpointKey(ep)}|${backend.connectTimeoutMs}|${backend.idleTimeoutMs}|${backend.limits.maxConnections}|${tls}`;
}

type MtlsFailed = (backend: string, endpoint: string, err: Error) => void;

function createDispatcher(backend: Backend, ep: Endpoint, svid: () => LoadedSvid | null, failed: MtlsFailed): Dispatcher {
  const origin = `http://${endpointKey(ep)}`;
  const common = {
    connect: { timeout: backend.connectTimeoutMs },
    // Timeouts belong to the request path (rule, retry policy, per try); the pool must
    // not cut a long-polling or streaming upstream on its own.
    headersTimeout: 0,
    bodyTimeout: 0,
    // The upstream idle timeout; a server's own shorter keep-alive hint still wins.
    keepAliveTimeout: backend.idleTimeoutMs,
    keepAliveMaxTimeout: backend.idleTimeoutMs,
  };
  if (backend.tls !== null) {
    // Between proxies: one multiplexed h2 connection over mTLS, whatever the app speaks.
    const connect = meshConnector(backend.tls, svid, backend.connectTimeoutMs, (err) => failed(backend.name, endpointKey(ep), err));
    return new Client(`https://${endpointKey(ep)}`, { ...common, connect, allowH2: true, h2Options: { maxConcurrentStreams: H2_STREAMS }, pipelining: H2_STREAMS });
  }
  if (backend.protocol === 'http2') {
    // One multiplexed h2c connection per endpoint, like Envoy's default h2 pool.
    return new Client(origin, { ...common, allowH2: true, h2Options: { useH2c: true, maxConcurrentStreams: 250 }, pipelining: 250 });
  }
  return new Pool(origin, { ...common, allowH2: false, pipelining: 1, connections: backend.limits.maxConnections });
}

function streamOpener(backend: Backend, ep: Endpoint, svid: () => LoadedSvid | null, failed: MtlsFailed): StreamOpener {
  const { address: host, port } = ep;
  const timeoutMs = backend.connectTimeoutMs;
  const tls = backend.tls;
  // Byte streams carry TCP half-close through: one side's FIN does not close the other side.
  if (tls !== null) {
    return (alpn, callback) =>
      connectMesh({ host, port, tls, svid: svid(), alpn, timeoutMs, halfOpen: true }, (err, socket) => {
        if (err !== null && (err as { code?: string }).code === MTLS_FAILURE) failed(backend.name, endpointKey(ep), err);
        callback(err, socket);
      });
  }
  return (_alpn, callback) => {
    // No Nagle: a proxy's small writes (a request, a redis command) go out at once, as Envoy sets TCP_NODELAY.
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect to ${endpointKey(ep)} timed out after ${timeoutMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      callback(err, null);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      callback(null, socket);
    });
  };
}
