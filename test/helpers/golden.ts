// Golden files of generated Envoy resources: JSON with every packed Any decoded in place
// (`{"@type": ..., ...fields}`), so a diff reads as config, not bytes. UPDATE_GOLDEN=1
// rewrites them after a deliberate change.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpack } from '../../xds/index.ts';

/** `value` with every { type_url, value: bytes } replaced by its decoded message. */
export function readable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readable);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (typeof o.type_url === 'string' && o.value instanceof Uint8Array) {
    const r = unpack(o as { type_url: string; value: Uint8Array });
    if (!r.ok) throw new Error(r.error);
    return { '@type': o.type_url, ...(readable(r.value) as object) };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, readable(v)]));
}

/** Compares `value` (made readable) with `dir/name`, or writes it there under UPDATE_GOLDEN=1. */
export function assertGoldenJson(dir: string, name: string, value: unknown): void {
  const file = join(dir, name);
  const actual = `${JSON.stringify(readable(value), null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to write it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
}
