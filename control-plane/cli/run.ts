// From argv to a command of the table (commands/index.ts): match the words, parse the
// flags strictly, check what is required, run, map the outcome to an exit code. Exit codes: 0 done, 1 failed (I/O, the system),
// 2 refused (bad usage or input, with the rule it broke).

import { parseArgs } from 'node:util';
import { formatError } from './client.ts';
import { UsageError, type FlagValue, type PositionalCount } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import type { CliContext } from './context.ts';
import { DEFAULT_SERVER } from './server-config.ts';

export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    ctx.stdout(help());
    return argv.length === 0 ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.words.every((w, i) => argv[i] === w));
  if (command === undefined) {
    ctx.stderr(`sluicectl: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${help()}`);
    return 2;
  }
  const rest = argv.slice(command.words.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.stdout(`usage: ${command.usage}\n\n${command.summary}\n\nexamples:\n${command.examples.map((e) => `  ${e}\n`).join('')}`);
    return 0;
  }
  let parsed: { values: Record<string, FlagValue>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    ctx.stderr(`sluicectl ${command.words.join(' ')}: ${(err as Error).message}\nusage: ${command.usage}\n`);
    return 2;
  }
  const missing = command.required.filter((f) => parsed.values[f] === undefined);
  const count = positionalProblem(command.positionals, parsed.positionals.length);
  if (missing.length > 0 || count !== undefined) {
    const what = missing.length > 0 ? `missing ${missing.map((f) => flagName(command.options[f]?.short, f)).join(', ')}` : count;
    ctx.stderr(`sluicectl ${command.words.join(' ')}: ${what}\nusage: ${command.usage}\n`);
    return 2;
  }
  try {
    return await command.run({ flags: parsed.values, positionals: parsed.positionals, ctx });
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr(`sluicectl ${command.words.join(' ')}: ${err.message}\n`);
      return 2;
    }
    // A Status from the server brings its field causes: each goes on its own line.
    ctx.stderr(`sluicectl ${command.words.join(' ')}: ${formatError(err)}`);
    return command.failureExitCode ?? 1;
  }
}

function flagName(short: string | undefined, long: string): string {
  return short === undefined ? `--${long}` : `-${short}/--${long}`;
}

function positionalProblem(expected: PositionalCount, got: number): string | undefined {
  const { min, max } = typeof expected === 'number' ? { min: expected, max: expected } : expected;
  if (got >= min && got <= max) return undefined;
  const want = min === max ? `${min}` : `${min} to ${max}`;
  return `expected ${want} argument(s), got ${got}`;
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return (
    `usage: sluicectl <command> [flags]\n\n${COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}\n`).join('')}\n` +
    'The verbs that talk to the control plane take --server URL, --token-file FILE and --ca-file FILE, else read\n' +
    `SLUICE_SERVER, SLUICE_TOKEN_FILE and SLUICE_CA_FILE, else ~/.sluice/config (server, tokenFile, caFile); default ${DEFAULT_SERVER}.\n`
  );
}
