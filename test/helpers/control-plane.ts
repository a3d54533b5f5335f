// Runs the real sluice-cp (control-plane/main.ts under this Node) as an operator would,
// with the API on 127.0.0.1:0, and reads back its URL from the ready log line and its
// admin token from DATADIR/admin-token.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyEnv } from '../../proxy/node-flags.ts';

export const CP_MAIN = fileURLToPath(new URL('../../control-plane/main.ts', import.meta.url));

export type ControlPlaneProcess = {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dataDir: string;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly token: string;
  readonly tokenFile: string;
  /** host:port of xDS over TLS (and the certificate service). */
  readonly xds: string;
  /** host:port of xDS in plaintext, or null when turned off. */
  readonly xdsPlaintext: string | null;
  /** Everything on stderr so far (the control plane's JSON log). */
  stderr(): string;
  readonly exited: Promise<number | null>;
  /** SIGTERM (or the signal given) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

export async function startControlPlane(opts: { dataDir?: string; args?: string[]; timeoutMs?: number } = {}): Promise<ControlPlaneProcess> {
  const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), 'sluice-cp-')), 'data');
  // The compile cache spares a warm start Node's TypeScript stripper, as for the proxy (proxy/node-flags.ts).
  const args = opts.args ?? [];
  // Port 0 unless the test names one: tests run in parallel, and 15012/15010 are the defaults.
  const xdsArgs = [...(args.includes('--xds-addr') ? [] : ['--xds-addr', '127.0.0.1:0']), ...(args.includes('--xds-plaintext-addr') ? [] : ['--xds-plaintext-addr', '127.0.0.1:0'])];
  const child = spawn(process.execPath, [CP_MAIN, '--store', `file:${dataDir}`, '--api-addr', '127.0.0.1:0', ...xdsArgs, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`sluice-cp did not report its API address within ${opts.timeoutMs ?? 15_000} ms; stderr:\n${err}`)), opts.timeoutMs ?? 15_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /"msg":"api listening"[^\n]*"url":"([^"]+)"/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => fail(new Error(`sluice-cp exited (${code}) before listening; stderr:\n${err}`)));
  });
  const tokenFile = join(dataDir, 'admin-token');
  const xds = /"msg":"xds listening"[^\n]*"tls":"([^"]+)","plaintext":(?:"([^"]+)"|null)/.exec(err);
  return {
    xds: xds?.[1] ?? '',
    xdsPlaintext: xds?.[2] ?? null,
    child,
    pid: child.pid!,
    dataDir,
    url,
    token: readFileSync(tokenFile, 'utf8').trim(),
    tokenFile,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
