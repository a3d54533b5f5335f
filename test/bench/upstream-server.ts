// The benchmark's upstream: 1 KiB bodies, keep-alive, nothing else. Runs as its own process
// so it does not share an event loop with the load generator.

import http from 'node:http';

const body = Buffer.alloc(1024, 'x');
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
// Port 0 picks one; the line printed says which.
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
