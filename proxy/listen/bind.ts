// Binding a listener's socket, the same way for every protocol.

import type { Server } from 'node:net';

/** Binds with SO_REUSEPORT so a new proxy can take over the port before this one drains. */
export function bindReusePort(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, reusePort: true }, () => {
      server.removeListener('error', reject);
      resolve(boundPort(server));
    });
  });
}

/** The port the server is bound to (0 before it is). */
export function boundPort(server: Server): number {
  const a = server.address();
  return a !== null && typeof a === 'object' ? a.port : 0;
}
