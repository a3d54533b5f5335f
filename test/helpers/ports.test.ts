// closedPort across test processes: files run in parallel, each in its own process, and a
// port one of them handed to a child that has not bound it yet must not go to another.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closedPort, reservePort } from './ports.ts';

const PORTS = fileURLToPath(new URL('./ports.ts', import.meta.url));

/** Another test process: takes `n` ports with closedPort, prints them, and lives until its stdin ends. */
function otherTestProcess(n: number) {
  const code = `import { closedPort } from ${JSON.stringify(PORTS)};
const ports = [];
for (let i = 0; i < ${n}; i++) ports.push(await closedPort());
console.log(JSON.stringify(ports));
process.stdin.resume().on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const ports = new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    exited.then((code) => reject(new Error(`the other process exited ${code} before printing its ports`)));
  });
  return { ports, exited, end: () => child.stdin!.end() };
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

test("a port another live test process took is not handed out here, though nothing listens on it yet; once that process is gone it is", async () => {
  const other = otherTestProcess(20);
  const taken = await other.ports;
  try {
    for (const port of taken) {
      assert.equal(await bindable(port), true, `nothing listens on ${port}: a probe alone would hand it out`);
      assert.equal(reservePort(port), false, `${port} is the other process's`);
    }
    const mine = new Set<number>();
    for (let i = 0; i < 200; i++) mine.add(await closedPort());
    assert.equal(mine.size, 200, 'never the same port twice in a process');
    for (const port of taken) assert.equal(mine.has(port), false, `${port} handed out to two processes`);
  } finally {
    other.end();
  }
  assert.equal(await other.exited, 0);
  for (const port of taken) assert.equal(reservePort(port), true, `${port} is free again once its process exited`);
});

test('two processes taking ports at the same time never share one', async () => {
  const a = otherTestProcess(300);
  const b = otherTestProcess(300);
  try {
    const [pa, pb] = await Promise.all([a.ports, b.ports]);
    const shared = pa.filter((p) => pb.includes(p));
    assert.deepEqual(shared, [], 'ports handed out to both');
  } finally {
    a.end();
    b.end();
  }
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
});
