// An HTTP/1.1 Upgrade (WebSocket and friends) after routing: the proxy writes the request
// head to the chosen endpoint, then stops being an HTTP proxy and copies bytes both ways,
// with backpressure (pipe), until either side closes.

import net from 'node:net';
import { SluiceError } from '../errors.ts';
import type { ProxyResponse, RequestContext } from '../http/context.ts';
import type { EndpointState } from './endpoint.ts';

export function tunnel(ctx: RequestContext, endpoint: EndpointState): Promise<ProxyResponse> {
  const downstream = ctx.upgrade!.socket;
  const head = ctx.upgrade!.head;
  return new Promise((resolve, reject) => {
    endpoint.activeRequests++;
    endpoint.totalRequests++;
    const upstream = net.connect({ host: endpoint.endpoint.address, port: endpoint.endpoint.port });
    let connected = false;
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
    upstream.once('connect', () => {
      connected = true;
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
    });
    upstream.on('error', (err: Error & { code?: string }) => {
      if (!connected) {
        endpoint.connectFailures++;
        endpoint.activeRequests--;
        reject(new SluiceError('UPSTREAM_CONNECT_FAILURE', `could not connect to ${endpoint.key}: ${err.code}`, { cause: err }));
        return;
      }
      done();
    });
    upstream.once('close', () => {
      if (!connected) return;
      if (!answered) reject(new SluiceError('UPSTREAM_CONNECTION_TERMINATION'));
      done();
    });
    downstream.once('close', () => connected && done());
    downstream.on('error', () => {});
  });
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
