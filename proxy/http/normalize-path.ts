// The request path, normalized exactly once, before routing, so routing and (later)
// authorization see the same path the upstream gets. Envoy's normalize_path +
// merge_slashes: unreserved percent-escapes decoded, others kept (upper-cased), '//'
// merged, '.' and '..' resolved per RFC 3986 §5.2.4.

export type NormalizedPath = { ok: true; path: string; query: string } | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

export function normalizePath(rawTarget: string): NormalizedPath {
  const q = rawTarget.indexOf('?');
  const raw = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const query = q === -1 ? '' : rawTarget.slice(q + 1);
  if (raw.charCodeAt(0) !== 47 /* '/' */) return { ok: false, reason: 'the path must start with "/"' };
  let needsWork = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: 'the path holds a control, space or non-ASCII byte' };
    if (c === 35 /* # */) return { ok: false, reason: 'a "#" fragment is not allowed in a request target' };
    if (c === 37 /* % */ || (c === 47 && (raw.charCodeAt(i + 1) === 47 || raw.charCodeAt(i + 1) === 46 /* . */))) needsWork = true;
  }
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: 'the query holds a control, space or non-ASCII byte' };
    if (c === 35) return { ok: false, reason: 'a "#" fragment is not allowed in a request target' };
  }
  if (!needsWork) return { ok: true, path: raw, query };
  const decoded = decodeUnreserved(raw);
  if (decoded === null) return { ok: false, reason: 'the path holds a malformed percent-escape' };
  return { ok: true, path: removeDotSegments(decoded.replace(/\/{2,}/g, '/')), query };
}

/** The whole target (path + query) after normalization, or why it is refused. */
export function normalizeTarget(rawTarget: string): { ok: true; target: string } | { ok: false; reason: string } {
  const n = normalizePath(rawTarget);
  if (!n.ok) return n;
  return { ok: true, target: n.query === '' ? n.path : `${n.path}?${n.query}` };
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

function decodeUnreserved(path: string): string | null {
  let out = '';
  let last = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    out += path.slice(last, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`);
    last = i + 3;
    i += 2;
  }
  return out + path.slice(last);
}

/** RFC 3986 remove_dot_segments over a path that starts with '/' and has no '//'. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i];
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      // A trailing dot segment leaves a directory path: "/a/b/.." is "/a/".
      if (i === last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}
