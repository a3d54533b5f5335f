// The xDS push bench's load generator, seen from the bench: N simulated proxies split over
// a few child processes (ads-load-client.ts), so that the control plane's CPU is measured
// apart from theirs. Each call waits for every process, within a bound.

import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { proxyEnv } from '../../proxy/node-flags.ts';
import type { ClientCommand, ClientEvent, SimNode } from './ads-load-client.ts';

const CLIENT = fileURLToPath(new URL('./ads-load-client.ts', import.meta.url));
export const now = (): number => performance.timeOrigin + performance.now();

export type SyncResult = {
  /** ms from the first connect to each stream's last ACK of its initial sync (null: not synced). */
  readonly ms: (number | null)[];
  readonly failures: string[];
  /** gRPC channels (TCP connections) over all processes. */
  readonly channels: number;
  readonly clientCpuMs: number;
};

export type PushResult = {
  /** ms from the trigger to each stream's ACK of the changed type (null: not within the bound). */
  readonly ms: (number | null)[];
  /** Responses per type URL the streams got in the window, over all processes. */
  readonly responses: Record<string, number>;
  readonly clientCpuMs: number;
  readonly failures: string[];
};

type Waiter = { ev: ClientEvent['ev']; resolve: (e: ClientEvent) => void };
type Proc = { readonly child: ChildProcess; readonly waiters: Waiter[]; readonly exited: Promise<void> };

export class Fleet {
  #procs: Proc[] = [];

  /** Starts `processes` load-client processes and waits until each has loaded. */
  static async start(processes: number): Promise<Fleet> {
    const fleet = new Fleet();
    for (let i = 0; i < processes; i++) {
      const child = fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
      const p: Proc = { child, waiters: [], exited: new Promise<void>((r) => child.once('exit', () => r())) };
      child.on('message', (e: ClientEvent) => {
        const i = p.waiters.findIndex((w) => w.ev === e.ev);
        if (i >= 0) p.waiters.splice(i, 1)[0].resolve(e);
      });
      fleet.#procs.push(p);
    }
    await fleet.#all('ready', 30_000);
    return fleet;
  }

  get pids(): number[] {
    return this.#procs.map((p) => p.child.pid!);
  }

  /** Opens a stream per node (split evenly over the processes) and waits for each to sync. */
  async connect(address: string, nodes: readonly SimNode[], streamsPerChannel: number, timeoutMs: number): Promise<SyncResult> {
    const share = Math.ceil(nodes.length / this.#procs.length);
    const start = now();
    const done = this.#all('synced', timeoutMs + 30_000);
    this.#procs.forEach((p, i) => this.#send(p.child, { cmd: 'connect', address, nodes: nodes.slice(i * share, (i + 1) * share), streamsPerChannel, timeoutMs }));
    const events = (await done) as Extract<ClientEvent, { ev: 'synced' }>[];
    return {
      ms: events.flatMap((e) => e.at.map((t) => (t === null ? null : t - start))),
      failures: events.flatMap((e) => e.failures),
      channels: events.reduce((s, e) => s + e.channels, 0),
      clientCpuMs: events.reduce((s, e) => s + e.cpuMs, 0),
    };
  }

  /**
   * Arms every stream on `typeUrl` (its current version is the old one), then calls
   * `trigger` with the clock started just before it, and waits for every stream's ACK of a
   * newer version of that type, or `timeoutMs`.
   */
  async push(typeUrl: string, timeoutMs: number, trigger: () => void): Promise<PushResult & { start: number }> {
    const armed = this.#all('armed', 30_000);
    const done = this.#all('pushed', timeoutMs + 30_000);
    for (const p of this.#procs) this.#send(p.child, { cmd: 'arm', typeUrl, timeoutMs });
    await armed;
    const start = now();
    trigger();
    const events = (await done) as Extract<ClientEvent, { ev: 'pushed' }>[];
    const responses: Record<string, number> = {};
    for (const e of events) for (const [t, n] of Object.entries(e.responses)) responses[t] = (responses[t] ?? 0) + n;
    return {
      start,
      ms: events.flatMap((e) => e.at.map((t) => (t === null ? null : t - start))),
      responses,
      clientCpuMs: events.reduce((s, e) => s + e.cpuMs, 0),
      failures: events.flatMap((e) => e.failures),
    };
  }

  /** The raw responses, by type URL, that the first stream of the first process last got. */
  async sample(): Promise<Record<string, Buffer>> {
    const p = this.#procs[0];
    const got = this.#wait(p, 'sample', 30_000);
    this.#send(p.child, { cmd: 'sample' });
    const e = (await got) as Extract<ClientEvent, { ev: 'sample' }>;
    return Object.fromEntries(Object.entries(e.responses).map(([t, b]) => [t, Buffer.from(b, 'base64')]));
  }

  /** Asks each process to close its streams and exit; kills what is still running after 10 s. */
  async stop(): Promise<void> {
    for (const p of this.#procs) if (p.child.connected) this.#send(p.child, { cmd: 'stop' });
    const all = Promise.all(this.#procs.map((p) => p.exited));
    const timer = setTimeout(() => this.kill(), 10_000);
    await all;
    clearTimeout(timer);
  }

  kill(): void {
    for (const p of this.#procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }

  #send(child: ChildProcess, c: ClientCommand): void {
    child.send(c);
  }

  #wait(p: Proc, ev: ClientEvent['ev'], ms: number): Promise<ClientEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load client ${p.child.pid}: no '${ev}' within ${ms} ms`)), ms).unref();
      void p.exited.then(() => reject(new Error(`load client ${p.child.pid} exited while the bench waited for '${ev}'`)));
      p.waiters.push({ ev, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  #all(ev: ClientEvent['ev'], ms: number): Promise<ClientEvent[]> {
    return Promise.all(this.#procs.map((p) => this.#wait(p, ev, ms)));
  }
}
