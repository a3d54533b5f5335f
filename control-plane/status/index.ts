// control-plane/status/: the conditions the control plane writes on every resource
// (Gateway API's Accepted, ResolvedRefs, ...; a Workload's proxy connected and in sync).
//
// Where status lives: in the control plane's memory, not in the store. It is computed from
// each new MeshView (routes, policies, Services) and from the ADS streams (Workloads), and
// the API serves it in `status` on every GET and list, the way a Kubernetes status
// subresource reads. A client's `status` in a create or update is ignored (api/validate.ts
// lets it through, apiserver/resources.ts drops it), so `sluicectl get -o yaml > f; apply -f f`
// works. Kept out of the store on purpose: a Workload's sync state changes on every push
// and ACK, and writing it would journal and fsync once per proxy per change, and feed
// the mesh index a write per proxy to rebuild from. A restarted control plane recomputes
// it at once (lastTransitionTime then starts at the restart), and watches do not carry it.
//
// With `--store kubernetes` the status is also written through to each object's /status
// subresource (`onChanged`, store/kube-status.ts), so `kubectl get -o yaml` shows it; the
// book stays the source the API serves.

import type { Resource } from '../api/resource.ts';
import type { MeshView } from '../xds/mesh-view.ts';
import type { ProxyStatus } from '../xds/proxy-status.ts';
import { StatusBook, type ResourceStatus } from './conditions.ts';

/** One resource whose status changed; `status` undefined: none any more (it is gone). */
export type StatusChange = { readonly kind: string; readonly namespace: string | undefined; readonly name: string; readonly uid: string | undefined; readonly status: ResourceStatus | undefined };
import { meshStatus } from './mesh-status.ts';
import { workloadStatus } from './workload-status.ts';

export type { Condition, ResourceStatus } from './conditions.ts';
export { POLICY_KINDS } from './mesh-status.ts';

export type StatusControllerOptions = {
  readonly now: () => number;
  /** Every xDS client the control plane has had (proxy-status.ts). */
  readonly proxies: () => ProxyStatus[];
  /**
   * Workloads are recomputed once proxy events (a push ACKed by every proxy) have stopped
   * for settleMs (default 200), or maxSettleMs (default 2 000) after the first one if they
   * never stop. Each recompute reads every proxy: at 20 ms it ran ~150 times a push, most of
   * its CPU, and any recompute while a push is still going out delays the proxies it has
   * not reached yet.
   */
  readonly settleMs?: number;
  readonly maxSettleMs?: number;
  /** Called with the resources whose status changed, after each computation (synchronously; must not throw). */
  readonly onChanged?: (changes: readonly StatusChange[]) => void;
};

const isWorkload = (key: string) => key.startsWith('Workload/');

export class StatusController {
  readonly #book = new StatusBook();
  readonly #opts: StatusControllerOptions;
  #view: MeshView | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** performance.now() of the burst's first and last proxy event. */
  #burst = { first: 0, last: 0 };
  #closed = false;

  constructor(opts: StatusControllerOptions) {
    this.#opts = opts;
  }

  /**
   * A new view was taken by the snapshot cache: the status of routes, policies and Services
   * is recomputed now; Workloads' now only when the view has one without a status yet (just
   * applied: `get` shows it at once), else once the burst of ACKs the view's push brings
   * settles (each recompute reads every proxy, an O(N) pass that ran on every push).
   */
  viewChanged(view: MeshView): void {
    this.#view = view;
    this.#tell(this.#book.apply(meshStatus(view), this.#opts.now(), (k) => !isWorkload(k)));
    const unseen = [...view.workloads.values()].some((w) => this.statusOf(w) === undefined);
    if (unseen) this.refreshWorkloads();
    else this.proxiesChanged();
  }

  /** A proxy connected, ACKed, NACKed or left: Workloads are recomputed once the burst settles. */
  proxiesChanged(): void {
    if (this.#closed) return;
    const now = performance.now();
    this.#burst.last = now;
    if (this.#timer !== null) return;
    this.#burst.first = now;
    this.#arm(this.#opts.settleMs ?? 200);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const now = performance.now();
      const quiet = this.#opts.settleMs ?? 200;
      const rest = Math.min(this.#burst.last + quiet, this.#burst.first + (this.#opts.maxSettleMs ?? 2000)) - now;
      if (rest > 1) this.#arm(rest);
      else this.refreshWorkloads();
    }, ms);
    this.#timer.unref();
  }

  /** Recomputes every Workload's status now. */
  refreshWorkloads(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#view === null) return;
    this.#tell(this.#book.apply(workloadStatus(this.#view, this.#opts.proxies()), this.#opts.now(), isWorkload));
  }

  #tell(keys: readonly string[]): void {
    if (this.#opts.onChanged === undefined || keys.length === 0) return;
    const changes = keys.map((key): StatusChange => {
      const [kind, namespace, name] = key.split('/');
      const e = this.#book.entry(key);
      return { kind, namespace: namespace === '' ? undefined : namespace, name, uid: e?.uid, status: e?.status };
    });
    this.#opts.onChanged(changes);
  }

  /** The status of this resource (matched by uid), or undefined when none was computed for it yet (written after the last view). */
  statusOf(r: Resource): ResourceStatus | undefined {
    return this.#book.get(r.kind, r.metadata.namespace, r.metadata.name, r.metadata.uid);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}
