// `-l SELECTOR`, Kubernetes' label selector syntax: `key=value` (or `==`), `key!=value`,
// `key`, `!key`, `key in (a,b)`, `key notin (a,b)`, comma-separated and all required.
// Matched by sluicectl on the listed resources: the control plane's API takes no
// labelSelector, so every resource of the kind is fetched and then filtered.

import { UsageError } from './command.ts';

type Requirement =
  | { readonly op: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly op: 'exists' | 'absent'; readonly key: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] };

export type LabelSelector = (labels: Readonly<Record<string, string>> | undefined) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function parseLabelSelector(text: string): LabelSelector {
  const requirements = splitTerms(text).map((term) => parseTerm(term, text));
  return (labels) => requirements.every((r) => matches(r, labels ?? {}));
}

function matches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case 'eq': return has && labels[r.key] === r.value;
    case 'ne': return !has || labels[r.key] !== r.value;
    case 'exists': return has;
    case 'absent': return !has;
    case 'in': return has && r.values.includes(labels[r.key]);
    case 'notin': return !has || !r.values.includes(labels[r.key]);
  }
}

/** Commas separate terms, except inside `in (...)`. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || i === text.length) {
      terms.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return terms;
}

function parseTerm(term: string, text: string): Requirement {
  const bad = (why: string) => new UsageError(`invalid label selector '${text}': ${why}`);
  if (term === '') throw bad('an empty requirement (two commas, or a comma at an end)');
  let m: RegExpExecArray | null;
  const key = (k: string) => {
    if (!KEY.test(k)) throw bad(`'${k}' is not a label key`);
    return k;
  };
  const value = (v: string) => {
    if (!VALUE.test(v) || v.length > 63) throw bad(`'${v}' is not a label value`);
    return v;
  };
  if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term)) !== null) {
    const values = m[3].split(',').map((v) => value(v.trim()));
    return { op: m[2] as 'in' | 'notin', key: key(m[1]), values };
  }
  if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)) !== null) return { op: m[2] === '!=' ? 'ne' : 'eq', key: key(m[1]), value: value(m[3]) };
  if ((m = /^!\s*(\S+)$/.exec(term)) !== null) return { op: 'absent', key: key(m[1]) };
  if (/^\S+$/.test(term)) return { op: 'exists', key: key(term) };
  throw bad(`cannot read '${term}' (use key=value, key!=value, key, !key, key in (a,b), key notin (a,b))`);
}
