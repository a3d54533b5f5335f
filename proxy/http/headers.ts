// Header hygiene at the proxy's two edges: hop-by-hop headers never cross it, and the
// forwarding headers upstreams rely on are set exactly once, here.

import { randomFillSync } from 'node:crypto';
import type { HeaderMap } from './context.ts';

/** RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies still see. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings',
  // Node answers `Expect: 100-continue` itself, and undici refuses to send it again.
  'expect',
  // Only this proxy may say who the mTLS peer was: a client's own claim is dropped (Envoy's SANITIZE).
  'x-forwarded-client-cert',
  // A peer proxy's word about itself, for the mesh metrics: read from a verified peer only, never passed on.
  'x-sluice-peer',
]);

/** What a proxy says of itself to the peer proxy it calls over mTLS (`workload=NAME;zone=ZONE`): Istio's metadata exchange. */
export const PEER_METADATA_HEADER = 'x-sluice-peer';

/**
 * `source` without hop-by-hop headers (and without any header the Connection header names)
 * and without HTTP/2 pseudo-headers. `te: trailers` survives: gRPC needs it.
 *
 * Most messages carry none of those (HTTP/1.1 keeps connections alive without saying so):
 * then `source` itself is returned, and the caller owns it from here. That is the object
 * Node built once from the message's raw header lines, with its rules for duplicates, so a
 * request's headers are built once, not copied again. Otherwise a copy is made.
 */
export function forwardableHeaders(source: Record<string, string | string[] | undefined>, keepUpgrade = false): HeaderMap {
  if (forwardable(source)) return source as HeaderMap;
  const out: HeaderMap = {};
  const connection = source.connection;
  const named = connection === undefined ? null : connectionTokens(connection);
  for (const name in source) {
    const value = source[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name)) {
      if (name === 'te' && isTrailersOnly(value)) out.te = 'trailers';
      else if (keepUpgrade && name === 'upgrade') out.upgrade = value;
      continue;
    }
    if (named !== null && (typeof named === 'string' ? named === name : named.has(name))) continue;
    out[name] = value;
  }
  return out;
}

/** Whether `source` may go on as it is: no field to drop, none undefined. */
function forwardable(source: Record<string, string | string[] | undefined>): boolean {
  // Connection is hop-by-hop itself: a message naming others in it is copied.
  for (const name in source) if (source[name] === undefined || name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name)) return false;
  return true;
}

/** The field names Connection lists: one name as a string (nearly every message: keep-alive or close), more as a set. */
function connectionTokens(value: string | string[]): Set<string> | string {
  if (typeof value === 'string' && !value.includes(',')) return value.trim().toLowerCase();
  const set = new Set<string>();
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') set.add(t);
    }
  }
  return set;
}

function isTrailersOnly(value: string | string[]): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === 'trailers';
}

const REQUEST_ID_OK = /^[\x21-\x7e]{1,128}$/;

/** Keeps a client's sane x-request-id (so a trace can be followed across hops), else mints one. */
export function ensureRequestId(headers: HeaderMap): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID_OK.test(given)) return given;
  const id = requestIdV4();
  headers['x-request-id'] = id;
  return id;
}

// A UUID v4 per request without randomUUID's cost: that one joins 20 short strings per call.
// Random bytes come from a pool filled by the CSPRNG 256 ids at a time (as randomUUID's own
// cache does), and each id is written into one scratch buffer and read out as one string.
const POOL = Buffer.alloc(16 * 256);
let poolUsed = POOL.length;
const SCRATCH = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** A random (version 4, RFC 9562) UUID, lower-case. */
export function requestIdV4(): string {
  if (poolUsed === POOL.length) {
    randomFillSync(POOL);
    poolUsed = 0;
  }
  const at = poolUsed;
  poolUsed += 16;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    let v = POOL[at + i];
    if (i === 6) v = (v & 0x0f) | 0x40; // version 4
    else if (i === 8) v = (v & 0x3f) | 0x80; // variant 10
    if (i === 4 || i === 6 || i === 8 || i === 10) SCRATCH[j++] = 45; // '-'
    SCRATCH[j++] = HEX[v >> 4];
    SCRATCH[j++] = HEX[v & 15];
  }
  return SCRATCH.toString('latin1', 0, 36);
}

/** Appends the peer to x-forwarded-for and sets x-forwarded-proto when no hop before us did. */
export function setForwardingHeaders(headers: HeaderMap, remoteAddress: string, scheme: 'http' | 'https'): void {
  const xff = headers['x-forwarded-for'];
  if (xff === undefined) headers['x-forwarded-for'] = remoteAddress;
  else headers['x-forwarded-for'] = `${Array.isArray(xff) ? xff.join(', ') : xff}, ${remoteAddress}`;
  const xfp = headers['x-forwarded-proto'];
  if (xfp !== 'http' && xfp !== 'https') headers['x-forwarded-proto'] = scheme;
}
