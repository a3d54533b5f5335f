// Loads and validates a config file in a short-lived child process. The validator (yaml,
// typebox, ajv) costs ~50 MiB of heap once loaded, and neither a worker thread nor GC gives
// that memory back to the OS; a child process does, when it exits. A sidecar so pays it
// for the ~100 ms of a (re)load, not for its life.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Result, Violation } from '../errors.ts';
import { deepFreeze } from './frozen.ts';
import type { ProxyConfig } from './model.ts';

export type LoadOptions = { readonly loadBalancers?: readonly string[] };

const LOADER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export function loadConfigFile(file: string, opts: LoadOptions = {}): Promise<Result<ProxyConfig, Violation[]>> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LOADER, file, JSON.stringify(opts)], { maxBuffer: 64 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) {
        resolve({ ok: false, error: [{ path: '(loader)', message: `the config loader failed: ${stderr.trim() || err.message}` }] });
        return;
      }
      const result = JSON.parse(stdout) as Result<ProxyConfig, Violation[]>;
      resolve(result.ok ? { ok: true, value: deepFreeze(result.value) } : result);
    });
  });
}
