// `npm run demo`: four small upstream services on the example's ports, sluice-proxy from
// examples/static/two-backends.yaml in front of them, some traffic, and where it went.

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

type Clusters = { clusters: { name: string; endpoints: { address: string; port: number; health: string; totalRequests: number }[] }[] };
const { clusters } = (await (await request(`http://127.0.0.1:${ready.admin}/clusters?format=json`)).body.json()) as Clusters;
console.log('\nrequests per endpoint, from the admin API (/clusters):');
for (const c of clusters) {
  for (const e of c.endpoints) console.log(`  ${c.name.padEnd(11)} ${`${e.address}:${e.port}`.padEnd(16)} ${e.health.padEnd(8)} ${e.totalRequests}`);
}

proxy.kill('SIGTERM');
await new Promise((r) => proxy.once('exit', r));
for (const s of servers) s.close();
console.log(failures === 0 ? '\nall requests answered; proxy stopped cleanly' : `\n${failures} request(s) failed`);
process.exit(failures === 0 ? 0 : 1);
