// The KIND argument of get/describe/delete, resolved as kubectl resolves it: the kind, its
// plural, singular or a short name, in any case. An unknown name is refused with the
// closest known one and the whole list, since the list grows with every kind added.

import type { KindDescriptor } from '../api/kind.ts';
import { didYouMean } from '../../kinds/did-you-mean.ts';
import { UsageError } from './command.ts';
import { lazy } from './lazy.ts';

/** Every kind's schema comes with the table: loaded when a verb names a kind, not at start. */
export const descriptors = lazy<typeof import('../api/descriptors.ts')>(import.meta.url, '../api/descriptors.ts');

export function resolveKind(name: string): KindDescriptor<unknown> {
  const { findKind, KINDS } = descriptors();
  const kind = findKind(name);
  if (kind !== undefined) return kind;
  const names = KINDS.flatMap((k) => [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames]);
  const hint = didYouMean(name.toLowerCase(), names);
  const known = KINDS.map((k) => `${k.plural} (${[k.kind, k.singular, ...k.shortNames].join(', ')})`).join(', ');
  throw new UsageError(`unknown resource type '${name}'${hint === undefined ? '' : `; did you mean '${hint}'?`}\nknown resource types: ${known}`);
}

/** The namespace a command works in: the kind's scope decides whether there is one. */
export function namespaceFor(kind: KindDescriptor<unknown>, namespace: string): string | undefined {
  return kind.scope === 'Namespaced' ? namespace : undefined;
}
