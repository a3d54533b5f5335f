// The worker threads of a proxy with --workers N (N > 1), seen from the main thread, which
// stays what a one-worker proxy is (flags, config source, certificates, admin and stats
// servers, listeners of its own) and starts N-1 threads (thread.ts) that serve the same
// listeners, bound with SO_REUSEPORT. Every config the main thread applies goes to every
// worker (applyEverywhere: all or nothing); their counts are asked for when scraped and
// added up; SIGTERM drains them all. A worker that dies is logged and started again with
// the running config; the counts it had sent at the last scrape carry on in the sums.

import { Worker } from 'node:worker_threads';
import type { IdentityFiles, ProxyConfig } from '../config/model.ts';
import type { Logger } from '../http/rescue.ts';
import type { ProxyServer } from '../server.ts';
import type { FailureReporter } from '../telemetry/failure-report.ts';
import { addSnapshots, type FamilySnapshot, type MetricType } from '../../kinds/metrics-snapshot.ts';
import { mergeClusters } from '../telemetry/merge-metrics.ts';
import type { ClusterStatus } from '../upstream/index.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerSnapshot } from './protocol.ts';

const THREAD = new URL('./thread.ts', import.meta.url);
/** How long a scrape waits for a worker's counts before it uses the ones that worker sent last. */
const SNAPSHOT_TIMEOUT_MS = 2_000;
/** A worker that died is started again after this long (so one that dies at once does not spin). */
const RESTART_DELAY_MS = 1_000;
/** Only what only grows carries on from a worker that died: its open connections are gone. */
const CARRIED_TYPES: ReadonlySet<MetricType> = new Set(['counter', 'histogram']);

type Slot = {
  readonly index: number;
  worker: Worker | null;
  /** Replies awaited, by message id. */
  readonly pending: Map<number, (m: FromWorker | null) => void>;
  last: WorkerSnapshot | null;
  restarts: number;
  drained: boolean;
};

export type WorkerView = { worker: number; threadId: number | null; alive: boolean; restarts: number; metrics: FamilySnapshot[] };

export class WorkerPool {
  readonly #init: Omit<WorkerInit, 'index'>;
  readonly #log: Logger;
  readonly #failures: FailureReporter;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #stopping = false;
  /** The config every worker runs (ports bound), sent to a worker started again. */
  #applied: { config: ProxyConfig; identity: IdentityFiles | null } | null = null;
  /** The counters and histograms of workers that died, as of their last scrape. */
  #gone: FamilySnapshot[] = [];

  /** `extra` workers besides the main thread (--workers N: N-1). */
  constructor(extra: number, init: Omit<WorkerInit, 'index'>, deps: { log: Logger; failures: FailureReporter }) {
    this.#init = init;
    this.#log = deps.log;
    this.#failures = deps.failures;
    for (let i = 1; i <= extra; i++) {
      const slot: Slot = { index: i, worker: null, pending: new Map(), last: null, restarts: 0, drained: false };
      this.#slots.push(slot);
      this.#start(slot);
    }
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Applies `config` on every worker; throws naming the first worker that refused it (some may have taken it). */
  async apply(config: ProxyConfig, identity: IdentityFiles | null): Promise<void> {
    const replies = await Promise.all(this.#slots.map((s) => this.#ask(s, (id) => ({ type: 'apply', id, config, identity }), null)));
    const failed = replies.map((r, i) => [r, i + 1] as const).find(([r]) => r === null || r.type !== 'applied' || r.error !== null);
    if (failed !== undefined) {
      const [r, index] = failed;
      throw new Error(`worker ${index}: ${r !== null && r.type === 'applied' ? r.error : 'it exited before it applied the config'}`);
    }
    this.#applied = { config, identity };
  }

  /** Every worker's counts now (or, for one that does not answer in time, the ones it sent last). */
  async views(): Promise<WorkerView[]> {
    const replies = await Promise.all(this.#slots.map((s) => this.#ask(s, (id) => ({ type: 'snapshot', id }), SNAPSHOT_TIMEOUT_MS)));
    return this.#slots.map((s, i) => {
      const r = replies[i];
      if (r !== null && r.type === 'snapshot') s.last = r.snapshot;
      return { worker: s.index, threadId: s.worker?.threadId ?? null, alive: s.worker !== null, restarts: s.restarts, metrics: s.last?.metrics ?? [] };
    });
  }

  /** The workers' registries added to `own` (the main thread's), and the counts of workers that died. */
  async metrics(own: FamilySnapshot[]): Promise<FamilySnapshot[]> {
    await this.views();
    return this.#addMetrics(own);
  }

  /** The main thread's backends with every worker's counts added. */
  async clusters(own: ClusterStatus[]): Promise<ClusterStatus[]> {
    await this.views();
    return this.#addClusters(own);
  }

  /** Both at once, on one round of asking the workers (a scrape shows both). */
  async metricsAndClusters(own: { metrics: FamilySnapshot[]; clusters: ClusterStatus[] }): Promise<{ metrics: FamilySnapshot[]; clusters: ClusterStatus[] }> {
    await this.views();
    return { metrics: this.#addMetrics(own.metrics), clusters: this.#addClusters(own.clusters) };
  }

  #addMetrics(own: FamilySnapshot[]): FamilySnapshot[] {
    return addSnapshots([own, ...this.#slots.map((s) => s.last?.metrics ?? []), this.#gone]);
  }

  #addClusters(own: ClusterStatus[]): ClusterStatus[] {
    return mergeClusters([own, ...this.#slots.map((s) => s.last?.clusters ?? [])]);
  }

  /** Every worker drains (in-flight requests get `timeoutMs`) and ends; resolves once all have. */
  async drain(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#slots.map((s) => {
        const w = s.worker;
        if (w === null) return Promise.resolve();
        return new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          w.postMessage({ type: 'drain', timeoutMs } satisfies ToWorker);
        });
      }),
    );
  }

  #ask(slot: Slot, message: (id: number) => ToWorker, timeoutMs: number | null): Promise<FromWorker | null> {
    const w = slot.worker;
    if (w === null) return Promise.resolve(null);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = timeoutMs === null ? null : setTimeout(() => done(null), timeoutMs);
      const done = (m: FromWorker | null) => {
        if (timer !== null) clearTimeout(timer);
        slot.pending.delete(id);
        resolve(m);
      };
      slot.pending.set(id, done);
      w.postMessage(message(id));
    });
  }

  #start(slot: Slot): void {
    const w = new Worker(THREAD, { workerData: { ...this.#init, index: slot.index } satisfies WorkerInit, stdout: false, stderr: false });
    slot.worker = w;
    w.on('message', (m: FromWorker) => {
      if (m.type === 'failures') this.#failures.add(m.entries, m.limited);
      else if (m.type === 'applied' || m.type === 'snapshot') slot.pending.get(m.id)?.(m);
    });
    // An error the thread did not catch itself (its handlers log most): said here, never silent.
    w.on('error', (err) => this.#log('error', 'worker thread failed', { worker: slot.index, error: String(err?.stack ?? err) }));
    w.on('exit', (code) => {
      slot.worker = null;
      for (const done of [...slot.pending.values()]) done(null);
      if (slot.last !== null) this.#gone = addSnapshots([this.#gone, slot.last.metrics], CARRIED_TYPES);
      slot.last = null;
      if (this.#stopping) return;
      this.#log('error', 'worker thread exited; starting it again', { worker: slot.index, exit_code: code, restart_in_ms: RESTART_DELAY_MS });
      setTimeout(() => this.#restart(slot), RESTART_DELAY_MS).unref();
    });
    if (this.#applied !== null) {
      const { config, identity } = this.#applied;
      void this.#ask(slot, (id) => ({ type: 'apply', id, config, identity }), null).then((r) => {
        if (r !== null && r.type === 'applied' && r.error !== null) this.#log('error', 'a restarted worker could not apply the running config', { worker: slot.index, error: r.error });
      });
    }
  }

  #restart(slot: Slot): void {
    if (this.#stopping) return;
    slot.restarts++;
    this.#start(slot);
  }
}

/**
 * Makes `config` the running one on the main thread and on every worker, or on none: the
 * main thread binds first (port 0 becomes a real port, the one the workers then bind too);
 * if a worker refuses, everyone goes back to the previous config and the error is thrown.
 */
export async function applyEverywhere(server: ProxyServer, pool: WorkerPool | null, config: ProxyConfig, identity: IdentityFiles | null, previousIdentity: IdentityFiles | null, log: Logger): Promise<void> {
  const previous = server.config;
  await server.apply(config);
  if (pool === null) return;
  try {
    await pool.apply(withBoundPorts(config, server.ports()), identity);
  } catch (err) {
    if (previous !== null) {
      try {
        await server.apply(previous);
        await pool.apply(withBoundPorts(previous, server.ports()), previousIdentity);
      } catch (back) {
        log('error', 'could not put every worker back on the running config after a refused one', { error: (back as Error).message });
      }
    }
    throw err;
  }
}

/** `config` with each bound listener's port 0 replaced by the port the main thread got. */
export function withBoundPorts(config: ProxyConfig, ports: Readonly<Record<string, number>>): ProxyConfig {
  if (!config.listeners.some((l) => l.port === 0 && l.bindToPort !== false)) return config;
  return { ...config, listeners: config.listeners.map((l) => (l.port === 0 && l.bindToPort !== false ? { ...l, port: ports[l.name] ?? 0 } : l)) };
}
