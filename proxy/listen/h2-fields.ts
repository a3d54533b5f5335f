// Which HTTP/2 request fields make a request malformed though nghttp2 lets the request
// through. RFC 9113 §8.2.1: a field name of anything but lower-case token characters, a
// value holding NUL, CR, LF (or, RFC 9110 §5.5, any other control character), or a value
// starting or ending with whitespace makes the request malformed, to be refused. nghttp2
// refuses such pseudo-headers and upper-case names itself, but for other fields it calls
// the application's on_invalid_header callback, and Node's returns 0: "ignore". The request
// then arrives without the field, as if it had never been sent. These rules are exactly
// nghttp2's "ignore" cases (nghttp2_http_on_header and http_request_on_header, v1.70), so
// every field it would drop is refused here instead, and nothing else is.

const NAME = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME[c.charCodeAt(0)] = 1;

/** VCHAR, SP, HTAB and obs-text (0x80-0xff): all but the control characters. */
const VALUE = new Uint8Array(256);
for (let c = 0x20; c < 0x100; c++) VALUE[c] = c === 0x7f ? 0 : 1;
VALUE[0x09] = 1;

/** nghttp2's authority characters, which it applies to `host`. */
const AUTHORITY = new Uint8Array(256);
for (const c of "!$%&'()*+,-.0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~") AUTHORITY[c.charCodeAt(0)] = 1;

const COLON = 0x3a;
const HOST = Buffer.from('host');

/**
 * Why this request field (header or trailer) makes the request malformed, or null when
 * it is fine. Pseudo-header fields are left to nghttp2, which resets those streams itself.
 * Called for every field of every h2 request: no allocation unless it finds a problem.
 */
export function fieldProblem(name: Uint8Array, value: Uint8Array): string | null {
  if (name.length === 0) return 'empty field name';
  if (name[0] === COLON) return null;
  for (let i = 0; i < name.length; i++) if (NAME[name[i]] === 0) return `invalid character ${hex(name[i])} in field name '${printable(name)}'`;
  const n = value.length;
  if (n > 0 && (value[0] === 0x20 || value[0] === 0x09 || value[n - 1] === 0x20 || value[n - 1] === 0x09)) {
    return `leading or trailing whitespace in the value of '${printable(name)}'`;
  }
  const allowed = name.length === 4 && HOST.equals(name) ? AUTHORITY : VALUE;
  for (let i = 0; i < n; i++) if (allowed[value[i]] === 0) return `invalid character ${hex(value[i])} in the value of '${printable(name)}'`;
  return null;
}

function hex(c: number): string {
  return `0x${c.toString(16).padStart(2, '0')}`;
}

/** A name fit for a log line: non-printable bytes escaped, long names cut. */
function printable(name: Uint8Array): string {
  let s = '';
  for (let i = 0; i < name.length && i < 64; i++) s += name[i] > 0x20 && name[i] < 0x7f ? String.fromCharCode(name[i]) : `\\x${name[i].toString(16).padStart(2, '0')}`;
  return name.length > 64 ? `${s}...` : s;
}
