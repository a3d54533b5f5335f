// An HTTP listener: one port that speaks HTTP/1.1 and h2c (prior knowledge), and with
// mTLS on, both inside TLS (ALPN h2 or http/1.1), told apart by peeking at the first
// bytes. The HTTP/1 server owns the listening socket (so Node's own header and idle
// timeouts keep working); h2 connections are handed to an h2 server, TLS ones to a TLS
// server first.

import type { IncomingMessage, Server as Http1Server, ServerResponse } from 'node:http';
import { http } from '../node-http.ts';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpListener as HttpListenerConfig } from '../config/model.ts';
import type { LoadedSvid } from '../tls/svid-store.ts';
import { rawRejection } from '../http/rescue.ts';
import type { ErrorCode } from '../errors.ts';
import { bindReusePort, boundPort } from './bind.ts';
import { detectProtocol, sniffHttp1 } from './detect.ts';
import { handleExchange, REFUSED, type ExchangeDeps } from './exchange.ts';
import { H2_HEADER_TABLE_SIZE, tapH2Connections } from './h2-field-tap.ts';
import { guardFields, guardResets, isRefusedStream } from './h2-guard.ts';
import { InboundTls } from './inbound-tls.ts';
import { takesUpgrade } from '../upstream/tunnel.ts';

export type HttpListenerHooks = ExchangeDeps & {
  /** An HTTP/1.1 request with Upgrade (WebSocket): routed like any request, then tunnelled. */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** A connection or stream refused before it became a request (parser error, abuse, mTLS). */
  onRefused(code: ErrorCode | 'H2_ABUSE' | 'MTLS', reason: string, remote: string): void;
  onConnection(delta: 1 | -1): void;
  /** The proxy's own certificate, for mTLS listeners. */
  svid(): LoadedSvid | null;
  /** Set when the config has a tcpFallback: where a connection that is not HTTP goes. */
  readonly fallback?: TcpFallback;
};

/** An unbound tcp listener (tcp-listener.ts) for the connections of a port that tells HTTP from TCP. */
export type TcpFallback = {
  /** A plaintext connection, its first bytes put back. */
  accept(socket: Socket): void;
  /** A connection whose mTLS handshake is done here. */
  acceptSecured(socket: TLSSocket): void;
  startDrain(): void;
  idle(): boolean;
  destroy(): void;
};

/** How long a new connection may stay silent before we stop waiting for its first bytes. */
const DETECT_TIMEOUT_MS = 10_000;
/**
 * On a port that tells HTTP from TCP, a connection silent this long is TCP: a
 * server-speaks-first protocol (MySQL, SMTP) waits for the server. Declaring the port's
 * protocol (appProtocol, or a tcp- name) spares it the wait.
 */
const FALLBACK_WAIT_MS = 1000;

export class HttpListener {
  readonly config: HttpListenerConfig;
  #hooks: HttpListenerHooks;
  #h1: Http1Server;
  #h2: http2.Http2Server;
  #sessions = new Set<ServerHttp2Session>();
  /** Connections a capture listener handed over (accept). */
  #handed = new Set<Socket>();

  constructor(config: HttpListenerConfig, hooks: HttpListenerHooks) {
    this.config = config;
    this.#hooks = hooks;
    const limits = config.limits;
    this.#h1 = http.createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        // Never drop a duplicate header the way Node does by default for some names.
        joinDuplicateHeaders: true,
        // Uploads and streams may take as long as they take; slowloris is bounded by headersTimeout.
        requestTimeout: 0,
        headersTimeout: 30_000,
        // The downstream idle timeout: a keep-alive connection with no request is closed.
        keepAliveTimeout: limits.idleTimeoutMs,
        requireHostHeader: true,
        // The protocol switches only for an upgrade we tunnel (WebSocket); every other
        // Upgrade (h2c and HTTP2-Settings included) stays a plain request through the chain.
        shouldUpgradeCallback: (req: IncomingMessage) => takesUpgrade(req.headers),
      },
      (req: IncomingMessage, res: ServerResponse) => handleExchange(req, res, req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1', hooks),
    );
    // One more than the limit, so the exchange can tell "too many" from "exactly enough".
    this.#h1.maxHeadersCount = limits.maxHeaders + 1;
    this.#h1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => hooks.onUpgrade(req, socket, head));
    // CONNECT (tunnelling to an arbitrary host) is not something a sidecar's listener offers.
    this.#h1.on('connect', (req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => {});
      hooks.onRefused('BAD_REQUEST', 'CONNECT is not supported', `${socket.remoteAddress}:${socket.remotePort}`);
      socket.end(rawRejection('BAD_REQUEST', 'CONNECT is not supported'));
    });
    this.#h1.on('clientError', (err: Error & { code?: string; reason?: string }, socket: Socket) => this.#onClientError(err, socket));
    this.#h1.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(417);
      res.end();
    });

    this.#h2 = http2.createServer(
      {
        maxHeaderListPairs: limits.maxHeaders + 4, // + the four request pseudo-headers
        maxSessionMemory: 10,
        settings: {
          maxConcurrentStreams: limits.h2MaxConcurrentStreams,
          maxHeaderListSize: limits.maxHeaderBytes,
          headerTableSize: H2_HEADER_TABLE_SIZE, // the field tap's HPACK decoder holds the client to it
        },
      },
      (req: Http2ServerRequest, res: Http2ServerResponse) => {
        if (!isRefusedStream(req.stream)) handleExchange(req, res, 'HTTP/2', hooks);
      },
    );
    // nghttp2 drops request fields with invalid characters (Node lets the request through
    // without them); the tap reads each connection's header blocks so guardFields refuses them.
    tapH2Connections(this.#h2);
    this.#h2.on('session', (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      closeWhenIdle(session, limits.idleTimeoutMs);
      const remote = `${session.socket?.remoteAddress}:${session.socket?.remotePort}`;
      guardFields(session, (reason) => hooks.onRefused('BAD_REQUEST', reason, remote));
      guardResets(session, { maxResets: limits.h2MaxResetsPerWindow, windowMs: limits.h2ResetWindowMs }, (reason) => {
        hooks.onRefused('H2_ABUSE', reason, remote);
      });
      if (hooks.draining()) session.close();
    });
    this.#h2.on('sessionError', () => {});

    // Put detection in front of the HTTP/1 server's own connection handling.
    const builtin = this.#h1.listeners('connection') as ((s: Socket) => void)[];
    const serveHttp = (socket: Socket, kind: 'h2' | 'http1') => {
      if (kind === 'h2') {
        // The HTTP/1 server's sockets are half-open; an h2 session on one would never learn
        // that its client closed, and a request cut by that close would hang upstream. End
        // ours too, as Node's own h2 server does: the session closes and aborts its streams.
        socket.once('end', () => socket.end());
        this.#h2.emit('connection', socket);
      } else for (const l of builtin) l.call(this.#h1, socket);
    };
    const mode = config.tls.mode;
    const fallback = hooks.fallback;
    const inbound =
      mode === 'DISABLE'
        ? null
        : new InboundTls(['h2', 'http/1.1'], {
            svid: hooks.svid,
            // ALPN says which; a client that offered none is told apart by its first bytes.
            secure: (tls: TLSSocket) => {
              if (tls.alpnProtocol === 'h2' || tls.alpnProtocol === 'http/1.1') serveHttp(tls, tls.alpnProtocol === 'h2' ? 'h2' : 'http1');
              // A Sluice proxy offers h2 for HTTP and no ALPN for TCP (the chains' application_protocols).
              else if (fallback !== undefined) fallback.acceptSecured(tls);
              else detectProtocol(tls, DETECT_TIMEOUT_MS, (kind) => serveHttp(tls, kind === 'h2' ? 'h2' : 'http1'));
            },
            refused: (reason, remote) => hooks.onRefused('MTLS', reason, remote),
          });
    this.#h1.removeAllListeners('connection');
    this.#h1.on('connection', (socket: Socket) => {
      hooks.onConnection(1);
      socket.once('close', () => hooks.onConnection(-1));
      socket.on('error', () => {});
      // Silence on a port that tells HTTP from TCP is TCP, except where only TLS is taken.
      const silent = fallback !== undefined && mode !== 'STRICT' ? () => fallback.accept(socket) : undefined;
      detectProtocol(
        socket,
        silent === undefined ? DETECT_TIMEOUT_MS : FALLBACK_WAIT_MS,
        (kind) => {
          if (kind === 'tls' && inbound !== null) inbound.accept(socket);
          else if (mode === 'STRICT') {
            hooks.onRefused('MTLS', 'plaintext connection refused: this listener takes mTLS only (STRICT)', `${socket.remoteAddress}:${socket.remotePort}`);
            socket.destroy();
          } else if ((config.httpOnly === true || fallback !== undefined) && kind !== 'h2') {
            // http_inspector: neither HTTP/1 nor h2c goes to the tcp_proxy chain, or matches no chain and Envoy closes the connection.
            const notHttp = () => {
              if (fallback !== undefined) fallback.accept(socket);
              else {
                hooks.onRefused('BAD_REQUEST', 'not HTTP: the first bytes are neither an HTTP/1 request line nor the HTTP/2 preface, and this port is HTTP', `${socket.remoteAddress}:${socket.remotePort}`);
                socket.destroy();
              }
            };
            if (kind === 'tls') notHttp();
            else sniffHttp1(socket, silent === undefined ? DETECT_TIMEOUT_MS : FALLBACK_WAIT_MS, (http) => (http ? serveHttp(socket, 'http1') : notHttp()));
          } else serveHttp(socket, kind === 'h2' ? 'h2' : 'http1');
        },
        silent,
      );
    });
  }

  /** A connection another listener accepted and handed over (capture): served as if accepted here. */
  accept(socket: Socket): void {
    // Node counts a server's connections only for sockets it accepted itself: these are counted here, for idle().
    this.#handed.add(socket);
    socket.once('close', () => this.#handed.delete(socket));
    this.#h1.emit('connection', socket);
  }

  listen(): Promise<number> {
    return bindReusePort(this.#h1, this.config.address, this.config.port);
  }

  get port(): number {
    return boundPort(this.#h1);
  }

  /** Stop accepting; close idle keep-alives (Node's close() does that); GOAWAY every h2 session. In-flight requests go on. */
  startDrain(): void {
    this.#h1.close();
    for (const s of this.#sessions) s.close();
    this.#hooks.fallback?.startDrain();
  }

  /** True when no connection is left. */
  idle(): boolean {
    const conns = (this.#h1 as unknown as { _connections: number })._connections;
    return conns === 0 && this.#sessions.size === 0 && this.#handed.size === 0 && this.#hooks.fallback?.idle() !== false;
  }

  /** Drop everything now (after the drain deadline). */
  destroy(): void {
    this.#h1.close();
    this.#h1.closeAllConnections();
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#handed) s.destroy();
    this.#hooks.fallback?.destroy();
  }

  #onClientError(err: Error & { code?: string; reason?: string }, socket: Socket): void {
    const pending = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      // Bytes after a request that closes the connection (Connection: close, HTTP/1.0):
      // that request is complete and on its way, so it is answered, then the connection
      // closes without reading further (RFC 9112 §9.6). The extra bytes are never parsed.
      socket.pause();
      if (pending === null || pending.writableFinished) socket.destroy();
      return;
    }
    const code = parserErrorCode(err);
    if (code === null) {
      socket.destroy();
      return;
    }
    (socket as Socket & { [REFUSED]?: boolean })[REFUSED] = true;
    this.#hooks.onRefused(code, err.reason ?? err.message, `${socket.remoteAddress}:${socket.remotePort}`);
    if (socket.writable && (pending === null || !pending.headersSent)) {
      socket.end(rawRejection(code, err.reason));
    } else {
      socket.destroy();
    }
  }
}

/** An h2 session silent for `ms` with no stream open is closed (GOAWAY); a quiet long-poll is not. */
function closeWhenIdle(session: ServerHttp2Session, ms: number): void {
  let open = 0;
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    open++;
    stream.once('close', () => open--);
  });
  session.setTimeout(ms, () => {
    if (open === 0) session.close();
  });
}

/** llhttp's error -> the status we answer with; null for errors that are not the client's input. */
function parserErrorCode(err: Error & { code?: string; reason?: string }): ErrorCode | null {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE';
    case 'HPE_INVALID_TRANSFER_ENCODING':
      // With Content-Length beside it, it is a smuggling attempt (400); otherwise a coding we lack.
      return /content-length/i.test(err.reason ?? '') ? 'BAD_REQUEST' : 'TRANSFER_ENCODING_NOT_IMPLEMENTED';
    default:
      return 'BAD_REQUEST';
  }
}
