// Backends (Envoy's clusters) and their connection pools. Pools outlive config reloads
// when an endpoint is unchanged, so a reload never drops a warm keep-alive connection.

import type { Dispatcher } from 'undici';
import Client from 'undici/lib/dispatcher/client.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import type { Backend, Endpoint } from '../config/model.ts';
import { EndpointState, endpointKey } from './endpoint.ts';
import { createLoadBalancer, type LoadBalancer } from './lb/registry.ts';

export type Cluster = {
  readonly name: string;
  readonly config: Backend;
  readonly endpoints: readonly EndpointState[];
  readonly lb: LoadBalancer;
};

/** One backend's live state, as the admin API's /clusters shows it. */
export type ClusterStatus = {
  name: string;
  protocol: string;
  loadBalancer: string;
  endpoints: EndpointStatus[];
};

export type EndpointStatus = {
  address: string;
  port: number;
  weight: number;
  health: 'healthy' | 'unhealthy';
  healthReason?: string;
  activeRequests: number;
  totalRequests: number;
  connectFailures: number;
};

export class ClusterSet {
  #clusters = new Map<string, Cluster>();
  /** Endpoint state by pool identity, shared by every backend that lists the endpoint. */
  #states = new Map<string, EndpointState>();

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
        let state = nextStates.get(id) ?? this.#states.get(id);
        if (state === undefined || state.weight !== ep.weight) {
          state = new EndpointState(ep, state?.dispatcher ?? createDispatcher(backend, ep));
        }
        nextStates.set(id, state);
        return state;
      });
      nextClusters.set(backend.name, { name: backend.name, config: backend, endpoints, lb: createLoadBalancer(backend.loadBalancer, endpoints) });
    }
    const retired = new Set<Dispatcher>();
    for (const [id, state] of this.#states) if (!nextStates.has(id)) retired.add(state.dispatcher);
    for (const state of nextStates.values()) retired.delete(state.dispatcher);
    for (const d of retired) d.close().catch(() => {});
    this.#states = nextStates;
    this.#clusters = nextClusters;
  }

  status(): ClusterStatus[] {
    return [...this.#clusters.values()].map((c) => ({
      name: c.name,
      protocol: c.config.protocol,
      loadBalancer: c.config.loadBalancer,
      endpoints: c.endpoints.map((e) => ({
        address: e.endpoint.address,
        port: e.endpoint.port,
        weight: e.weight,
        health: e.healthy ? 'healthy' : 'unhealthy',
        ...(e.healthReason ? { healthReason: e.healthReason } : {}),
        activeRequests: e.activeRequests,
        totalRequests: e.totalRequests,
        connectFailures: e.connectFailures,
      })),
    }));
  }

  /** Waits for in-flight upstream requests, then closes every pool. */
  async close(): Promise<void> {
    const all = new Set([...this.#states.values()].map((s) => s.dispatcher));
    this.#states.clear();
    this.#clusters.clear();
    await Promise.all([...all].map((d) => d.close().catch(() => {})));
  }

  /** Drops every connection at once (after the drain deadline). */
  async destroy(): Promise<void> {
    const all = new Set([...this.#states.values()].map((s) => s.dispatcher));
    await Promise.all([...all].map((d) => d.destroy().catch(() => {})));
  }
}

function poolIdentity(backend: Backend, ep: Endpoint): string {
  return `${backend.protocol}|${endpointKey(ep)}|${backend.connectTimeoutMs}`;
}

function createDispatcher(backend: Backend, ep: Endpoint): Dispatcher {
  const origin = `http://${endpointKey(ep)}`;
  const common = {
    connect: { timeout: backend.connectTimeoutMs },
    // Route timeouts belong to the request path (issue 4 adds per-try ones); the pool
    // must not cut a long-polling or streaming upstream on its own.
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
  };
  if (backend.protocol === 'http2') {
    // One multiplexed h2c connection per endpoint, like Envoy's default h2 pool.
    return new Client(origin, { ...common, allowH2: true, h2Options: { useH2c: true, maxConcurrentStreams: 250 }, pipelining: 250 });
  }
  return new Pool(origin, { ...common, allowH2: false, pipelining: 1 });
}
