// From argv to a command of the table (commands/index.ts): match the words, parse the
// flags strictly, check what is required, run, map the outcome to an exit code. Exit codes: 0 done, 1 failed (I/O, the system),
// 2 refused (bad usage or input, with the rule it broke).

import { parseArgs } from 'node:util';
import { UsageError } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import type { CliContext } from './context.ts';

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
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    ctx.stderr(`sluicectl ${command.words.join(' ')}: ${(err as Error).message}\nusage: ${command.usage}\n`);
    return 2;
  }
  const missing = command.required.filter((f) => parsed.values[f] === undefined);
  if (missing.length > 0 || parsed.positionals.length !== command.positionals) {
    const what = missing.length > 0 ? `missing ${missing.map((f) => `--${f}`).join(', ')}` : `expected ${command.positionals} argument(s), got ${parsed.positionals.length}`;
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
    ctx.stderr(`sluicectl ${command.words.join(' ')}: ${(err as Error).message}\n`);
    return 1;
  }
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return `usage: sluicectl <command> [flags]\n\n${COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}\n`).join('')}`;
}
