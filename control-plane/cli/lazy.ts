// A module loaded the first time it is used, not when sluicectl starts: `--help` and
// `version` never load typebox, ajv, yaml or node-forge, and `get` loads only what it
// prints with. require() of an ES module (Node 24) keeps the callers synchronous.

import { createRequire } from 'node:module';

/** `lazy<typeof import('yaml')>(import.meta.url, 'yaml')()`: the module, loaded once. */
export function lazy<T>(from: string, specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= createRequire(from)(specifier) as T);
}
