// `npm run demo` (second part): two services, each with its proxy, talking over mTLS, and a
// third caller the authorization policy keeps out. The certificates are made here with
// `sluicectl ca`, as an operator would, in a temporary folder the proxies' configs point at.
//
//   frontend app -> frontend's proxy :18110 --mTLS h2--> orders' proxy :18443 -> orders app :18201
//   batch app    -> batch's proxy    :18120 --mTLS h2--> orders' proxy (403: not frontend)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PROXY = fileURLToPath(new URL('../../proxy/main.ts', import.meta.url));
const SLUICECTL = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));
const TD = 'demo.sluice.dev';
const dir = mkdtempSync(join(tmpdir(), 'sluice-mtls-demo-'));
const children: ChildProcess[] = [];
const orders = http.createServer((req, res) => {
  // What the orders app learns about its caller: the identity its proxy checked.
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`orders saw ${req.method} ${req.url} from ${/URI=([^;,]+)/.exec(String(req.headers['x-forwarded-client-cert']))?.[1] ?? 'nobody'}\n`);
});

function sluicectl(...args: string[]): void {
  console.log(`$ sluicectl ${args.join(' ').replaceAll(dir, '$DEMO')}`);
  const r = spawnSync(process.execPath, [SLUICECTL, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sluicectl ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
}

async function startProxy(name: string): Promise<{ admin: number }> {
  copyFileSync(join(HERE, `${name}.yaml`), join(dir, `${name}.yaml`));
  const child = spawn(process.execPath, [...PROXY_NODE_FLAGS, PROXY, '--config', join(dir, `${name}.yaml`), '--admin-port', '0', '--stats-port', '0', '--stats-address', '127.0.0.1', '--access-log', 'off'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')),
  });
  children.push(child);
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const line = stderr.split('\n').find((l) => l.includes('"msg":"proxy ready"'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`${name}'s proxy exited with ${code}:\n${stderr}`)));
  });
}

async function main(): Promise<number> {
  console.log(`certificates (in ${dir}, shown as $DEMO):`);
  sluicectl('ca', 'create', '--trust-domain', TD, '--out', join(dir, 'ca'));
  for (const sa of ['orders', 'frontend', 'batch']) sluicectl('ca', 'issue', '--ca', join(dir, 'ca'), '--spiffe-id', `spiffe://${TD}/ns/shop/sa/${sa}`, '--out', join(dir, 'certs', sa));

  await new Promise<void>((resolve, reject) => {
    orders.once('error', (err) => reject(new Error(`cannot listen on 127.0.0.1:18201 for the orders app: ${err.message}`)));
    orders.listen(18201, '127.0.0.1', resolve);
  });
  await startProxy('orders');
  await Promise.all([startProxy('frontend'), startProxy('batch')]);
  console.log("\nproxies: orders' on :18443 (STRICT mTLS, policy frontend-only), frontend's on :18110, batch's on :18120\n");

  let wrong = 0;
  const call = async (who: string, port: number, path: string, want: number) => {
    const res = await request(`http://127.0.0.1:${port}${path}`);
    const body = (await res.body.text()).trim();
    const why = res.statusCode === 200 ? body : `${res.headers['x-sluice-details'] ?? ''}`;
    console.log(`${who.padEnd(9)} GET ${path.padEnd(12)} -> ${res.statusCode}  ${why}`);
    if (res.statusCode !== want) wrong++;
  };
  await call('frontend', 18110, '/orders/42', 200);
  await call('frontend', 18110, '/admin', 403);
  await call('batch', 18120, '/orders/42', 403);

  // A caller outside the mesh, in plaintext, never gets an HTTP answer from a STRICT listener.
  const plaintext = await new Promise<string>((resolve) => {
    let got = '';
    const s = connect(18443, '127.0.0.1', () => s.write('GET /orders/42 HTTP/1.1\r\nhost: orders\r\n\r\n'));
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got === '' ? 'connection closed, nothing answered' : got.split('\r\n')[0]));
  });
  console.log(`${'plaintext'.padEnd(9)} GET ${'/orders/42'.padEnd(12)} -> ${plaintext}`);
  if (!plaintext.startsWith('connection closed')) wrong++;
  return wrong;
}

let wrong = 1;
try {
  wrong = await main();
} catch (err) {
  console.error(String((err as Error).message ?? err));
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  if (orders.listening) orders.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(wrong === 0 ? '\nfrontend let in, batch and plaintext kept out; proxies stopped cleanly' : `\n${wrong} answer(s) not as expected`);
process.exit(wrong === 0 ? 0 : 1);
