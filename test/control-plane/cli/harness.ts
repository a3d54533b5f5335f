// Runs sluicectl in-process, as main.ts does but with a captured stdout/stderr, a given
// stdin, environment, home and clock, and compares what it printed with golden files
// (UPDATE_GOLDEN=1 rewrites them).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiClient } from '../../../control-plane/cli/client.ts';
import type { CliContext } from '../../../control-plane/cli/context.ts';
import { runCli } from '../../../control-plane/cli/run.ts';

export type CliRun = { readonly argv: readonly string[]; readonly code: number; readonly stdout: string; readonly stderr: string };

export type CliOptions = {
  readonly env?: Record<string, string | undefined>;
  /** A fresh empty directory when absent, so no real ~/.sluice/config leaks in. */
  readonly home?: string;
  readonly stdin?: string;
  readonly clock?: () => number;
  /** What `get -w` stops on (main.ts: SIGINT). */
  readonly interrupt?: AbortSignal;
};

export function captureContext(opts: CliOptions = {}): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  let stdinRead = false;
  return {
    out,
    err,
    stdout: (s) => void out.push(s),
    stderr: (s) => void err.push(s),
    clock: opts.clock ?? Date.now,
    env: opts.env ?? {},
    home: opts.home ?? mkdtempSync(join(tmpdir(), 'sluicectl-home-')),
    readStdin: async () => {
      assert.ok(!stdinRead, 'stdin read twice');
      stdinRead = true;
      return opts.stdin ?? '';
    },
    connect: createApiClient,
    ...(opts.interrupt === undefined ? {} : { interrupt: () => opts.interrupt! }),
  };
}

export async function sluicectl(argv: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  const ctx = captureContext(opts);
  const code = await runCli(argv, ctx);
  return { argv, code, stdout: ctx.out.join(''), stderr: ctx.err.join('') };
}

// --- golden files ---

const GOLDEN_DIR = fileURLToPath(new URL('./golden/', import.meta.url));

/** `$ sluicectl ARGS`, stdout, stderr (each line `! `-prefixed), `exit N`: one readable transcript. */
export function transcript(runs: readonly CliRun[], normalize: (text: string) => string = (t) => t): string {
  return runs
    .map((r) => {
      const err = r.stderr === '' ? '' : r.stderr.replace(/\n$/, '').split('\n').map((l) => `! ${l}\n`).join('');
      return normalize(`$ sluicectl ${r.argv.join(' ')}\n${r.stdout}${err}exit ${r.code}\n`);
    })
    .join('\n');
}

export function assertGolden(name: string, actual: string): void {
  const file = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to write it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
}
