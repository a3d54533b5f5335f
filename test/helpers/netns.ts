// Network namespaces for capture tests (notes/real-parts.md, "Network namespaces in
// tests"): uniquely named per run, no route to the host's network, deleted in `finally`.
// Root only; `netnsMissing()` says why a test must skip.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why namespaces cannot be made here, or null. */
export function netnsMissing(): string | null {
  if (process.getuid?.() !== 0) return 'not root: network namespaces and iptables need root (CI runs as root)';
  for (const bin of ['ip', 'iptables']) {
    if (spawnSync(bin, ['-V'], { stdio: 'ignore' }).error !== undefined) return `${bin} is not installed (apt-get install -y iproute2 iptables; .ci/run does)`;
  }
  return null;
}

/** Runs a command, throwing with its output when it fails. */
export function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
  return r.stdout;
}

export type Netns = {
  readonly name: string;
  /** `ip netns exec <name> cmd args...`. */
  exec(cmd: string, args: readonly string[]): string;
  /** The argv prefix that runs a command inside it. */
  readonly prefix: readonly string[];
};

/** A fresh namespace with its loopback up; `tag` goes into the name for whoever lists them. */
export function makeNetns(tag: string): Netns {
  const name = `sluice-${tag}-${process.pid}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  const prefix = ['ip', 'netns', 'exec', name];
  const ns: Netns = { name, prefix, exec: (cmd, args) => sh('ip', ['netns', 'exec', name, cmd, ...args]) };
  ns.exec('ip', ['link', 'set', 'lo', 'up']);
  return ns;
}

/** Deletes namespaces (and with them their veth ends); one already gone is no error. */
export function deleteNetns(...list: (Netns | undefined)[]): void {
  for (const ns of list) if (ns !== undefined) spawnSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
}

/** Joins two namespaces by a veth pair: `a` gets `addrA`/24, `b` gets `addrB`/24, and nothing else; returns each end's name. */
export function joinByVeth(a: Netns, addrA: string, b: Netns, addrB: string): { a: string; b: string } {
  const suffix = randomBytes(3).toString('hex');
  const [va, vb] = [`sva${suffix}`, `svb${suffix}`];
  sh('ip', ['link', 'add', va, 'type', 'veth', 'peer', 'name', vb]);
  sh('ip', ['link', 'set', va, 'netns', a.name]);
  sh('ip', ['link', 'set', vb, 'netns', b.name]);
  a.exec('ip', ['addr', 'add', `${addrA}/24`, 'dev', va]);
  b.exec('ip', ['addr', 'add', `${addrB}/24`, 'dev', vb]);
  a.exec('ip', ['link', 'set', va, 'up']);
  b.exec('ip', ['link', 'set', vb, 'up']);
  return { a: va, b: vb };
}
