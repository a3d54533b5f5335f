#!/usr/bin/env node
// sluicectl: the operator's CLI. The verbs live in commands/, the parsing in run.ts; this
// file only wires the process to them.

import { homedir } from 'node:os';
import { text } from 'node:stream/consumers';
import { createApiClient } from './client.ts';
import { runCli } from './run.ts';

// `sluicectl get ... | head`: once the reader is gone, the rest of the output has nowhere
// to go; stop quietly, as cat and kubectl do, instead of printing a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: Error & { code?: string }) => process.exit(err.code === 'EPIPE' ? 0 : 1));
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  clock: Date.now,
  env: process.env,
  home: homedir(),
  readStdin: () => text(process.stdin),
  connect: createApiClient,
  interrupt: () => {
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    return stop.signal;
  },
});
