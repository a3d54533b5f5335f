// Conditions as Gateway API (and every Kubernetes controller) writes them: one per type,
// with status, a CamelCase reason a client can switch on, a sentence for a person, the
// generation of the spec it was computed from, and when its status last changed.
//
// The book keeps them between computations: a condition whose status stays the same keeps
// its lastTransitionTime however often it is recomputed (its reason and message may move).

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export type Condition = {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
};

/** A condition as computed, before the book stamps it. */
export type ConditionInput = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** What a computation says of one resource: its conditions, and what else its status shows (selected Workloads, proxies...). */
export type Computed = {
  readonly uid: string | undefined;
  readonly generation: number;
  readonly conditions: readonly ConditionInput[];
  readonly fields?: Readonly<Record<string, unknown>>;
};

export type ResourceStatus = { readonly conditions: readonly Condition[]; readonly [field: string]: unknown };

export type Entry = { readonly uid: string | undefined; readonly status: ResourceStatus };

/** `<kind>/<namespace>/<name>`: a resource's key in the book (namespace '' for cluster-scoped). */
export const statusKey = (kind: string, namespace: string | undefined, name: string): string => `${kind}/${namespace ?? ''}/${name}`;

export class StatusBook {
  #entries = new Map<string, Entry>();

  /**
   * Takes a computation of every key `inScope` says it covers: those it has are stamped
   * (a condition keeps its lastTransitionTime while its status is unchanged), those it
   * does not have are gone (the resource was deleted). Returns the keys whose status changed.
   */
  apply(computed: ReadonlyMap<string, Computed>, now: number, inScope: (key: string) => boolean): string[] {
    const changed: string[] = [];
    const at = new Date(now).toISOString();
    for (const [key, c] of computed) {
      const before = this.#entries.get(key);
      const old = before?.uid === c.uid ? before?.status.conditions : undefined;
      const conditions = c.conditions.map((input): Condition => {
        const prev = old?.find((o) => o.type === input.type);
        return { ...input, observedGeneration: c.generation, lastTransitionTime: prev !== undefined && prev.status === input.status ? prev.lastTransitionTime : at };
      });
      const status: ResourceStatus = { conditions, ...c.fields };
      if (before === undefined || JSON.stringify(before.status) !== JSON.stringify(status) || before.uid !== c.uid) changed.push(key);
      this.#entries.set(key, { uid: c.uid, status });
    }
    for (const key of [...this.#entries.keys()]) {
      if (inScope(key) && !computed.has(key)) {
        this.#entries.delete(key);
        changed.push(key);
      }
    }
    return changed;
  }

  /** What the book holds under a key (any uid), or undefined. */
  entry(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  /** The status of exactly this resource (same uid), or undefined when none was computed for it yet. */
  get(kind: string, namespace: string | undefined, name: string, uid: string | undefined): ResourceStatus | undefined {
    const e = this.#entries.get(statusKey(kind, namespace, name));
    return e === undefined || e.uid !== uid ? undefined : e.status;
  }
}
