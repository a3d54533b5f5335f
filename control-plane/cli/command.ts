// A verb of sluicectl: its words, flags, help and run. Every verb is one entry in the
// table (commands/index.ts), so a new verb is a new entry, never a new branch.

import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context.ts';

/** A flag's value as util.parseArgs gives it: `multiple: true` flags are arrays. */
export type FlagValue = string | boolean | string[] | undefined;

/** What a command's run gets: its flags and positionals, already parsed. */
export type Invocation = {
  readonly flags: Record<string, FlagValue>;
  readonly positionals: readonly string[];
  readonly ctx: CliContext;
};

/** A refusal the user can fix: printed with the usage hint, exit 2. */
export class UsageError extends Error {}

/** Exactly this many positionals, or between min and max (`get KIND [NAME]`). */
export type PositionalCount = number | { readonly min: number; readonly max: number };

export type Command = {
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** Shown by `sluicectl <verb> --help`. */
  readonly examples: readonly string[];
  /** util.parseArgs options; `short` gives the `-n` form. */
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly required: readonly string[];
  readonly positionals: PositionalCount;
  /** The exit code when run throws anything but a UsageError; 1 when absent. */
  readonly failureExitCode?: number;
  run(inv: Invocation): Promise<number> | number;
};
