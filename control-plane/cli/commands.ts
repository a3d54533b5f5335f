// The command table: every verb is one entry (words, flags, summary, run), so a new verb
// is a new entry, never a new branch. Exit codes: 0 done, 1 failed (I/O, the system),
// 2 refused (bad usage or input, with the rule it broke).

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { caCreate, caInspect, caIssue } from './ca.ts';

export type CliIo = {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now: () => number;
};

/** What a command's run gets: its flags and positionals, already parsed. */
export type Invocation = {
  readonly flags: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
  readonly io: CliIo;
};

/** A refusal the user can fix: printed with the usage hint, exit 2. */
export class UsageError extends Error {}

export type Command = {
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly required: readonly string[];
  /** Positional arguments the command takes: exactly this many. */
  readonly positionals: number;
  run(inv: Invocation): Promise<number> | number;
};

export const COMMANDS: readonly Command[] = [caCreate, caIssue, caInspect];

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    io.out(help());
    return argv.length === 0 ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.words.every((w, i) => argv[i] === w));
  if (command === undefined) {
    io.err(`sluicectl: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${help()}`);
    return 2;
  }
  const rest = argv.slice(command.words.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: ${command.usage}\n\n${command.summary}\n`);
    return 0;
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    io.err(`sluicectl ${command.words.join(' ')}: ${(err as Error).message}\nusage: ${command.usage}\n`);
    return 2;
  }
  const missing = command.required.filter((f) => parsed.values[f] === undefined);
  if (missing.length > 0 || parsed.positionals.length !== command.positionals) {
    const what = missing.length > 0 ? `missing ${missing.map((f) => `--${f}`).join(', ')}` : `expected ${command.positionals} argument(s), got ${parsed.positionals.length}`;
    io.err(`sluicectl ${command.words.join(' ')}: ${what}\nusage: ${command.usage}\n`);
    return 2;
  }
  try {
    return await command.run({ flags: parsed.values, positionals: parsed.positionals, io });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`sluicectl ${command.words.join(' ')}: ${err.message}\n`);
      return 2;
    }
    io.err(`sluicectl ${command.words.join(' ')}: ${(err as Error).message}\n`);
    return 1;
  }
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  return `usage: sluicectl <command> [flags]\n\n${COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}\n`).join('')}`;
}
