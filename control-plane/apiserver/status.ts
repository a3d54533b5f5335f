// Failures as the Kubernetes API reports them: a Status object with the HTTP code, a
// reason the client can switch on, a sentence, and for invalid resources every field.

import type { Violation } from '../../kinds/schema-kit.ts';

export type Reason = 'NOT_FOUND' | 'ALREADY_EXISTS' | 'CONFLICT' | 'INVALID' | 'EXPIRED' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'BAD_REQUEST' | 'METHOD_NOT_ALLOWED' | 'TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'INTERNAL';

export const REASON_CODES: Record<Reason, number> = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  INVALID: 422,
  EXPIRED: 410,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  METHOD_NOT_ALLOWED: 405,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
};

export type Status = {
  kind: 'Status';
  apiVersion: 'v1';
  status: 'Failure';
  code: number;
  reason: Reason;
  message: string;
  details?: { kind?: string; name?: string; causes?: { field: string; message: string }[] };
};

export function status(reason: Reason, message: string, details?: { kind?: string; name?: string; violations?: readonly Violation[] }): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: REASON_CODES[reason], reason, message };
  if (details !== undefined) {
    s.details = { kind: details.kind, name: details.name };
    if (details.violations !== undefined) s.details.causes = details.violations.map((v) => ({ field: v.path, message: v.message }));
  }
  return s;
}

/** A Status thrown by a handler; the server writes it as the response. */
export class ApiError extends Error {
  readonly body: Status;
  constructor(body: Status) {
    super(body.message);
    this.body = body;
  }
}

export const fail = (reason: Reason, message: string, details?: Parameters<typeof status>[2]): never => {
  throw new ApiError(status(reason, message, details));
};
