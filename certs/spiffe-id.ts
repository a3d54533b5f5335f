// SPIFFE IDs, parsed as the SPIFFE-ID standard says and no more leniently
// (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): an ID is compared
// as a string in authorization, so only the one canonical spelling is accepted — no case
// folding, no percent-decoding, no dot-segment removal.

import assert from 'node:assert/strict';
import type { Result } from './result.ts';

export type SpiffeId = {
  readonly trustDomain: string;
  /** '' for a trust-domain-only ID, otherwise '/' followed by the segments. */
  readonly path: string;
  /** The ID as given, which is also its canonical form. */
  readonly uri: string;
};

export type SpiffeResult<T> = Result<T, string>;

const SCHEME = 'spiffe://';
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_CHARS = 255;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/;

// --- parsing ---

export function parseSpiffeId(text: string): SpiffeResult<SpiffeId> {
  if (text === '') return fail('a SPIFFE ID may not be empty');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_ID_BYTES) return fail(`a SPIFFE ID may be at most ${MAX_ID_BYTES} bytes long; got ${bytes}`);
  if (!text.startsWith(SCHEME)) {
    if (text.slice(0, SCHEME.length).toLowerCase() === SCHEME) {
      return fail(`the scheme must be 'spiffe://' in lower case; got '${text.slice(0, SCHEME.length)}'`);
    }
    return fail(`a SPIFFE ID must start with 'spiffe://'; got '${text}'`);
  }
  const rest = text.slice(SCHEME.length);
  // Query and fragment first: a '?' or '#' right after the trust domain would otherwise be
  // reported as a bad trust-domain character, which hides the real mistake.
  const extra = rest.search(/[?#]/);
  if (extra !== -1) {
    return rest[extra] === '?'
      ? fail(`a SPIFFE ID may not have a query ('?'); got '${text}'`)
      : fail(`a SPIFFE ID may not have a fragment ('#'); got '${text}'`);
  }
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  const tdError = trustDomainError(trustDomain);
  if (tdError !== null) return fail(tdError);
  const pathError = pathErrorOf(path);
  if (pathError !== null) return fail(pathError);
  return { ok: true, value: Object.freeze({ trustDomain, path, uri: text }) };
}

/** A bare trust domain name, as given to `--trust-domain`; a `spiffe://` URI is refused. */
export function parseTrustDomain(text: string): SpiffeResult<string> {
  if (text.includes('://')) return fail(`expected a trust domain name, not a URI; got '${text}'`);
  const error = trustDomainError(text);
  return error === null ? { ok: true, value: text } : fail(error);
}

function trustDomainError(td: string): string | null {
  if (td === '') return 'the trust domain may not be empty';
  if (td.length > MAX_TRUST_DOMAIN_CHARS) {
    return `the trust domain may be at most ${MAX_TRUST_DOMAIN_CHARS} characters long; got ${td.length}`;
  }
  if (TRUST_DOMAIN_CHARS.test(td)) return null;
  // The common URI-authority mistakes get their own sentence; anything else gets the rule.
  if (td.includes('@')) return `the trust domain may not contain user info ('@'); got '${td}'`;
  if (td.startsWith('[')) return `the trust domain may not be an IP literal ('[...]'); got '${td}'`;
  if (td.includes(':')) return `the trust domain may not contain a port (':'); got '${td}'`;
  if (td.includes('%')) return `the trust domain may not be percent-encoded ('%'); got '${td}'`;
  if (td.includes('*')) return `the trust domain may not contain a wildcard ('*'); got '${td}'`;
  return `the trust domain may contain only lower-case letters, digits, '.', '-' and '_'; got '${td}'`;
}

function pathErrorOf(path: string): string | null {
  if (path === '') return null;
  if (path.endsWith('/')) return `the path may not end with '/'; got '${path}'`;
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return `a path segment may not be empty ('//'); got '${path}'`;
    if (segment === '.') return "a path segment may not be '.'";
    if (segment === '..') return "a path segment may not be '..'";
    if (SEGMENT_CHARS.test(segment)) continue;
    if (segment.includes('%')) return `a path segment may not be percent-encoded ('%'); got '${segment}'`;
    if (segment.includes('*')) return `a path segment may not contain a wildcard ('*'); got '${segment}'`;
    return `a path segment may contain only letters, digits, '.', '-' and '_'; got '${segment}'`;
  }
  return null;
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

// --- workload IDs ---

/** `spiffe://<td>/ns/<ns>/sa/<sa>`; the caller passes names it has already validated. */
export function workloadId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const uri = `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const parsed = parseSpiffeId(uri);
  assert.ok(parsed.ok, `workloadId built an invalid SPIFFE ID: ${parsed.ok ? '' : parsed.error}`);
  return uri;
}

/** The namespace and service account of an ID whose path is exactly /ns/<ns>/sa/<sa>. */
export function workloadOf(id: SpiffeId): { namespace: string; serviceAccount: string } | null {
  const parts = id.path.split('/');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'ns' || parts[3] !== 'sa') return null;
  if (parts[2] === '' || parts[4] === '') return null;
  return { namespace: parts[2], serviceAccount: parts[4] };
}
