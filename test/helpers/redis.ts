// A real redis-server (Debian's redis-server package) for TCP tests, on a free loopback
// port, with nothing written to disk; and redis-cli (redis-tools) to talk to it, or to
// whatever listens on a port. `.ci/run` installs both; a machine without them skips.

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closedPort } from './ports.ts';

/** Why redis tests cannot run here, or null when redis-server and redis-cli are installed. */
export function redisMissing(): string | null {
  for (const bin of ['redis-server', 'redis-cli']) {
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined) return `${bin} is not installed (apt-get install -y redis-server redis-tools; .ci/run does)`;
  }
  return null;
}

export type RedisServer = { readonly port: number; readonly child: ChildProcess; stop(): Promise<void> };

export async function startRedis(): Promise<RedisServer> {
  const port = await closedPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while ((await redisCli(port, ['PING']).catch(() => '')) !== 'PONG') {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One redis-cli command against 127.0.0.1:port: its output trimmed, or an error with what it printed. */
export function redisCli(port: number, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const text = `${stdout}${stderr}`.trim();
      // redis-cli exits 0 on some failures (it prints "Error: ..." to stdout), so both are errors here.
      if (err !== null || /^(Error|Could not connect)/m.test(text)) reject(Object.assign(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${text || err?.message}`), { output: text }));
      else resolve(text);
    });
  });
}
