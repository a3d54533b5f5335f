// Real upstream servers for tests: they answer with who they are and what they saw, and
// remember every request, so a test can assert what reached (or never reached) them.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export type SeenRequest = { method: string; url: string; headers: Record<string, string | string[] | undefined>; bodyBytes: number };

export type Upstream = {
  readonly name: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
};

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An HTTP/1.1 upstream; the default handler echoes {name, method, url, headers, bodyBytes} as JSON. */
export async function startUpstream(name: string, handler?: UpstreamHandler, opts: { port?: number; streamBody?: boolean } = {}): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer({ joinDuplicateHeaders: true }, (req, res) => {
    const record: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0 };
    seen.push(record);
    if (opts.streamBody) {
      // Count without keeping: a 1 GiB upload must not be buffered by the test either.
      req.on('data', (c: Buffer) => (record.bodyBytes += c.length));
      req.on('end', () => (handler ?? echo(name, record))(req, res, Buffer.alloc(0)));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      record.bodyBytes = body.length;
      (handler ?? echo(name, record))(req, res, body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function echo(name: string, record: SeenRequest): UpstreamHandler {
  return (_req, res) => {
    const body = JSON.stringify({ name, method: record.method, url: record.url, headers: record.headers, bodyBytes: record.bodyBytes });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': name });
    res.end(body);
  };
}

/** An h2c (prior knowledge) upstream, the way gRPC servers listen. */
export async function startH2Upstream(name: string, handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    seen.push({ method: String(headers[':method']), url: String(headers[':path']), headers, bodyBytes: 0 });
    handler(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
