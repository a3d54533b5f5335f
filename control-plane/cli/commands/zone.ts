// `sluicectl zone token create NAME` (on the global: a single-use token a zone's control
// plane enrolls with, and the global's roots to check the global by) and `sluicectl get
// zones` (on the global, every zone; on a zone, itself and what the global told it).

import { chmodSync, writeFileSync } from 'node:fs';
import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import type { ZoneRow } from '../../apiserver/zones.ts';
import { formatZoneTokenFile } from '../../zone/tokens.ts';
import { UsageError, type Command, type FlagValue } from '../command.ts';
import type { CliContext } from '../context.ts';
import { toJson, toYaml } from '../print/resource.ts';
import { formatTable, shortAge } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

/** Where the zone-token API lives, in the shape the API client builds paths from (no kind of the API, as join tokens). */
const ZONE_TOKENS = { group: 'ca.sluice.dev', version: 'v1', kind: 'ZoneToken', plural: 'zonetokens', scope: 'Cluster' } as Partial<KindNames<unknown>> as KindNames<unknown>;

type Minted = { metadata: { name: string }; spec: { zone: string; expiresAt: string }; token?: string; trustBundle?: string };

export const zoneTokenCreate: Command = {
  words: ['zone', 'token', 'create'],
  usage: 'sluicectl zone token create NAME [--ttl 1h] [--out FILE]',
  summary: "on the global control plane: mint a single-use token for zone NAME's first contact; prints the token file (or writes it 0600 with --out) that sluice-cp --role zone --zone NAME --zone-token FILE reads",
  examples: ['sluicectl zone token create onprem --out onprem.zone-token', 'sluicectl zone token create cloud --ttl 30m'],
  options: { ttl: { type: 'string' }, out: { type: 'string' }, ...CONNECTION_OPTIONS },
  required: [],
  positionals: 1,
  async run({ flags, positionals, ctx }) {
    const zone = positionals[0];
    const body = { zone, ...(flags.ttl === undefined ? {} : { ttl: String(flags.ttl) }) };
    const t = (await withClient(flags, ctx, (api) => api.create(ZONE_TOKENS, { metadata: {}, ...body } as unknown as Resource))) as unknown as Minted;
    if (t.token === undefined || t.trustBundle === undefined) throw new Error('the control plane answered without a token; is it a global control plane of a version that mints zone tokens?');
    const text = formatZoneTokenFile({ token: t.token, zone: t.spec.zone, bundle: t.trustBundle }, t.spec.expiresAt);
    if (flags.out === undefined) {
      ctx.stdout(text);
      return 0;
    }
    const out = String(flags.out);
    try {
      writeFileSync(out, text, { mode: 0o600 });
      chmodSync(out, 0o600);
    } catch (err) {
      throw new Error(`minted zone token ${t.metadata.name}, but cannot write ${out}: ${(err as Error).message}`);
    }
    ctx.stdout(`zone token ${t.metadata.name} for zone ${t.spec.zone} written to ${out} (mode 0600)\n  expires: ${t.spec.expiresAt}; single use\n`);
    return 0;
  },
};

/** `sluicectl get zones [-o table|json|yaml]` (get.ts hands it over: zones are no kind). */
export async function getZones(flags: Record<string, FlagValue>, rest: readonly string[], ctx: CliContext): Promise<number> {
  if (rest.length > 0) throw new UsageError(`get zones takes no NAME; got '${rest.join(' ')}'`);
  for (const f of ['namespace', 'all-namespaces', 'selector', 'watch']) if (flags[f] !== undefined) throw new UsageError(`get zones takes no --${f}`);
  const output = String(flags.output ?? 'table');
  if (output !== 'table' && output !== 'json' && output !== 'yaml') throw new UsageError(`unknown output format '${output}': use table, json, yaml`);
  const report = (await withClient(flags, ctx, (api) => api.zones())) as { role: string; zone?: string; items: ZoneRow[] };
  if (output !== 'table') {
    ctx.stdout(output === 'json' ? toJson(report) : toYaml(report));
    return 0;
  }
  if (report.role === 'standalone') {
    ctx.stderr('This control plane is standalone (sluice-cp --role standalone): it has no zones.\n');
    return 0;
  }
  if (report.items.length === 0) {
    ctx.stderr('No zones have linked to this global control plane yet (sluicectl zone token create NAME, then sluice-cp --role zone).\n');
    return 0;
  }
  const now = ctx.clock();
  const since = (t: string) => (t === '' ? 'never' : `${shortAge(now - Date.parse(t))} ago`);
  // On a zone, HEALTH: its own ingress, and whether each other zone's answers from this site.
  const health = report.items.some((z) => z.ingressHealth !== undefined);
  const rows = report.items.map((z) => [z.self === true ? `${z.name} (this zone)` : z.name, z.status, since(z.lastSync), z.version || '-', String(z.proxies), z.ingress ?? '-', ...(health ? [z.ingressHealth ?? '-'] : []), String(z.services)]);
  ctx.stdout(formatTable(['NAME', 'STATUS', 'LAST SYNC', 'VERSION', 'PROXIES', 'INGRESS', ...(health ? ['HEALTH'] : []), 'SERVICES'], rows));
  return 0;
}
