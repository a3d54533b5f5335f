// Runs the real sluice-proxy binary (proxy/main.ts under this Node) the way an operator
// would, with every port on 0, and reads back the ports it bound from its ready log line.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS, proxyEnv } from '../../proxy/node-flags.ts';
import type { ClusterStatus } from '../../proxy/upstream/index.ts';

export const PROXY_MAIN = fileURLToPath(new URL('../../proxy/main.ts', import.meta.url));

export type ProxyProcess = {
  readonly child: ChildProcess;
  readonly configFile: string;
  /** Bound port per listener name. */
  readonly ports: Record<string, number>;
  readonly adminPort: number;
  readonly statsPort: number;
  /** The admin API's /clusters, parsed: each backend's live state. */
  clusters(): Promise<ClusterStatus[]>;
  /** Access-log lines (parsed JSON) seen on stdout so far. */
  accessLog(): Record<string, unknown>[];
  /** Everything on stderr so far (the proxy's own JSON log). */
  stderr(): string;
  /** Waits until a stderr line matches. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

export function writeConfig(yaml: string, dir = mkdtempSync(join(tmpdir(), 'sluice-test-'))): string {
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** One HTTP listener ("main", port 0 unless given) sending everything to one upstream. */
export function singleBackendConfig(upstreamPort: number, opts: { listenPort?: number; limits?: string } = {}): string {
  const limits = opts.limits ? `, limits: ${opts.limits}` : '';
  return `
listeners: [{ name: main, address: 127.0.0.1, port: ${opts.listenPort ?? 0}, protocol: http${limits} }]
routes: [{ name: all, rules: [{ backendRefs: [{ name: up }] }] }]
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: ${upstreamPort} }] }]
`;
}

/** `yamlOrFile` '' runs without --config: the flags in `extraArgs` name the source (--control-plane). */
export async function startProxy(yamlOrFile: string, extraArgs: string[] = [], opts: { expectFailure?: boolean; readyTimeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProxyProcess> {
  const configFile = yamlOrFile.includes('\n') ? writeConfig(yamlOrFile) : yamlOrFile;
  const source = configFile === '' ? [] : ['--config', configFile];
  const child = spawn(process.execPath, [...PROXY_NODE_FLAGS, PROXY_MAIN, ...source, '--admin-port', '0', '--stats-port', '0', '--stats-address', '127.0.0.1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: proxyEnv(join(tmpdir(), 'sluice-compile-cache'), { ...process.env, ...opts.env }),
    // An operator's working directory: relative paths in the flags are its.
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
  let out = '';
  let err = '';
  const log: Record<string, unknown>[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.trim() !== '') log.push(JSON.parse(line));
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of [...waiters]) {
      const m = err.split('\n').find((l) => w.pattern.test(l));
      if (m !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const found = err.split('\n').find((l) => pattern.test(l));
      if (found !== undefined) return resolve(found);
      const t = setTimeout(() => reject(new Error(`no log line matching ${pattern} in ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
      waiters.push({ pattern, resolve: (l) => (clearTimeout(t), resolve(l)) });
      exited.then(() => setTimeout(() => reject(new Error(`proxy exited; stderr:\n${err}`)), 50));
    });
  const base = {
    child,
    configFile,
    accessLog: () => log,
    stderr: () => err,
    waitForLog,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (opts.expectFailure) return { ...base, ports: {}, adminPort: 0, statsPort: 0, clusters: () => Promise.reject(new Error('the proxy did not start')) };
  let readyLine: string;
  try {
    readyLine = await waitForLog(/"msg":"proxy ready"/, opts.readyTimeoutMs);
  } catch (err) {
    // Never leave a proxy that did not start running behind the test (it would keep the test's process alive).
    await base.stop('SIGKILL');
    throw err;
  }
  const ready = JSON.parse(readyLine);
  const clusters = async () => ((await (await fetch(`http://127.0.0.1:${ready.admin}/clusters?format=json`)).json()) as { clusters: ClusterStatus[] }).clusters;
  return { ...base, ports: ready.listeners, adminPort: ready.admin, statsPort: ready.stats, clusters };
}
