// An opaque TCP listener: every accepted connection is forwarded, byte for byte, to an
// endpoint of one backend picked by its load balancer.

import net, { type Socket } from 'node:net';
import type { TcpListener as TcpListenerConfig } from '../config/model.ts';
import type { Cluster } from '../upstream/index.ts';
import { ANY_ENDPOINT } from '../upstream/lb/registry.ts';
import { bindReusePort, boundPort } from './bind.ts';

export type TcpListenerHooks = {
  cluster(name: string): Cluster | undefined;
  onConnection(delta: 1 | -1): void;
  onBytes(received: number, sent: number): void;
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
};

export class TcpListener {
  readonly config: TcpListenerConfig;
  #server: net.Server;
  #sockets = new Set<Socket>();

  constructor(config: TcpListenerConfig, hooks: TcpListenerHooks) {
    this.config = config;
    this.#server = net.createServer((downstream) => {
      this.#sockets.add(downstream);
      hooks.onConnection(1);
      downstream.on('error', () => {});
      const cluster = hooks.cluster(config.backend);
      const endpoint = cluster?.lb.pick(ANY_ENDPOINT);
      if (endpoint === undefined) {
        hooks.log('warn', 'tcp connection refused: no healthy endpoint', { listener: config.name, backend: config.backend });
        downstream.destroy();
      } else {
        endpoint.activeRequests++;
        endpoint.totalRequests++;
        const upstream = net.connect({ host: endpoint.endpoint.address, port: endpoint.endpoint.port });
        upstream.on('error', (err: Error & { code?: string }) => {
          if (upstream.connecting) {
            endpoint.connectFailures++;
            cluster?.outlier?.recordLocalFailure(endpoint);
          }
          hooks.log('warn', 'tcp upstream error', { listener: config.name, upstream: endpoint.key, error: err.code ?? err.message });
          downstream.destroy();
        });
        downstream.pipe(upstream);
        upstream.pipe(downstream);
        upstream.once('close', () => downstream.destroy());
        downstream.once('close', () => {
          endpoint.activeRequests--;
          upstream.destroy();
        });
      }
      downstream.once('close', () => {
        this.#sockets.delete(downstream);
        hooks.onConnection(-1);
        hooks.onBytes(downstream.bytesRead, downstream.bytesWritten);
      });
    });
  }

  listen(): Promise<number> {
    return bindReusePort(this.#server, this.config.address, this.config.port);
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
