// An opaque TCP listener: every accepted connection is forwarded, byte for byte, to an
// endpoint of one backend picked by its load balancer. With mTLS on, the connection is
// TLS-terminated first (STRICT), or when its first byte says TLS (PERMISSIVE); the
// upstream side is mTLS when the backend says so. Its AuthorizationPolicies decide on each
// connection by its peer before anything is forwarded (model.ts TcpListener.authorization).

import net, { type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { compileAuthorization, type Authorizer } from '../authz/engine.ts';
import type { AuthzRequest } from '../authz/model.ts';
import type { TcpListener as TcpListenerConfig } from '../config/model.ts';
import type { LoadedSvid } from '../tls/svid-store.ts';
import type { Cluster } from '../upstream/index.ts';
import { ANY_ENDPOINT } from '../upstream/lb/registry.ts';
import { bindReusePort, boundPort } from './bind.ts';
import { detectProtocol } from './detect.ts';
import { readClientHello } from './client-hello.ts';
import { InboundTls, PEER, type WithPeer } from './inbound-tls.ts';
import { ORIGINAL_DST, type WithOriginalDst } from '../capture/dispatch.ts';

export type TcpListenerHooks = {
  cluster(name: string): Cluster | undefined;
  onConnection(delta: 1 | -1): void;
  /** A forwarded connection closed: its byte counts and where it went. */
  onBytes(received: number, sent: number, stream: TcpStream): void;
  /** A connection is being forwarded (after authorization, once an endpoint is picked). */
  onStreamOpen?(stream: TcpStream): void;
  onRefused(reason: string, remote: string): void;
  /** A connection its AuthorizationPolicies do not allow, closed before a byte is forwarded. */
  onDenied(reason: string, remote: string): void;
  /** A connection to a zone ingress whose SNI no backend has (or that sent none, or no ClientHello), closed (Envoy's NR). */
  onNoRoute?(reason: string, remote: string): void;
  svid(): LoadedSvid | null;
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  /**
   * For a use_original_dst listener, called first on each connection: true when the
   * connection was taken elsewhere (another listener, the probe) or refused.
   */
  handOff?(socket: Socket): boolean;
};

/** One forwarded connection, as the mesh metrics label it. */
export type TcpStream = { readonly backend: string; readonly upstream: string | null; readonly peer: string | null };

/**
 * PERMISSIVE waits this long for a client's first byte before taking the connection for
 * plaintext: a server-speaks-first protocol (SMTP, MySQL) sends nothing until it is answered.
 */
const FIRST_BYTE_WAIT_MS = 1000;
/** How long a zone ingress waits for a whole ClientHello before it closes the connection. */
const CLIENT_HELLO_WAIT_MS = 5000;

export class TcpListener {
  readonly config: TcpListenerConfig;
  #hooks: TcpListenerHooks;
  #server: net.Server;
  #sockets = new Set<Socket>();
  /** null: no policy, every connection goes on. */
  #authorize: Authorizer | null;
  /** A zone ingress's backends by server name; null: every connection goes to config.backend. */
  #bySni: ReadonlyMap<string, string> | null = null;

  constructor(config: TcpListenerConfig, hooks: TcpListenerHooks) {
    this.config = config;
    this.#hooks = hooks;
    this.#authorize = null;
    this.authorize(config.authorization);
    this.route(config.serverNames);
    const mode = config.tls.mode;
    const inbound = mode === 'DISABLE' ? null : new InboundTls(null, { svid: hooks.svid, secure: (s) => this.#forward(s), refused: hooks.onRefused });
    // Half-open: a client that is done sending (FIN) still gets the rest of the answer.
    // No Nagle on either side (Envoy's TCP_NODELAY): a relayed small write is not held back for an ACK.
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (downstream) => {
      if (hooks.handOff?.(downstream) === true) return;
      // A socket another listener accepted and handed over (accept) did not get the server's option.
      downstream.setNoDelay(true);
      this.#sockets.add(downstream);
      hooks.onConnection(1);
      downstream.on('error', () => {});
      downstream.once('close', () => {
        this.#sockets.delete(downstream);
        hooks.onConnection(-1);
      });
      if (this.#bySni !== null) this.#bySniName(downstream);
      else if (inbound === null) this.#forward(downstream);
      else if (mode === 'STRICT') inbound.accept(downstream);
      else {
        detectProtocol(
          downstream,
          FIRST_BYTE_WAIT_MS,
          (kind) => (kind === 'tls' ? inbound.accept(downstream) : this.#forward(downstream)),
          () => this.#forward(downstream),
        );
      }
    });
  }

  /** The policies new connections are decided by (a config change keeps the listener, and swaps these); open connections go on. */
  authorize(policies: TcpListenerConfig['authorization']): void {
    this.#authorize = policies.length === 0 ? null : compileAuthorization(policies);
  }

  /** The backends by server name new connections go to (a config change keeps the listener, and swaps these). */
  route(serverNames: TcpListenerConfig['serverNames']): void {
    this.#bySni = serverNames === undefined ? null : new Map(serverNames.flatMap((r) => r.names.map((n) => [n.toLowerCase(), r.backend] as const)));
  }

  /** A zone ingress: the ClientHello's SNI picks the backend; the bytes go on as they came (TLS is the instance's proxy's to end). */
  #bySniName(downstream: Socket): void {
    readClientHello(downstream, CLIENT_HELLO_WAIT_MS, (hello) => {
      const backend = hello.kind === 'hello' && hello.serverName !== null ? this.#bySni?.get(hello.serverName) : undefined;
      if (backend !== undefined) return this.#forward(downstream, backend);
      const why = hello.kind === 'invalid' ? hello.why : hello.serverName === null ? 'the ClientHello names no server (SNI)' : `no filter chain matches SNI '${hello.serverName}'`;
      this.#hooks.onNoRoute?.(why, `${downstream.remoteAddress}:${downstream.remotePort}`);
      downstream.destroy();
    });
  }

  #forward(downstream: Socket, backend: string = this.config.backend): void {
    const { config, hooks } = { config: this.config, hooks: this.#hooks };
    const peer = (downstream as Socket & WithPeer)[PEER]?.identity ?? null;
    if (this.#authorize !== null) {
      const decision = this.#authorize(connectionOf(peer));
      if (!decision.allowed) {
        hooks.onDenied(`${decision.reason} (peer ${peer ?? 'none: plaintext'})`, `${downstream.remoteAddress}:${downstream.remotePort}`);
        downstream.destroy();
        return;
      }
    }
    const cluster = hooks.cluster(backend);
    if (cluster?.config.originalDst === true) {
      this.#passThrough(downstream, cluster.config.connectTimeoutMs, { backend, upstream: null, peer });
      return;
    }
    const endpoint = cluster?.lb.pick(ANY_ENDPOINT);
    if (endpoint === undefined) {
      // No endpoint at all is what a Workload's outbound entry to a Service (port) that does not exist gets.
      const why = cluster === undefined || cluster.endpoints.length === 0 ? 'the backend has no endpoint' : 'no healthy endpoint';
      hooks.log('warn', `tcp connection closed: ${why}`, { listener: config.name, backend });
      downstream.destroy();
      return;
    }
    endpoint.activeRequests++;
    endpoint.totalRequests++;
    const stream: TcpStream = { backend, upstream: endpoint.key, peer };
    hooks.onStreamOpen?.(stream);
    // Bytes that arrive while the upstream connects wait in the downstream's buffer.
    downstream.pause();
    let upstream: Socket | null = null;
    downstream.once('close', () => {
      endpoint.activeRequests--;
      upstream?.destroy();
      hooks.onBytes(downstream.bytesRead, downstream.bytesWritten, stream);
    });
    endpoint.openStream(null, (err, socket) => {
      if (err !== null || socket === null) {
        endpoint.connectFailures++;
        cluster?.outlier?.recordLocalFailure(endpoint);
        hooks.log('warn', 'tcp upstream connect failed', { listener: config.name, upstream: endpoint.key, error: err?.message });
        downstream.destroy();
        return;
      }
      if (downstream.destroyed) {
        socket.destroy();
        return;
      }
      upstream = socket;
      socket.on('error', (e: Error & { code?: string }) => {
        hooks.log('warn', 'tcp upstream error', { listener: config.name, upstream: endpoint.key, error: e.code ?? e.message });
        downstream.destroy();
      });
      downstream.pipe(socket);
      socket.pipe(downstream);
      socket.once('close', () => downstream.destroy());
      downstream.resume();
    });
  }

  /** An ORIGINAL_DST backend: on, as it came, to where the captured connection was going. */
  #passThrough(downstream: Socket, connectTimeoutMs: number, stream: TcpStream): void {
    const { config, hooks } = { config: this.config, hooks: this.#hooks };
    const dst = (downstream as Socket & WithOriginalDst)[ORIGINAL_DST];
    if (dst === undefined) {
      hooks.log('warn', 'tcp connection closed: an ORIGINAL_DST backend needs a captured connection (a use_original_dst listener)', { listener: config.name, backend: config.backend });
      downstream.destroy();
      return;
    }
    hooks.onStreamOpen?.(stream);
    downstream.pause();
    const upstream = net.connect({ host: dst.address, port: dst.port, allowHalfOpen: true, noDelay: true, timeout: connectTimeoutMs });
    const fail = (e: Error & { code?: string }) => {
      hooks.log('warn', 'passthrough connect failed', { listener: config.name, upstream: `${dst.address}:${dst.port}`, error: e.code ?? e.message });
      downstream.destroy();
      upstream.destroy();
    };
    upstream.once('timeout', () => fail(new Error(`no connection within ${connectTimeoutMs} ms`)));
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      downstream.pipe(upstream);
      upstream.pipe(downstream);
      downstream.resume();
    });
    upstream.once('close', () => downstream.destroy());
    downstream.once('close', () => {
      upstream.destroy();
      hooks.onBytes(downstream.bytesRead, downstream.bytesWritten, stream);
    });
  }

  listen(): Promise<number> {
    return bindReusePort(this.#server, this.config.address, this.config.port);
  }

  /** A connection another listener accepted and handed over (capture, or an HTTP port's tcpFallback): served as if accepted here. */
  accept(socket: Socket): void {
    this.#server.emit('connection', socket);
  }

  /** A connection whose mTLS handshake another listener did (an HTTP port's tcpFallback, told by ALPN): forwarded as it is. */
  acceptSecured(socket: TLSSocket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.#sockets.delete(socket));
    this.#forward(socket);
  }

  get port(): number {
    return boundPort(this.#server);
  }

  /** Stop accepting; live TCP streams have no request boundary to wait for, so they run until the deadline. */
  startDrain(): void {
    this.#server.close();
  }

  idle(): boolean {
    return this.#sockets.size === 0;
  }

  destroy(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}

/** A connection as the engine sees a request: a peer, and nothing a request would add (the policies name nothing else: forConnections). */
function connectionOf(peer: string | null): AuthzRequest {
  return { peer, method: '', path: '', host: '', headerValues: () => [], claims: null, principal: null };
}
