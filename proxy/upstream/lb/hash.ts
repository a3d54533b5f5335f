// Hashing for the consistent-hash policies (ring-hash, maglev): the string hash that places
// endpoints on their tables, what a request hashes on, and the walk both tables share when
// the endpoint a hash lands on cannot take the request.

import type { HashOn } from '../../config/model.ts';
import type { EndpointState } from '../endpoint.ts';

// --- murmur3_32 ---

/**
 * murmur3_32 of the string's UTF-16LE bytes. Reading code units straight from the string
 * keeps the hot path free of an encoder and its buffer; the values only need to agree with
 * themselves, never with another implementation.
 */
export function hash32(s: string, seed = 0): number {
  let h = seed | 0;
  const n = s.length;
  const even = n & ~1;
  for (let i = 0; i < even; i += 2) {
    h ^= mixK(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (n & 1) h ^= mixK(s.charCodeAt(n - 1));
  return mix32(h ^ (n * 2));
}

/** murmur3's finaliser: every input bit flips about half the output bits. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixK(k: number): number {
  return Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

// --- what a request hashes on ---

type Headers = Record<string, string | string[] | undefined>;

/** The request's hash for `hashOn`; undefined when there is nothing to hash on or the request lacks the value. */
export function requestHash(hashOn: HashOn | undefined, headers: Headers, remoteAddress: string): number | undefined {
  if (hashOn === undefined) return undefined;
  let value: string | undefined;
  if (hashOn.type === 'Header') value = first(headers[hashOn.name.toLowerCase()]);
  else if (hashOn.type === 'Cookie') value = cookie(headers.cookie, hashOn.name);
  else value = remoteAddress === '' ? undefined : remoteAddress;
  return value === undefined ? undefined : hash32(value);
}

/**
 * The hash of several sources, as Envoy combines a route's hash policies: each present
 * value's hash is folded into the running one (rotate left 1, xor); absent ones are skipped,
 * and undefined when every one is.
 */
export function combinedHash(sources: readonly HashOn[], headers: Headers, remoteAddress: string): number | undefined {
  let h: number | undefined;
  for (const s of sources) {
    const v = requestHash(s, headers, remoteAddress);
    if (v === undefined) continue;
    h = h === undefined ? v : (rotl(h, 1) ^ v) >>> 0;
  }
  return h;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

// HTTP/2 may split the cookie header into one field per cookie, so every value is searched.
function cookie(header: string | string[] | undefined, name: string): string | undefined {
  if (typeof header === 'string') return cookieIn(header, name);
  if (header === undefined) return undefined;
  for (const h of header) {
    const v = cookieIn(h, name);
    if (v !== undefined) return v;
  }
  return undefined;
}

function cookieIn(header: string, name: string): string | undefined {
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    while (start < end && (header.charCodeAt(start) === 0x20 || header.charCodeAt(start) === 0x09)) start++;
    const eq = start + name.length;
    // Cookie names are case-sensitive (RFC 6265), so a plain prefix compare is right.
    if (eq < end && header.charCodeAt(eq) === 0x3d && header.startsWith(name, start)) return header.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}

// --- the walk both hash tables share ---

/**
 * Finds the endpoint for a table position: the first healthy, untried endpoint from
 * `start` on, else the first healthy one that was tried. Walking on (rather than rebuilding
 * the table without the unhealthy) is what keeps every healthy endpoint's keys in place.
 * Stamps mark the endpoints already judged, so the walk stops once every endpoint has been
 * seen instead of crossing a whole table of unhealthy entries; they live in the walker so a
 * pick allocates nothing.
 */
export class TableWalker {
  readonly #endpoints: readonly EndpointState[];
  readonly #seen: Uint32Array;
  #epoch = 0;

  constructor(endpoints: readonly EndpointState[]) {
    this.#endpoints = endpoints;
    this.#seen = new Uint32Array(endpoints.length);
  }

  walk(table: Uint32Array, start: number, tried: readonly EndpointState[] | null): EndpointState | undefined {
    const endpoints = this.#endpoints;
    const seen = this.#seen;
    if (++this.#epoch > 0xffffffff) {
      seen.fill(0);
      this.#epoch = 1;
    }
    const epoch = this.#epoch;
    let distinct = 0;
    let fallback: EndpointState | undefined;
    for (let step = 0, i = start; step < table.length && distinct < endpoints.length; step++) {
      const idx = table[i];
      if (seen[idx] !== epoch) {
        seen[idx] = epoch;
        distinct++;
        const e = endpoints[idx];
        if (e.healthy) {
          if (tried === null || !tried.includes(e)) return e;
          fallback ??= e;
        }
      }
      if (++i === table.length) i = 0;
    }
    return fallback;
  }
}
