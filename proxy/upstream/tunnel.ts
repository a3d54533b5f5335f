// An HTTP/1.1 Upgrade (WebSocket and friends) after routing: the proxy writes the request
// head to the chosen endpoint, then stops being an HTTP proxy and copies bytes both ways,
// with backpressure (pipe), until either side closes.

import type { Socket } from 'node:net';
import { SluiceError } from '../errors.ts';
import type { ProxyResponse, RequestContext } from '../http/context.ts';
import type { EndpointState } from './endpoint.ts';
import { MTLS_FAILURE } from './mesh-connect.ts';

export function tunnel(ctx: RequestContext, endpoint: EndpointState): Promise<ProxyResponse> {
  const downstream = ctx.upgrade!.socket;
  const head = ctx.upgrade!.head;
  return new Promise((resolve, reject) => {
    endpoint.activeRequests++;
    endpoint.totalRequests++;
    // Between proxies the tunnel is mTLS too, with ALPN http/1.1: an Upgrade is HTTP/1.1's.
    endpoint.openStream(['http/1.1'], (err, upstream) => {
      if (err !== null || upstream === null) {
        endpoint.connectFailures++;
        endpoint.activeRequests--;
        const why = (err as { code?: string } | null)?.code === MTLS_FAILURE ? err!.message : (err as { code?: string } | null)?.code;
        reject(new SluiceError('UPSTREAM_CONNECT_FAILURE', `could not connect to ${endpoint.key}: ${why}`, { cause: err }));
        return;
      }
      if (ctx.downstreamClosed || downstream.destroyed) {
        endpoint.activeRequests--;
        upstream.destroy();
        reject(new SluiceError('DOWNSTREAM_DISCONNECT'));
        return;
      }
      splice(ctx, endpoint, downstream, upstream, head, resolve, reject);
    });
  });
}

function splice(ctx: RequestContext, endpoint: EndpointState, downstream: Socket, upstream: Socket, head: Buffer, resolve: (r: ProxyResponse) => void, reject: (e: Error) => void): void {
  let answered = false;
  let finished = false;
  // Both sockets' 'close' (and an error) land here; the tunnel ends once.
  const done = () => {
    if (finished) return;
    finished = true;
    endpoint.activeRequests--;
    downstream.destroy();
    upstream.destroy();
  };
  upstream.write(requestHead(ctx));
  if (head.length > 0) upstream.write(head);
  upstream.once('data', (first: Buffer) => {
    // The status line tells the access log whether the upgrade was taken.
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(first.subarray(0, 16).toString('latin1'));
    answered = true;
    downstream.write(first);
    upstream.pipe(downstream);
    resolve({ status: m ? Number(m[1]) : 0, headers: {}, body: null });
  });
  downstream.pipe(upstream);
  upstream.on('error', done);
  upstream.once('close', () => {
    if (!answered) reject(new SluiceError('UPSTREAM_CONNECTION_TERMINATION'));
    done();
  });
  downstream.once('close', done);
  downstream.on('error', () => {});
}

function requestHead(ctx: RequestContext): string {
  let s = `${ctx.method} ${ctx.target()} HTTP/1.1\r\n`;
  for (const name in ctx.headers) {
    const v = ctx.headers[name];
    if (Array.isArray(v)) for (const one of v) s += `${name}: ${one}\r\n`;
    else s += `${name}: ${v}\r\n`;
  }
  return `${s}connection: upgrade\r\n\r\n`;
}
