// `npm run demo`: four small upstream services on the example's ports, sluice-proxy from
// examples/static/two-backends.yaml in front of them, some traffic, and where it went.
// Then a fault: api-2 is killed in the middle of 600 requests, and the counts show the
// default retry policy and outlier ejection absorbing it.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';

const CONFIG = fileURLToPath(new URL('./two-backends.yaml', import.meta.url));
const PROXY = fileURLToPath(new URL('../../proxy/main.ts', import.meta.url));
const upstreams = [
  { name: 'api-1', port: 18001 },
  { name: 'api-2', port: 18002 },
  { name: 'api-canary', port: 18003 },
  { name: 'web', port: 18004 },
];

const servers = await Promise.all(
  upstreams.map(
    ({ name, port }) =>
      new Promise<http.Server>((resolve, reject) => {
        const s = http.createServer((req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
          res.end(`${name} saw ${req.method} ${req.url}\n`);
        });
        s.once('error', (err) => reject(new Error(`cannot listen on 127.0.0.1:${port} for ${name}: ${err.message}`)));
        s.listen(port, '127.0.0.1', () => resolve(s));
      }),
  ),
);

const proxy = spawn(process.execPath, [...PROXY_NODE_FLAGS, PROXY, '--config', CONFIG, '--admin-port', '0', '--stats-port', '0', '--stats-address', '127.0.0.1', '--access-log', 'off'], {
  stdio: ['ignore', 'inherit', 'pipe'],
  env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')),
});
let stderr = '';
const ready = await new Promise<{ admin: number; stats: number }>((resolve, reject) => {
  proxy.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    const line = stderr.split('\n').find((l) => l.includes('"msg":"proxy ready"'));
    if (line) resolve(JSON.parse(line));
  });
  proxy.once('exit', (code) => reject(new Error(`sluice-proxy exited with ${code}:\n${stderr}`)));
});

const traffic: [string, Record<string, string>][] = [
  ['/api/users', {}],
  ['/api/users', {}],
  ['/api/orders', {}],
  ['/api/orders', {}],
  ['/api/users', { 'x-canary': '1' }],
  ['/index.html', { 'x-canary': '1' }],
  ['/index.html', {}],
  ['/apiary', {}],
];
let failures = 0;
console.log('sluice-proxy on 127.0.0.1:18000, config examples/static/two-backends.yaml\n');
console.log('request                         -> status  backend');
for (const [path, headers] of traffic) {
  const res = await request(`http://127.0.0.1:18000${path}`, { headers });
  await res.body.dump();
  const label = `GET ${path}${headers['x-canary'] ? ' (x-canary: 1)' : ''}`;
  console.log(`${label.padEnd(31)} -> ${res.statusCode}     ${res.headers['x-upstream'] ?? '-'}`);
  if (res.statusCode !== 200) failures++;
}

type Clusters = {
  clusters: { name: string; retries: number; endpoints: { address: string; port: number; health: string; healthReason?: string; totalRequests: number }[] }[];
};
const clusters = async () => ((await (await request(`http://127.0.0.1:${ready.admin}/clusters?format=json`)).body.json()) as Clusters).clusters;
const showEndpoints = async () => {
  for (const c of await clusters()) {
    for (const e of c.endpoints) {
      console.log(`  ${c.name.padEnd(11)} ${`${e.address}:${e.port}`.padEnd(16)} ${e.health.padEnd(10)} ${String(e.totalRequests).padStart(4)}  ${e.healthReason ?? ''}`);
    }
  }
};
console.log('\nrequests per endpoint, from the admin API (/clusters):');
await showEndpoints();

// --- a fault: api-2 dies mid-traffic ---
const TOTAL = 600;
const KILL_AT = 200;
console.log(`\nfault: ${TOTAL} GET /api/... requests, 8 at a time; api-2 (127.0.0.1:18002) is killed after ${KILL_AT}`);
let sent = 0;
let answered = 0;
let ok = 0;
const failed: string[] = [];
const worker = async () => {
  while (sent < TOTAL) {
    sent++;
    try {
      const res = await request(`http://127.0.0.1:18000/api/items/${sent}`);
      await res.body.dump();
      if (res.statusCode === 200) ok++;
      else failed.push(`${res.statusCode} ${res.headers['x-sluice-details'] ?? ''}`);
    } catch (err) {
      failed.push((err as Error).message);
    }
    if (++answered === KILL_AT) {
      // Like a crashed process: every connection dropped, the port closed.
      servers[1].closeAllConnections();
      servers[1].close();
    }
  }
};
await Promise.all(Array.from({ length: 8 }, worker));
const api = (await clusters()).find((c) => c.name === 'api')!;
console.log(`  sent ${TOTAL}, answered 200: ${ok}, failed: ${failed.length}${failed.length > 0 ? ` (${[...new Set(failed)].join('; ')})` : ''}`);
console.log(`  retries the proxy made for them: ${api.retries}`);
await showEndpoints();
failures += failed.length;

proxy.kill('SIGTERM');
await new Promise((r) => proxy.once('exit', r));
for (const s of servers) if (s.listening) s.close();
console.log(failures === 0 ? '\nall requests answered; proxy stopped cleanly' : `\n${failures} request(s) failed`);
process.exit(failures === 0 ? 0 : 1);
