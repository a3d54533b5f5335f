// What the main thread and a worker thread of a proxy with --workers N say to each other.
// Every message is structured-cloned: plain data only (ProxyConfig is).

import type { CaptureProbe } from '../capture/dispatch.ts';
import type { IdentityFiles, ProxyConfig } from '../config/model.ts';
import type { SelfLabels } from '../runtime.ts';
import type { ClusterStatus } from '../upstream/index.ts';
import type { FamilySnapshot } from '../../kinds/metrics-snapshot.ts';

/** workerData: what a worker needs before its first config. */
export type WorkerInit = {
  /** 1..N-1 (the main thread is worker 0): on each of its log lines as `worker`. */
  readonly index: number;
  /** --access-log: stdout, off, or a file path (each worker appends whole lines to it). */
  readonly accessLog: string;
  /** The folder relative identity paths start from (the config file's). */
  readonly baseDir: string;
  readonly probe: CaptureProbe | null;
  readonly self: SelfLabels;
};

export type ToWorker =
  | { readonly type: 'apply'; readonly id: number; readonly config: ProxyConfig; readonly identity: IdentityFiles | null }
  | { readonly type: 'snapshot'; readonly id: number }
  | { readonly type: 'drain'; readonly timeoutMs: number };

/** A worker's counts: its registry's snapshot, and its view of the backends. */
export type WorkerSnapshot = { readonly metrics: FamilySnapshot[]; readonly clusters: ClusterStatus[] };

export type FromWorker =
  | { readonly type: 'applied'; readonly id: number; readonly error: string | null }
  | { readonly type: 'snapshot'; readonly id: number; readonly snapshot: WorkerSnapshot }
  | { readonly type: 'failures'; readonly entries: object[]; readonly limited: number }
  | { readonly type: 'drained' };
