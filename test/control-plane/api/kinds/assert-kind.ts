// What every kind's table of documents asserts, through validateResource (the public face):
// a document is refused at exactly the expected paths, or accepted whole.

import assert from 'node:assert/strict';
import type { Resource } from '../../../../control-plane/api/resource.ts';
import { validateResource } from '../../../../control-plane/api/validate.ts';

export type Expected = readonly (readonly [path: string, message: RegExp])[];

/** The violations are exactly at `expected`'s paths, each with a message matching its pattern. */
export function assertViolations(doc: object, expected: Expected): void {
  const r = validateResource(doc);
  assert.equal(r.ok, false, 'the document was accepted');
  const got = r.ok ? [] : r.violations;
  const shown = got.map((v) => `${v.path}: ${v.message}`).join('\n');
  assert.deepEqual(got.map((v) => v.path).sort(), expected.map(([path]) => path).sort(), shown);
  for (const [path, message] of expected) assert.ok(got.some((v) => v.path === path && message.test(v.message)), `no ${message} at ${path} in\n${shown}`);
}

export function accepted(doc: object): Resource {
  const r = validateResource(doc);
  assert.ok(r.ok, r.ok ? '' : r.violations.map((v) => `${v.path}: ${v.message}`).join('\n'));
  return r.resource;
}
