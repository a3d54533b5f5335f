// The zones' part of the API (issue 18):
//
//   POST /apis/ca.sluice.dev/v1/zonetokens  {"zone": "onprem", "ttl": "1h"}   (global only)
//        -> 201 the token (this once only), its record and the global's trust bundle
//   GET  /debug/zones  -> this control plane's role and every zone it knows (sluicectl get zones)

import type { IncomingMessage } from 'node:http';
import { parseTokenTtl } from '../ca/join-tokens.ts';
import type { Logger } from '../log.ts';
import { ZONE_NAME } from '../zone/model.ts';
import type { ZoneTokens } from '../zone/tokens.ts';
import { readBody } from './body.ts';
import { fail } from './status.ts';

export const ZONE_TOKENS_PATH = '/apis/ca.sluice.dev/v1/zonetokens';
export const ZONES_PATH = '/debug/zones';

/** One row of `sluicectl get zones`. */
export type ZoneRow = {
  readonly name: string;
  readonly status: 'online' | 'offline';
  /** RFC 3339, '' never. */
  readonly lastSync: string;
  readonly version: string;
  readonly proxies: number;
  readonly ingress: string | null;
  readonly services: number;
  /** On a zone: the row of the zone itself. */
  readonly self?: boolean;
  /**
   * On a zone: whether its ingress is there (its own row: a zone ingress proxy connected,
   * or only --ingress-address) or reached from this site (the others', probed); absent on the global.
   */
  readonly ingressHealth?: string;
  /** With ingressHealth, for another zone: false when its ingress did not answer the last probe. */
  readonly ingressReachable?: boolean;
};

export type ZonesApiOptions = {
  readonly role: 'standalone' | 'global' | 'zone';
  readonly zone?: string;
  /** The global mints zone tokens; absent elsewhere. */
  readonly tokens?: ZoneTokens;
  readonly trustBundle: string;
  readonly rows: () => ZoneRow[];
};

export async function serveZoneTokens(opts: ZonesApiOptions, log: Logger, req: IncomingMessage): Promise<{ code: number; body: object }> {
  if (req.method !== 'POST') return fail('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not served here; use POST`);
  if (opts.tokens === undefined) {
    return fail('FORBIDDEN', `zone tokens are minted on the global control plane (sluice-cp --role global); this control plane is ${opts.role === 'zone' ? `zone ${opts.zone}` : opts.role}`);
  }
  const body = (await readBody(req, 64 * 1024)) as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('BAD_REQUEST', 'the body must be an object: {"zone": "NAME", "ttl": "1h"}');
  const { zone, ttl, apiVersion: _a, kind: _k, metadata: _m, ...rest } = body;
  if (Object.keys(rest).length > 0) fail('BAD_REQUEST', `unknown field(s) ${Object.keys(rest).join(', ')}; a zone token request has zone and ttl`);
  if (typeof zone !== 'string' || !ZONE_NAME.test(zone)) return fail('INVALID', `zone must be a DNS label (the name the zone runs as, sluice-cp --zone); got ${JSON.stringify(zone)}`, { kind: 'ZoneToken', violations: [{ path: 'zone', message: 'must be a DNS label' }] });
  if (ttl !== undefined && typeof ttl !== 'string') return fail('INVALID', `ttl must be a duration string like "1h", not ${JSON.stringify(ttl)}`, { kind: 'ZoneToken', violations: [{ path: 'ttl', message: 'must be a string' }] });
  const ttlMs = parseTokenTtl(ttl);
  if (!ttlMs.ok) return fail('INVALID', `invalid ttl: ${ttlMs.error}`, { kind: 'ZoneToken', violations: [{ path: 'ttl', message: ttlMs.error }] });
  const minted = await opts.tokens.mint(zone, ttlMs.value);
  log('info', 'zone token minted', { id: minted.info.id, zone, expiresAt: minted.info.expiresAt });
  return { code: 201, body: { apiVersion: 'ca.sluice.dev/v1', kind: 'ZoneToken', metadata: { name: minted.info.id, creationTimestamp: minted.info.createdAt }, spec: { zone, expiresAt: minted.info.expiresAt }, token: minted.token, trustBundle: opts.trustBundle } };
}

export function zonesReport(opts: ZonesApiOptions): object {
  return { role: opts.role, ...(opts.zone === undefined ? {} : { zone: opts.zone }), items: opts.rows() };
}
