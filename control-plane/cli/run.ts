// From argv to a command of the table (commands/index.ts): match the words, parse the
// flags strictly, check what is required, run, map the outcome to an exit code. Exit codes: 0 done, 1 failed (I/O, the system),
// 2 refused (bad usage or input, with the rule it broke).

import { parseArgs } from 'node:util';
import { formatError } from './client.ts';
import { UsageError, type FlagValue, type PositionalCount } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import type { CliContext } from './context.ts';
import { DEFAULT_SERVER } from './server-config.ts';
import { didYouMean } from '../../kinds/did-you-mean.ts';
import { CLIENT_VERSION } from './commands/version.ts';

export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    ctx.stdout(help());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv.length === 1 && argv[0] === '--version') {
    ctx.stdout(`sluicectl ${CLIENT_VERSION}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    const group = groupOf(argv);
    if (group !== undefined) {
      // `sluicectl ca --help` lists the group's verbs; a bare `sluicectl ca` too, but as a refusal.
      const asked = argv.includes('--help') || argv.includes('-h');
      (asked ? ctx.stdout : ctx.stderr)(groupHelp(group));
      return asked ? 0 : 2;
    }
    ctx.stderr(unknownCommand(argv));
    return 2;
  }
  const { command, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.stdout(`usage: ${command.usage}\n\n${command.summary}\n\n${flagsHelp(command)}examples:\n${command.examples.map((e) => `  ${e}\n`).join('')}`);
    return 0;
  }
  let parsed: { values: Record<string, FlagValue>; positionals: string[] };
  try {
    parsed = parseArgs({ args: kubectlDryRun(rest, command.options['dry-run'] !== undefined), options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
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

/**
 * The command, wherever its words stand after flags (kubectl's habit: `sluicectl --server
 * URL get svc`), and its arguments: the flags before the words, then those after. A flag
 * before the words must be one of that command's, and takes its value with it.
 */
function findCommand(argv: readonly string[]): { command: (typeof COMMANDS)[number]; rest: string[] } | undefined {
  for (const command of COMMANDS) {
    for (let i = 0; i <= argv.length - command.words.length; ) {
      if (command.words.every((w, k) => argv[i + k] === w)) return { command, rest: [...argv.slice(0, i), ...argv.slice(i + command.words.length)] };
      // Only flags (and their values) may come before the words.
      const arg = argv[i];
      if (!arg.startsWith('-') || arg === '-') break;
      const eq = arg.indexOf('=');
      const name = arg.startsWith('--') ? arg.slice(2, eq < 0 ? undefined : eq) : undefined;
      const option = name !== undefined ? command.options[name] : Object.values(command.options).find((o) => `-${o.short}` === arg);
      if (option === undefined) break;
      i += option.type === 'string' && eq < 0 ? 2 : 1;
    }
  }
  return undefined;
}

/** The group (`ca`, `token`, `bootstrap`) when argv is its word with nothing after but flags. */
function groupOf(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  if (words.length !== 1) return undefined;
  return COMMANDS.some((c) => c.words.length > 1 && c.words[0] === words[0]) ? words[0] : undefined;
}

function groupHelp(group: string): string {
  const verbs = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === group);
  const width = Math.max(...verbs.map((c) => c.words.join(' ').length));
  return (
    `usage: sluicectl ${group} <command> [flags]\n\ncommands:\n` +
    verbs.map((c) => `  ${`sluicectl ${c.words.join(' ')}`.padEnd(width + 10)}  ${c.summary}\n`).join('') +
    `\nsluicectl ${group} <command> --help shows a command's flags and examples.\n`
  );
}

/** One line, and the nearest command when there is one: not the whole usage. */
function unknownCommand(argv: readonly string[]): string {
  const typed = argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ');
  const names = COMMANDS.map((c) => c.words.join(' '));
  const near = didYouMean(typed, names) ?? didYouMean(typed.split(' ')[0] ?? '', [...new Set(COMMANDS.map((c) => c.words[0]))]);
  const hint = near === undefined ? '' : `; did you mean 'sluicectl ${near}'?`;
  return `sluicectl: unknown command '${typed === '' ? argv.join(' ') : typed}'${hint} (sluicectl --help lists the commands)\n`;
}

/** `flags:` and one line per flag, `-n, --namespace string`; nothing for a verb without flags. */
function flagsHelp(command: (typeof COMMANDS)[number]): string {
  const lines = Object.entries(command.options).map(([name, o]) => `  ${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.type === 'string' ? ' string' : ''}${o.multiple === true ? ' (repeatable)' : ''}\n`);
  return lines.length === 0 ? '' : `flags:\n${lines.join('')}\n`;
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

/**
 * kubectl's `--dry-run=server|client|none`, as people type it: server and client both mean
 * our dry run (which always asks the server, so it checks what apply would), none means none.
 */
function kubectlDryRun(args: readonly string[], takes: boolean): string[] {
  if (!takes) return [...args];
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith('--dry-run=')) {
      out.push(a);
      continue;
    }
    const v = a.slice('--dry-run='.length);
    if (v === 'server' || v === 'client') out.push('--dry-run');
    else if (v !== 'none') throw new TypeError(`--dry-run takes server, client or none (as kubectl's), or no value; got '${v}'`);
  }
  return out;
}
