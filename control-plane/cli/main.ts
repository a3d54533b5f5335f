#!/usr/bin/env node
// sluicectl: the operator's CLI. The verbs live in commands/, the parsing in run.ts; this
// file only wires the process to them.

import { runCli } from './run.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  clock: Date.now,
});
