// What a route rule's checks are given (kinds/route-rule.ts, kinds/route-match.ts and each
// filter in kinds/route-filters/): where to report, which values the schema already
// refused, and how the side that runs them checks a reference to a backend. The API's
// HTTPRoute and GRPCRoute and the proxy's static file differ only in those.

/** Records one violation at a field path. */
export type Add = (path: string, message: string) => void;

export type RuleContext = {
  readonly add: Add;
  /**
   * False where the schema refused the value at or under `path`: its shape is unknown, so
   * no rule reads it. The static file runs the rules beside the schema's errors, so one typo
   * does not hide the mistakes around it; the API runs them on a spec the schema accepted
   * (its `sound` is always true).
   */
  readonly sound: (path: string) => boolean;
  /**
   * Checks a reference to where traffic goes (a backendRef, a mirror's backendRef) as the
   * side knows backends: a Service port in the API, a `backends` entry in the static file.
   * Called only on a reference the schema accepted, with its path.
   */
  readonly backendRef: (ref: never, path: string) => void;
};

/** Every rule accepted: for the API's kinds, whose checks run on a spec the schema accepted. */
export const ALL_SOUND = (): boolean => true;

/** The entries of a list the schema accepted as a list (items may still be broken). */
export function entries(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Records `key` at index `k`; returns the index it was first seen at, if it was. */
export function firstSeen<K>(seen: Map<K, number>, key: K, k: number): number | undefined {
  const first = seen.get(key);
  if (first === undefined) seen.set(key, k);
  return first;
}

export function checkRegExp(source: string, path: string, add: Add): void {
  try {
    new RegExp(source);
  } catch (err) {
    add(path, `is not a valid regular expression: ${(err as Error).message}`);
  }
}
