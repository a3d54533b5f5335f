// Network namespaces for capture tests (notes/real-parts.md, "Network namespaces in
// tests"): uniquely named per run, no route to the host's network, deleted in `finally`.
// Root only; `netnsMissing()` says why a test must skip.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/**
 * The environment of a process in a namespace: a pod's (PATH only), plus the compile cache
 * every test's Node processes share (proxy/node-flags.ts), so each sluice-proxy, sluice-cp and
 * sluicectl run there skips Node's TypeScript stripper, seconds a start on a loaded machine.
 */
export function nsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_COMPILE_CACHE: join(tmpdir(), 'sluice-compile-cache'), ...extra };
}

/** A long-running process in a namespace; its stdout and stderr kept together. */
export type NsProc = { readonly child: ChildProcess; out(): string };

/** Starts processes in namespaces and stops them all (SIGTERM, then SIGKILL after 5 s), newest first. */
export class NsProcesses {
  #procs: NsProc[] = [];

  start(ns: Netns, argv: readonly string[]): NsProc {
    const child = spawn(ns.prefix[0], [...ns.prefix.slice(1), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: nsEnv() });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const p = { child, out: () => out };
    this.#procs.push(p);
    return p;
  }

  /** Until `re` shows in the output; fails with the output's tail when the process exits or `ms` pass first. */
  async waitOut(p: NsProc, re: RegExp, what: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!re.test(p.out())) {
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen (${p.child.exitCode === null ? 'timed out' : `exited ${p.child.exitCode}`}); output:\n${p.out().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stopAll(): Promise<void> {
    for (const p of this.#procs.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          p.child.kill('SIGKILL');
          r(undefined);
        }, 5000);
        p.child.once('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    this.#procs = [];
  }
}
