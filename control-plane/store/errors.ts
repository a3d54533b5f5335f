// Errors of the store are values with a code, so the API maps each to one HTTP status and
// a caller can tell a missing resource from a lost race without reading messages.

import type { Violation } from '../../kinds/schema-kit.ts';

export const STORE_ERRORS = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  /** The resourceVersion the caller sent is not the current one: someone wrote in between. */
  CONFLICT: 409,
  INVALID: 422,
  /** A watch asked for history older than the store keeps: list again, then watch from there. */
  EXPIRED: 410,
} as const;
export type StoreErrorCode = keyof typeof STORE_ERRORS;

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** For INVALID: every field that was wrong. */
  readonly violations: readonly Violation[];

  constructor(code: StoreErrorCode, message: string, violations: readonly Violation[] = []) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
    this.violations = violations;
  }

  get status(): number {
    return STORE_ERRORS[this.code];
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
