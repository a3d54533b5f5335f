#!/usr/bin/env node
// sluicectl: the operator's CLI. The verbs live in commands/, the parsing in run.ts; this
// file only wires the process to them.

import { homedir } from 'node:os';
import { text } from 'node:stream/consumers';
import { createApiClient } from './client.ts';
import { runCli } from './run.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  clock: Date.now,
  env: process.env,
  home: homedir(),
  readStdin: () => text(process.stdin),
  connect: createApiClient,
});
