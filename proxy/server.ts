// The running proxy: listeners + backends built from one ProxyConfig, swapped whole on
// reload (a bad reload changes nothing), and drained on stop.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpListener as HttpListenerConfig, Listener, ProxyConfig } from './config/model.ts';
import type { ErrorCode } from './errors.ts';
import { compileAuthorization } from './authz/index.ts';
import { buildListenerHandler } from './http/chain.ts';
import type { JwtVerifier } from './jwt/index.ts';

/** jose is loaded only by a proxy that checks tokens: the others never pay its memory. */
type JwtModule = typeof import('./jwt/verifier.ts');
import type { RequestContext } from './http/context.ts';
import type { RouterDeps } from './http/filters/router.ts';
import type { Logger } from './http/rescue.ts';
import { compileRouteTable } from './http/route-table.ts';
import type { ExchangeDeps, ListenerState } from './listen/exchange.ts';
import type { Tracing } from './telemetry/tracing.ts';
import { HttpListener } from './listen/http-listener.ts';
import { TcpListener, type TcpStream } from './listen/tcp-listener.ts';
import { handleUpgrade } from './listen/upgrade.ts';
import type { LoadedSvid } from './tls/svid-store.ts';
import { ClusterSet, send, type ClusterStatus } from './upstream/index.ts';
import { tunnel } from './upstream/tunnel.ts';
import { captureTargets, handOff, type CaptureProbe, type CaptureTarget } from './capture/dispatch.ts';

export type ProxyHooks = {
  readonly log: Logger;
  /** Once per HTTP request, when it is over: access log and metrics. */
  observe(ctx: RequestContext): void;
  /** A connection or stream refused before it became a request. */
  onRefused(listener: string, code: ErrorCode | 'H2_ABUSE' | 'MTLS' | 'NR', reason: string, remote: string): void;
  onConnection(listener: string, delta: 1 | -1): void;
  onTcpBytes(listener: string, received: number, sent: number, stream: TcpStream): void;
  onTcpOpen?(listener: string, stream: TcpStream): void;
  readonly random: () => number;
  readonly now: () => number;
  /** The proxy's own certificate (null until loaded, or when it does no mTLS). */
  readonly svid: () => LoadedSvid | null;
  /** In capture mode: the probe address a use_original_dst listener answers (capture/probe.ts). */
  readonly captureProbe?: CaptureProbe | null;
  /** x-sluice-peer for requests to peer proxies (RouterDeps.peerMetadata); absent: none is sent. */
  readonly peerMetadata?: string;
  /** Wraps each HTTP listener's handler with a span per request when the config turns tracing on. */
  readonly tracing?: Tracing;
};

type Running = {
  readonly listener: HttpListener | TcpListener;
  /** Listeners are rebuilt only when this changes; routes and backends swap in place. */
  readonly identity: string;
  state: ListenerState | null;
  /** An HTTP listener's tcpFallback: the connections that are not HTTP. */
  readonly fallback?: TcpListener;
};

export class ProxyServer {
  #hooks: ProxyHooks;
  #clusters: ClusterSet;
  #running = new Map<string, Running>();
  #retiring = new Set<HttpListener | TcpListener>();
  #config: ProxyConfig | null = null;
  #version = 0;
  #loadedAt = 0;
  #draining = false;
  #router: RouterDeps;
  #verifiers = new Map<string, { key: string; verifier: JwtVerifier }>();
  #jwt: JwtModule | null = null;
  /** The unbound listeners, for use_original_dst listeners to hand connections to. */
  #targets: ReadonlyMap<string, CaptureTarget> = new Map();

  constructor(hooks: ProxyHooks) {
    this.#hooks = hooks;
    this.#clusters = new ClusterSet({ random: hooks.random, now: hooks.now, log: hooks.log, svid: hooks.svid });
    this.#router = {
      clusters: this.#clusters,
      forward: (ctx, endpoint, backend, outcome) => {
        if (ctx.upgrade === null) return send(ctx, endpoint, backend, outcome);
        tunnel(ctx, endpoint).then(
          (res) => outcome.onHead(res),
          (err: Error) => outcome.onFailure(err),
        );
      },
      random: hooks.random,
      ...(hooks.peerMetadata === undefined ? {} : { peerMetadata: hooks.peerMetadata }),
    };
  }

  /**
   * Makes `config` the running one. New or changed listeners are bound first; if any bind
   * fails, they are closed again and the error is thrown with the old config untouched.
   */
  async apply(config: ProxyConfig): Promise<void> {
    const fresh = new Map<string, Running>();
    try {
      for (const l of config.listeners) {
        const identity = listenerIdentity(l);
        const old = this.#running.get(l.name);
        if (old !== undefined && old.identity === identity) continue;
        const running = this.#createListener(l, identity);
        fresh.set(l.name, running);
        if (l.bindToPort !== false) await running.listener.listen();
      }
    } catch (err) {
      for (const r of fresh.values()) r.listener.destroy();
      throw err;
    }
    if (this.#jwt === null && config.listeners.some((l) => l.protocol === 'http' && l.jwt.length > 0)) this.#jwt = await import('./jwt/verifier.ts');
    await this.#hooks.tracing?.configure(config.tracing);
    this.#clusters.update(config.backends);
    const next = new Map<string, Running>();
    for (const l of config.listeners) {
      const running = fresh.get(l.name) ?? this.#running.get(l.name)!;
      if (l.protocol === 'tcp') {
        (running.listener as TcpListener).authorize(l.authorization);
        (running.listener as TcpListener).route(l.serverNames);
      }
      if (l.protocol === 'http' && l.tcpFallback !== undefined) running.fallback?.authorize(l.tcpFallback.authorization);
      if (l.protocol === 'http') {
        const security = { jwt: this.#jwtVerifier(l), authorize: l.authorization.length === 0 ? null : compileAuthorization(l.authorization) };
        const handler = buildListenerHandler(compileRouteTable(config.routes, l.name), this.#router, security);
        running.state = { handler: this.#hooks.tracing?.wrap(handler, l) ?? handler, limits: l.limits, escapedSlashes: l.escapedSlashes, pathParameters: l.pathParameters, mtls: l.tls.mode !== 'DISABLE' };
      }
      next.set(l.name, running);
    }
    this.#targets = captureTargets([...next.values()].map((r) => r.listener));
    for (const [name, old] of this.#running) if (next.get(name) !== old) this.#retire(old.listener);
    for (const name of this.#verifiers.keys()) if (!next.has(name)) this.#verifiers.delete(name);
    this.#running = next;
    this.#config = config;
    this.#version++;
    this.#loadedAt = this.#hooks.now();
  }

  /** The port each listener is bound to, by name (port 0 in config means "pick one"). */
  ports(): Record<string, number> {
    return Object.fromEntries([...this.#running].map(([name, r]) => [name, r.listener.port]));
  }

  get draining(): boolean {
    return this.#draining;
  }

  get config(): ProxyConfig | null {
    return this.#config;
  }

  configDump(): unknown {
    return { version: this.#version, loadedAt: new Date(this.#loadedAt).toISOString(), config: this.#config };
  }

  clusters(): ClusterStatus[] {
    return this.#clusters.status();
  }

  /**
   * Graceful stop: no new connections, idle keep-alives closed, GOAWAY on h2; in-flight
   * requests finish until `timeoutMs`, then whatever is left is cut.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    const all = [...[...this.#running.values()].map((r) => r.listener), ...this.#retiring];
    for (const l of all) l.startDrain();
    const deadline = this.#hooks.now() + timeoutMs;
    while (!all.every((l) => l.idle()) && this.#hooks.now() < deadline) await sleep(25);
    for (const l of all) l.destroy();
    await this.#clusters.destroy();
  }

  /**
   * The listener's token verifier; kept across reloads while its jwtRules are unchanged, so
   * fetched key sets and verified tokens stay cached.
   */
  #jwtVerifier(l: HttpListenerConfig): JwtVerifier | null {
    if (l.jwt.length === 0) {
      this.#verifiers.delete(l.name);
      return null;
    }
    const key = JSON.stringify(l.jwt);
    const kept = this.#verifiers.get(l.name);
    if (kept?.key === key) return kept.verifier;
    const verifier = this.#jwt!.createJwtVerifier(l.jwt, { now: this.#hooks.now, log: this.#hooks.log });
    this.#verifiers.set(l.name, { key, verifier });
    return verifier;
  }

  #createListener(config: Listener, identity: string): Running {
    const name = config.name;
    const tcpHooks = {
      cluster: (backend: string) => this.#clusters.get(backend),
      onConnection: (d: 1 | -1) => this.#hooks.onConnection(name, d),
      onBytes: (r: number, s: number, stream: TcpStream) => this.#hooks.onTcpBytes(name, r, s, stream),
      onStreamOpen: (stream: TcpStream) => this.#hooks.onTcpOpen?.(name, stream),
      onRefused: (reason: string, remote: string) => this.#hooks.onRefused(name, 'MTLS', reason, remote),
      onDenied: (reason: string, remote: string) => this.#hooks.onRefused(name, 'RBAC_DENIED', reason, remote),
      onNoRoute: (reason: string, remote: string) => this.#hooks.onRefused(name, 'NR', reason, remote),
      svid: this.#hooks.svid,
      log: this.#hooks.log,
    };
    if (config.protocol === 'tcp') {
      const tcp = new TcpListener(config, { ...tcpHooks, ...(config.useOriginalDst === true ? { handOff: (socket: Socket) => this.#handOff(config, socket) } : {}) });
      return { listener: tcp, identity, state: null };
    }
    // Never bound: the HTTP listener hands it what is not HTTP, TLS already done (so DISABLE here), and has counted the connection.
    const fb = config.tcpFallback;
    const fallback =
      fb === undefined
        ? undefined
        : new TcpListener({ name, protocol: 'tcp', address: config.address, port: config.port, bindToPort: false, tls: { mode: 'DISABLE' }, backend: fb.backend, authorization: fb.authorization }, { ...tcpHooks, onConnection: () => {} });
    // The exchange reads `holder.state` per request: apply() swaps it on every reload.
    const deps: ExchangeDeps = {
      listener: name,
      current: () => holder.state!,
      observe: (ctx) => this.#hooks.observe(ctx),
      draining: () => this.#draining || this.#retiring.has(holder.listener),
      log: this.#hooks.log,
    };
    const http = new HttpListener(config as HttpListenerConfig, {
      ...deps,
      onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => handleUpgrade(req, socket, head, deps),
      onRefused: (code, reason, remote) => this.#hooks.onRefused(name, code, reason, remote),
      onConnection: (d) => this.#hooks.onConnection(name, d),
      svid: this.#hooks.svid,
      ...(fallback === undefined ? {} : { fallback }),
    });
    const holder: Running = { listener: http, identity, state: null, ...(fallback === undefined ? {} : { fallback }) };
    return holder;
  }

  /** A connection a use_original_dst listener accepted: true when it is not that listener's own. */
  #handOff(from: Listener, socket: Socket): boolean {
    if (this.#draining) {
      socket.destroy();
      return true;
    }
    const r = handOff(from, socket, this.#targets, this.#hooks.captureProbe ?? null);
    if (r.kind === 'refused') {
      this.#hooks.onRefused(from.name, 'BAD_REQUEST', r.reason, `${socket.remoteAddress}:${socket.remotePort}`);
      this.#hooks.log('warn', 'captured connection refused', { listener: from.name, reason: r.reason });
      socket.destroy();
      return true;
    }
    return r.kind !== 'own';
  }

  /** A listener replaced by a reload drains like on stop, without holding the reload up. */
  #retire(listener: HttpListener | TcpListener): void {
    this.#retiring.add(listener);
    listener.startDrain();
    const deadline = this.#hooks.now() + 30_000;
    const poll = setInterval(() => {
      if (listener.idle() || this.#hooks.now() > deadline) {
        clearInterval(poll);
        listener.destroy();
        this.#retiring.delete(listener);
      }
    }, 100);
    poll.unref();
  }
}

function listenerIdentity(l: Listener): string {
  const capture = [l.bindToPort, l.useOriginalDst, l.direction];
  return JSON.stringify(l.protocol === 'http' ? [l.address, l.port, l.protocol, l.tls, l.limits, l.httpOnly, l.tcpFallback?.backend, capture] : [l.address, l.port, l.protocol, l.tls, l.backend, l.serverNames !== undefined, capture]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
