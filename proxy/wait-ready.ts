// `sluice-proxy wait`: returns once the proxy beside it answers /healthz/ready with 200. The
// injector's fallback for clusters without native sidecars (Kubernetes < 1.29) runs it as
// the proxy container's postStart hook: the kubelet starts the next container (the app)
// only after the hook returns, so the app starts with its proxy ready, as Istio's
// holdApplicationUntilProxyStarts does.

import { parseArgs } from 'node:util';
import { http } from './node-http.ts';
import { parseDuration } from './flags.ts';

export const WAIT_USAGE = `usage: sluice-proxy wait [--port PORT] [--timeout DURATION]

  Waits until http://127.0.0.1:PORT/healthz/ready answers 200; exits 1 after the timeout.
  --port PORT          the proxy's stats port (default 15020)
  --timeout DURATION   how long to wait (default 2m)
`;

/** Runs the subcommand; resolves with the exit code. */
export async function waitMain(argv: readonly string[], out: { write(s: string): unknown }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { port: { type: 'string', default: '15020' }, timeout: { type: 'string', default: '2m' }, help: { type: 'boolean', default: false } } }));
  } catch (err) {
    out.write(`sluice-proxy wait: ${(err as Error).message}\n\n${WAIT_USAGE}`);
    return 2;
  }
  if (values.help) return (out.write(WAIT_USAGE), 0);
  const port = Number(values.port);
  const timeoutMs = parseDuration(values.timeout);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return (out.write(`sluice-proxy wait: --port: '${values.port}' is not a port (1-65535)\n`), 2);
  if (timeoutMs === null) return (out.write(`sluice-proxy wait: --timeout: '${values.timeout}' is not a duration like 2m or 30s\n`), 2);
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const status = await readyStatus(port);
    if (status === 200) return 0;
    last = typeof status === 'number' ? `answered ${status}` : status;
    await new Promise((r) => setTimeout(r, 200));
  }
  out.write(`sluice-proxy wait: the proxy on 127.0.0.1:${port} was not ready within ${values.timeout} (${last})\n`);
  return 1;
}

function readyStatus(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz/ready', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
