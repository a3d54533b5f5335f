// The request's authority (Host, :authority, or an absolute-form target's), checked
// before routing and authorization see it. RFC 9112 §3.2 answers an invalid Host with 400;
// RFC 9110 §4.2.4 makes userinfo in a target an error. The grammar is RFC 3986's
// `host [":" port]`, narrowed where an application would read the value as another host:
// a reg-name here holds letters, digits, '-', '.' and '_' only, so no '%2e' that a URL
// parser decodes, no '@' that turns what precedes it into userinfo, no '/', '?', '#' or
// '\' that ends the host early, no space and no sub-delims (`new URL('http://' + host)`
// reads each of those as some other host than the one a policy names). An IPv4 address is
// a reg-name by these rules; an IPv6 one must be bracketed and valid.

import { isIPv6 } from 'node:net';

/** Why the authority is refused, or null when it is a valid `host [":" port]` (or empty). */
export function authorityProblem(value: string): string | null {
  if (value === '') return null;
  let host = value;
  let port: string | null = null;
  if (value.charCodeAt(0) === 91 /* '[' */) {
    const close = value.indexOf(']');
    if (close === -1) return 'an IPv6 address without its closing "]"';
    host = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 58 /* ':' */) return `"${printable(rest)}" after the IPv6 address`;
      port = rest.slice(1);
    }
    if (!isIPv6(host.slice(1, -1))) return `"${printable(host)}" is not an IPv6 address`;
  } else {
    const colon = value.lastIndexOf(':');
    if (colon !== -1) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    const bad = firstInvalid(host);
    if (bad !== -1) return `the host holds ${describe(host, bad)}`;
    if (host === '') return 'a port without a host';
  }
  // RFC 3986's port is *DIGIT: "host:" is the default port, as Envoy and browsers read it.
  if (port !== null && !validPort(port)) return `"${printable(port)}" is not a port (up to 5 digits, at most 65535)`;
  return null;
}

function firstInvalid(host: string): number {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
    if (!ok) return i;
  }
  return -1;
}

function describe(host: string, i: number): string {
  const c = host.charCodeAt(i);
  if (c === 0x40) return '"@" (userinfo is not allowed in an authority)';
  if (c === 0x3a) return 'a second ":"';
  if (c <= 0x20 || c >= 0x7f) return `the byte 0x${c.toString(16).padStart(2, '0')}`;
  return `"${host[i]}", which no DNS name or address has`;
}

function validPort(port: string): boolean {
  if (port.length > 5) return false;
  for (let i = 0; i < port.length; i++) {
    const c = port.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(port) <= 65535;
}

function printable(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 64);
}
