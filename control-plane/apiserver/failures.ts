// GET /debug/failures: the failed requests the proxies reported (control-plane/explain/),
// newest first, narrowed by ?requestId=, ?node= (<workload>.<namespace>), ?authority= and
// ?limit= (default and most 100). sluicectl explain reads it.

import type { FailureQuery } from '../explain/failure-log.ts';

export const FAILURES_PATH = '/debug/failures';
const MAX_LIMIT = 100;
const KNOWN = new Set(['requestId', 'node', 'authority', 'limit']);

/** The query, or a sentence naming the parameter that is wrong. */
export function failuresQuery(params: URLSearchParams): FailureQuery | string {
  for (const k of params.keys()) if (!KNOWN.has(k)) return `unknown query parameter '${k}' on ${FAILURES_PATH}: use ${[...KNOWN].join(', ')}`;
  const limitText = params.get('limit');
  const limit = limitText === null ? MAX_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return `limit must be a whole number from 1 to ${MAX_LIMIT}; got '${limitText}'`;
  const q: { requestId?: string; node?: string; authority?: string; limit: number } = { limit };
  for (const k of ['requestId', 'node', 'authority'] as const) {
    const v = params.get(k);
    if (v !== null && v !== '') q[k] = v;
  }
  return q;
}
