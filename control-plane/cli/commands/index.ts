// The command table: one entry per verb, in the order `sluicectl help` lists them.

import type { Command } from '../command.ts';
import { caCreate, caInspect, caIssue } from './ca.ts';

export const COMMANDS: readonly Command[] = [caCreate, caIssue, caInspect];
