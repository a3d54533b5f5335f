// The kubelet's probes of an injected app, answered on the stats port (:15020): the injector
// rewrote each of the app's probes to /app-health/<container>/<kind> here and passed the
// original in SLUICE_APP_PROBES (kinds/app-probes.ts). The proxy asks the app on 127.0.0.1
// (its own connections are not captured) and answers with the app's verdict, so the probe
// keeps working when the app's port takes mTLS only.
//
// httpGet: the app's status is the answer (200-399 become 200, as the kubelet counts them
// all as success and a 3xx without its Location would mean nothing to it); tcpSocket: 200
// once a connection opens; grpc: grpc.health.v1.Health/Check, 200 when SERVING. Anything
// else (refused, timeout, not SERVING) is 503 with the reason in the body.

import { createRequire } from 'node:module';
import net from 'node:net';
import { http } from '../node-http.ts';
import type { AppProbe } from '../../kinds/app-probes.ts';

// Loaded on first use, with require (see node-http.ts): most pods never probe over TLS or gRPC.
const load = createRequire(import.meta.url);

export type ProbeReply = { status: number; body: string };

/** Runs one probe against the app; never rejects. */
export function runAppProbe(probe: AppProbe, userAgent: string | undefined): Promise<ProbeReply> {
  const timeoutMs = probe.timeoutSeconds * 1000;
  if ('httpGet' in probe) return httpProbe(probe.httpGet, timeoutMs, userAgent);
  if ('tcpSocket' in probe) return tcpProbe(probe.tcpSocket.port, timeoutMs);
  return grpcProbe(probe.grpc.port, probe.grpc.service, timeoutMs);
}

function httpProbe(get: Extract<AppProbe, { httpGet: unknown }>['httpGet'], timeoutMs: number, userAgent: string | undefined): Promise<ProbeReply> {
  const headers: Record<string, string> = { host: `127.0.0.1:${get.port}`, 'user-agent': userAgent ?? 'sluice-proxy/app-probe', accept: '*/*', connection: 'close' };
  // The probe's own headers win, Host included, as the kubelet sends them.
  for (const h of get.httpHeaders) headers[h.name.toLowerCase()] = h.value;
  return new Promise((resolve) => {
    const done = once(resolve);
    const client: Pick<typeof import('node:https'), 'request'> = get.scheme === 'HTTPS' ? load('node:https') : http;
    // The kubelet does not check an app's certificate either.
    const req = client.request({ host: '127.0.0.1', port: get.port, path: get.path, method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done(status >= 200 && status < 400 ? { status: 200, body: `app answered ${status}\n` } : { status: status >= 400 && status <= 599 ? status : 503, body: `app answered ${status}\n` });
    });
    req.on('timeout', () => {
      done({ status: 503, body: `app did not answer within ${timeoutMs} ms\n` });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ status: 503, body: `app unreachable: ${err.code ?? err.message}\n` }));
    req.end();
  });
}

function tcpProbe(port: number, timeoutMs: number): Promise<ProbeReply> {
  return new Promise((resolve) => {
    const done = once(resolve);
    const socket = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    socket.once('connect', () => {
      done({ status: 200, body: `connected to ${port}\n` });
      socket.destroy();
    });
    socket.once('timeout', () => {
      done({ status: 503, body: `no connection to ${port} within ${timeoutMs} ms\n` });
      socket.destroy();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done({ status: 503, body: `cannot connect to ${port}: ${err.code ?? err.message}\n` }));
  });
}

/** grpc.health.v1.Health/Check over h2c, the protobuf written by hand: one string field out, one enum back. */
function grpcProbe(port: number, service: string, timeoutMs: number): Promise<ProbeReply> {
  return new Promise((resolve) => {
    const http2: typeof import('node:http2') = load('node:http2');
    let session: import('node:http2').ClientHttp2Session | undefined;
    const timer = setTimeout(() => finish({ status: 503, body: `no gRPC health answer within ${timeoutMs} ms\n` }), timeoutMs);
    const finish = once((r: ProbeReply) => {
      clearTimeout(timer);
      session?.destroy();
      resolve(r);
    });
    session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', (err: NodeJS.ErrnoException) => finish({ status: 503, body: `app unreachable: ${err.code ?? err.message}\n` }));
    const name = Buffer.from(service, 'utf8');
    const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const stream = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    stream.on('response', (h) => (grpcStatus = h['grpc-status'] as string | undefined));
    stream.on('trailers', (h) => (grpcStatus = (h['grpc-status'] as string | undefined) ?? grpcStatus));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err: Error) => finish({ status: 503, body: `gRPC health check failed: ${err.message}\n` }));
    stream.on('end', () => {
      if (grpcStatus !== '0') return finish({ status: 503, body: `gRPC health check answered grpc-status ${grpcStatus ?? 'none'}\n` });
      const status = servingStatus(Buffer.concat(chunks));
      finish(status === 1 ? { status: 200, body: 'SERVING\n' } : { status: 503, body: `gRPC health status ${status}, not SERVING\n` });
    });
    stream.end(frame);
  });
}

/** HealthCheckResponse.status (field 1, varint) from one length-prefixed message; 0 (UNKNOWN) when absent. */
function servingStatus(body: Buffer): number {
  let i = 5;
  while (i < body.length) {
    const tag = body[i++];
    if (tag === 0x08) return body[i] ?? 0;
    if ((tag & 7) === 2) i += 1 + body[i];
    else if ((tag & 7) === 0) while (i < body.length && body[i++] & 0x80);
    else return 0;
  }
  return 0;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function once<T>(fn: (v: T) => void): (v: T) => void {
  let called = false;
  return (v) => {
    if (called) return;
    called = true;
    fn(v);
  };
}
