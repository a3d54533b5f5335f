// The baseline of the control-plane bench (control-plane.ts): the floor of "HTTP + JSON +
// one durable append per write", run as its own process as sluice-cp is.

import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

/** The baseline server in its own process, as sluice-cp is. */
export function startBaseline(file: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [SELF, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`the baseline server did not start: ${out}`))), 15_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${m[1]}` });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the baseline server exited with ${code}: ${out}`))));
  });
}

/**
 * The baseline: node:http, the body read and JSON.parse'd, appended as a line with an
 * fdatasync before the answer (concurrent requests each wait for their own, as a naive
 * durable server would), the parsed body echoed back. GET serves whatever PUT /__cache
 * last stored, as it is. No auth check, no validation, no store, no log.
 */
async function baselineServer(file: string): Promise<void> {
  const journal = await open(file, 'a', 0o600);
  let cached = Buffer.from('{"items":[]}');
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': cached.length }).end(cached);
    if (req.method === 'PUT' && req.url === '/__cache') return void ((cached = body), res.writeHead(204).end());
    const doc = JSON.parse(body.toString('utf8')) as unknown;
    if (!req.url!.includes('dryRun=All')) {
      await journal.write(`${JSON.stringify(doc)}\n`);
      await journal.datasync();
    }
    const text = JSON.stringify(doc);
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
}

// `node test/bench/cp-baseline-server.ts FILE`: what startBaseline runs.
if (import.meta.main) await baselineServer(process.argv[2]);
