// The KIND argument of get/describe/delete, resolved as kubectl resolves it: the kind, its
// plural, singular or a short name, in any case. An unknown name is refused with the
// closest known one and the whole list, since the list grows with every kind added.

import type { KindNames } from '../api/kind-names.ts';
import { didYouMean } from '../../kinds/did-you-mean.ts';
import { UsageError } from './command.ts';
import { findKind, KIND_NAMES } from '../api/kind-names.ts';

export function resolveKind(name: string): KindNames<unknown> {
  const kind = findKind(name);
  if (kind !== undefined) return kind;
  const names = KIND_NAMES.flatMap((k) => [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames]);
  const hint = didYouMean(name.toLowerCase(), names);
  const known = KIND_NAMES.map((k) => `${k.plural} (${[k.kind, k.singular, ...k.shortNames].join(', ')})`).join(', ');
  throw new UsageError(`unknown resource type '${name}'${hint === undefined ? '' : `; did you mean '${hint}'?`}\nknown resource types: ${known}`);
}

/** The namespace a command works in: the kind's scope decides whether there is one. */
export function namespaceFor(kind: KindNames<unknown>, namespace: string): string | undefined {
  return kind.scope === 'Namespaced' ? namespace : undefined;
}
