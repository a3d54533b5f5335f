// A verb of sluicectl: its words, flags, help and run. Every verb is one entry in the
// table (commands/index.ts), so a new verb is a new entry, never a new branch.

import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context.ts';

/** What a command's run gets: its flags and positionals, already parsed. */
export type Invocation = {
  readonly flags: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
  readonly ctx: CliContext;
};

/** A refusal the user can fix: printed with the usage hint, exit 2. */
export class UsageError extends Error {}

export type Command = {
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** Shown by `sluicectl <verb> --help`. */
  readonly examples: readonly string[];
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly required: readonly string[];
  /** Positional arguments the command takes: exactly this many. */
  readonly positionals: number;
  run(inv: Invocation): Promise<number> | number;
};
