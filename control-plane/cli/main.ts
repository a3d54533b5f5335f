#!/usr/bin/env node
// sluicectl: the operator's CLI. The verbs live in commands.ts; this file only wires the
// process to them.

import { runCli } from './commands.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  now: Date.now,
});
