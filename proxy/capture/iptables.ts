// Writes, checks and removes a RuleSet with the iptables binary (either backend; Debian's
// is nf_tables). Every failure names the iptables command that failed and what it said.

import { spawnSync } from 'node:child_process';
import { describeRule, type Rule, type RuleSet } from './rules.ts';

export type Iptables = (args: readonly string[]) => { readonly status: number; readonly stderr: string };

/** The real binary; `bin` for a wrapper (e.g. `iptables-legacy`). */
export function iptablesBinary(bin = 'iptables'): Iptables {
  return (args) => {
    const r = spawnSync(bin, ['-w', '5', ...args], { encoding: 'utf8' });
    if (r.error !== undefined) return { status: 127, stderr: `${bin}: ${r.error.message}` };
    return { status: r.status ?? 1, stderr: (r.stderr ?? '').trim() };
  };
}

export class CaptureError extends Error {
  readonly code = 'CAPTURE_RULES';
}

function must(run: Iptables, args: readonly string[]): void {
  const r = run(args);
  if (r.status !== 0) throw new CaptureError(`iptables ${args.join(' ')} failed (exit ${r.status}): ${r.stderr || 'no message'}`);
}

const chainExists = (run: Iptables, chain: string) => run(['-t', 'nat', '-S', chain]).status === 0;
const present = (run: Iptables, r: Rule) => run(['-t', 'nat', '-C', r.chain, ...r.args]).status === 0;

/**
 * Idempotent: our chains are made if missing and their rules rewritten whole (so a changed
 * option replaces the old rules), and each jump is added only when missing.
 */
export function install(run: Iptables, set: RuleSet): void {
  for (const chain of set.chains) {
    if (!chainExists(run, chain)) must(run, ['-t', 'nat', '-N', chain]);
    else must(run, ['-t', 'nat', '-F', chain]);
  }
  for (const r of set.rules) must(run, ['-t', 'nat', '-A', r.chain, ...r.args]);
  for (const j of set.jumps) if (!present(run, j)) must(run, ['-t', 'nat', '-A', j.chain, ...j.args]);
}

/** Removes the jumps (every copy) and our chains; what is already gone is no error. */
export function uninstall(run: Iptables, set: RuleSet): void {
  for (const j of set.jumps) {
    for (let i = 0; i < 100 && present(run, j); i++) must(run, ['-t', 'nat', '-D', j.chain, ...j.args]);
  }
  for (const chain of set.chains) {
    if (!chainExists(run, chain)) continue;
    must(run, ['-t', 'nat', '-F', chain]);
    must(run, ['-t', 'nat', '-X', chain]);
  }
}

/** What of the set is missing, one line each (`iptables -t nat -A ...` as it would be typed); empty: all there. */
export function check(run: Iptables, set: RuleSet): string[] {
  const missing: string[] = [];
  for (const chain of set.chains) if (!chainExists(run, chain)) missing.push(`chain ${chain} (nat) does not exist`);
  for (const r of [...set.rules, ...set.jumps]) {
    if (missing.some((m) => m.startsWith(`chain ${r.chain} `))) continue;
    if (!present(run, r)) missing.push(`rule missing: iptables ${describeRule(r)}`);
  }
  // Present but unusable: a probe of the binary itself, so "all missing" is not mistaken for "not installed".
  const probe = run(['-t', 'nat', '-S', 'OUTPUT']);
  if (probe.status !== 0) missing.unshift(`iptables -t nat -S OUTPUT failed (exit ${probe.status}): ${probe.stderr}`);
  return missing;
}
