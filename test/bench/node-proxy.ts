// The Node floor for issue 20's bench: the least a Node reverse proxy can be. node:http in,
// undici out (the same client and pool Sluice uses), hop-by-hop fields dropped, nothing else:
// no routing, retries, timeouts, telemetry, request ids or forwarding headers. What Sluice
// costs above this is what Sluice does; what this costs above nginx is Node's.
// `node test/bench/node-proxy.ts PORT UPSTREAM_PORT`; prints `listening PORT` when ready.

import http from 'node:http';
import { Pool } from 'undici';

const [port, upstreamPort] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 64 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

function forwardable(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !HOP.has(name)) out[name] = v;
  }
  return out;
}

const server = http.createServer((req, res) => {
  pool.dispatch(
    { method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardable(req.headers), body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    {
      onRequestStart() {},
      onResponseStart(_c, status, headers) {
        res.writeHead(status, forwardable(headers));
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError(_c, err) {
        if (res.headersSent) res.destroy(err);
        else {
          res.writeHead(502);
          res.end();
        }
      },
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
