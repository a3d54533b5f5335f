// How a policy names what it governs: `targetRefs` (Gateway API policy attachment, GEP-713),
// each `{ group, kind, name, sectionName? }`. The proxy's static config and the control
// plane attach to different kinds (a Backend or Listener of the file; a Service or route of
// the mesh), but the rules about one reference's shape are the same, and so are their words.

type Add = (path: string, message: string) => void;

/** A policy kind's view of its targets: which kinds it takes, and why only those. */
export type TargetRule = { readonly targets: readonly string[]; readonly why?: string };

export type TargetShape = {
  /** The API group of each kind a targetRef may name; '' is the core group. */
  readonly groups: Readonly<Record<string, string>>;
  /** The kinds whose targetRefs may name one section (a route's rule) by `sectionName`. */
  readonly sectioned: readonly string[];
};

export type TargetRefLike = { readonly group?: string; readonly kind: string; readonly name: string; readonly sectionName?: string };

/**
 * Checks one targetRef at `at` (`spec.targetRefs[k]`) against the policy kind's rule.
 * An omitted group is the kind's own group. false when the kind is one the policy does not
 * take: nothing more is worth saying about that reference.
 */
export function checkTargetRef(t: TargetRefLike, at: string, policyKind: string, rule: TargetRule, shape: TargetShape, add: Add): boolean {
  if (!rule.targets.includes(t.kind)) {
    add(`${at}.kind`, `${/^[AEIOU]/.test(policyKind) ? 'an' : 'a'} ${policyKind} targets ${wordList(rule.targets, 'or')} only${rule.why ? `: ${rule.why}` : ''}; got ${t.kind}`);
    return false;
  }
  const group = shape.groups[t.kind];
  if (t.group !== undefined && t.group !== group) add(`${at}.group`, `the group of ${t.kind} is ${group === '' ? "'' (the core group; or leave group out)" : group}; got '${t.group}'`);
  if (!shape.sectioned.includes(t.kind) && t.sectionName !== undefined) {
    add(`${at}.sectionName`, `applies to ${wordList(shape.sectioned, 'and')} targets only (it names one rule of the route)`);
  }
  return true;
}

/** `A`, `A or B`, `A, B or C`. */
function wordList(words: readonly string[], last: 'or' | 'and'): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`;
}
