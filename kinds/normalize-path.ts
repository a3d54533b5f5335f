// The request path, normalized exactly once, before routing, so routing, authorization and
// the upstream all see the same path. Envoy's normalize_path + merge_slashes, in Envoy's
// order: unreserved percent-escapes decoded and every other escape kept (upper-cased), then
// '.' and '..' resolved per RFC 3986 §5.2.4, then '//' merged. Resolving before merging is
// what Envoy does ("/a//../b" is "/a/b": the '..' removes the empty segment). A raw '\'
// is a '/' (as Envoy's canonicalizer and every browser read it), and an escaped slash
// (%2F, %5C) is refused, decoded or kept as the listener says: a backend that decodes it
// would otherwise reach another path than the one routing and authorization saw. A ';'
// path parameter is refused, cut or kept as the listener says, for the same reason.
//
// It lives with the kinds, not in the proxy, because an AuthorizationPolicy path is
// compared with the normalized path: the proxy and the control plane can only tell that a
// policy's path can never match by running this very normalizer (authz-spec.ts).

/** What a listener does with %2F and %5C (proxy/config/model.ts documents each). */
export const ESCAPED_SLASHES = ['Reject', 'Unescape', 'Keep'] as const;
export type EscapedSlashes = (typeof ESCAPED_SLASHES)[number];

/**
 * What a listener does with ';' path parameters (`/admin;x=1`, `/x/..;/admin`), which
 * Tomcat and Spring cut off each segment before they route, so that `/admin;x=1` is their
 * `/admin` and `/x/..;/admin` climbs to it. Reject (the default) answers 400; Strip cuts
 * them the same way before the dot segments are resolved, so routing, authorization and
 * the upstream all see `/admin`; Keep leaves ';' an ordinary character, as Envoy and
 * Istio do (safe only when no backend reads parameters).
 */
export const PATH_PARAMETERS = ['Reject', 'Strip', 'Keep'] as const;
export type PathParameters = (typeof PATH_PARAMETERS)[number];

export type NormalizedPath = { ok: true; path: string; query: string } | { ok: false; reason: string };
export type NormalizedTarget = { ok: true; target: string } | { ok: false; reason: string };

const SLASH = 47;
const BACKSLASH = 92;
const DOT = 46;
const PERCENT = 37;
const HASH = 35;
const SEMICOLON = 59;
const HEX = '0123456789ABCDEF';

const NOT_ORIGIN_FORM: NormalizedPath = Object.freeze({ ok: false, reason: 'the path must start with "/"' });
const BAD_BYTE: NormalizedPath = Object.freeze({ ok: false, reason: 'the request target holds a control, space or non-ASCII byte' });
const FRAGMENT: NormalizedPath = Object.freeze({ ok: false, reason: 'a "#" fragment is not allowed in a request target' });
const BAD_ESCAPE: NormalizedPath = Object.freeze({ ok: false, reason: 'the path holds a malformed percent-escape' });
const ESCAPED_SLASH: NormalizedPath = Object.freeze({ ok: false, reason: 'the path holds an escaped slash (%2F or %5C), which this listener refuses (escapedSlashes: Reject)' });
const PATH_PARAMETER: NormalizedPath = Object.freeze({ ok: false, reason: "the path holds a ';' path parameter, which this listener refuses (pathParameters: Reject)" });

/**
 * Splits an origin-form request target at the first '?' and normalizes the path. The query
 * is returned byte for byte (without the '?'). A path that is already normal (no '%', no
 * '//', no '/.') comes back as the same string. Never throws: a refused target is a value.
 */
export function normalizePath(rawTarget: string, escapedSlashes: EscapedSlashes = 'Keep', pathParameters: PathParameters = 'Keep'): NormalizedPath {
  const q = rawTarget.indexOf('?');
  const raw = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const query = q === -1 ? '' : rawTarget.slice(q + 1);
  if (raw.charCodeAt(0) !== SLASH) return NOT_ORIGIN_FORM;
  let needsWork = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return BAD_BYTE;
    if (c === HASH) return FRAGMENT;
    if (c === SEMICOLON && pathParameters !== 'Keep') {
      if (pathParameters === 'Reject') return PATH_PARAMETER;
      needsWork = true;
    }
    if (c === PERCENT || c === BACKSLASH || (c === SLASH && (raw.charCodeAt(i + 1) === SLASH || raw.charCodeAt(i + 1) === DOT))) needsWork = true;
  }
  // The query is not normalized, but a byte the path may not hold may not hide there either.
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return BAD_BYTE;
    if (c === HASH) return FRAGMENT;
  }
  if (!needsWork) return { ok: true, path: raw, query };
  // Parameters go first, from the raw path, as Tomcat cuts them: a '%3B' is not one.
  const unslashed = raw.includes('\\') ? raw.replaceAll('\\', '/') : raw;
  const decoded = decodeUnreserved(pathParameters === 'Strip' ? stripParameters(unslashed) : unslashed, escapedSlashes);
  if (decoded === null) return BAD_ESCAPE;
  if (decoded === REJECT) return ESCAPED_SLASH;
  return { ok: true, path: resolveAndMerge(decoded), query };
}

/** The whole target after normalization, `path` or `path?query`, or why it is refused. */
export function normalizeTarget(rawTarget: string, escapedSlashes: EscapedSlashes = 'Keep', pathParameters: PathParameters = 'Keep'): NormalizedTarget {
  const n = normalizePath(rawTarget, escapedSlashes, pathParameters);
  if (!n.ok) return n;
  return { ok: true, target: n.query === '' ? n.path : `${n.path}?${n.query}` };
}

// --- steps ---

/** Each segment cut at its first ';': "/x/..;/admin;v=1" is "/x/../admin". */
function stripParameters(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; ) {
    const semi = path.indexOf(';', i);
    if (semi === -1) return out + path.slice(i);
    out += path.slice(i, semi);
    const next = path.indexOf('/', semi);
    if (next === -1) return out;
    i = next;
  }
  return out;
}

function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const REJECT = Symbol('escaped slash');

/**
 * "%7e" -> "~", "%2e" -> "." (so "%2e%2e" becomes a dot segment), and every other escape
 * kept, upper-cased. "%2f" and "%5c" are refused, kept as "%2F" / "%5C", or (Unescape)
 * turned into '/'. null for a malformed escape. Outside Unescape, the output holds no new
 * '%', '/', '?' or '#', so a second pass changes nothing.
 */
function decodeUnreserved(path: string, escapedSlashes: EscapedSlashes): string | null | typeof REJECT {
  let out = '';
  let last = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 3)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    if ((byte === SLASH || byte === BACKSLASH) && escapedSlashes !== 'Keep') {
      if (escapedSlashes === 'Reject') return REJECT;
      out += `${path.slice(last, i)}/`;
      last = i + 3;
      continue;
    }
    out += path.slice(last, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`);
    last = i + 3;
  }
  return out + path.slice(last);
}

/**
 * remove_dot_segments over a path that starts with '/', empty segments counted as segments
 * (as Envoy's canonicalizer does), then merge_slashes: empty segments dropped, except the
 * last one, which is the trailing slash. A '..' above the root stays at the root.
 */
function resolveAndMerge(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i];
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      // A trailing dot segment leaves a directory: "/a/b/.." is "/a/".
      if (i === last) out.push('');
    } else {
      out.push(s);
    }
  }
  let result = '';
  for (let k = 0; k < out.length; k++) {
    if (out[k] !== '' || k === out.length - 1) result += `/${out[k]}`;
  }
  return result === '' ? '/' : result;
}
