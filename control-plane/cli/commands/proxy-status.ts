// `sluicectl proxy-status`: every xDS client of the control plane and, per type, whether it
// holds the current config (istioctl proxy-status). A NACK is shown with the client's own
// reason, since that is what an operator needs to fix the config.

import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { formatTable, shortAge } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

type TypeSync = { state: string; version: string; acked: string; nack?: { version: string; message: string; at: string } };
type ProxyRow = { id: string; kind: string; mode?: string; zone?: string; status?: 'CONNECTED' | 'OFFLINE'; lastSeen?: string; peer: string; connectedAt: string; userAgent: string; types: Record<string, TypeSync | undefined> };

// istioctl's column order: clusters, listeners, endpoints, routes, secrets.
const COLUMNS: readonly [string, string][] = [
  ['CDS', 'Cluster'],
  ['LDS', 'Listener'],
  ['EDS', 'ClusterLoadAssignment'],
  ['RDS', 'RouteConfiguration'],
  ['SDS', 'Secret'],
];

export const proxyStatus: Command = {
  words: ['proxy-status'],
  usage: 'sluicectl proxy-status [NODE-ID] [-o table|json]',
  summary: 'show every proxy and proxyless client on xDS: per type SYNCED, STALE or NACKED (with the reason); OFFLINE since when for one that left',
  examples: ['sluicectl proxy-status', 'sluicectl proxy-status orders-vm-1.default', 'sluicectl proxy-status -o json'],
  options: { ...CONNECTION_OPTIONS, output: { type: 'string', short: 'o' } },
  required: [],
  positionals: { min: 0, max: 1 },
  async run({ flags, positionals, ctx }) {
    const output = String(flags.output ?? 'table');
    if (output !== 'table' && output !== 'json') throw new UsageError(`unknown output format '${output}': use table, json`);
    let rows = (await withClient(flags, ctx, (api) => api.proxyStatus())) as ProxyRow[];
    if (positionals.length === 1) {
      rows = rows.filter((r) => r.id === positionals[0]);
      if (rows.length === 0) {
        ctx.stderr(`error: no xDS client with node id '${positionals[0]}' has been connected to this control plane (sluicectl proxy-status lists them)\n`);
        return 1;
      }
    }
    if (output === 'json') {
      ctx.stdout(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      ctx.stdout('No xDS clients are connected.\n');
      return 0;
    }
    const now = ctx.clock();
    const cell = (t: TypeSync | undefined) => (t === undefined ? '-' : t.state === 'SYNCED' ? `SYNCED (${t.acked.slice(0, 8)})` : t.state);
    // An offline proxy's cells say so: what it held when it left is no state of the mesh now.
    const cells = (r: ProxyRow) => (r.status === 'OFFLINE' ? COLUMNS.map(() => 'OFFLINE') : COLUMNS.map(([, t]) => cell(r.types[t])));
    // A ZONE column where zones are in use (a zone control plane, or Workloads with spec.zone).
    const zoned = rows.some((r) => r.zone !== undefined);
    const head = ['NAME', 'KIND', ...(zoned ? ['ZONE'] : []), ...COLUMNS.map(([c]) => c), 'AGE'];
    ctx.stdout(formatTable(head, rows.map((r) => [r.id, r.mode ?? r.kind, ...(zoned ? [r.zone ?? '-'] : []), ...cells(r), shortAge(now - Date.parse(r.connectedAt))])));
    for (const r of rows) if (r.status === 'OFFLINE') ctx.stdout(`\n${r.id} is OFFLINE: last seen ${r.lastSeen} (${shortAge(now - Date.parse(r.lastSeen!))} ago), from ${r.peer}\n`);
    const live = rows.filter((r) => r.status !== 'OFFLINE');
    const nacks = live.flatMap((r) => COLUMNS.flatMap(([c, t]) => (r.types[t]?.state === 'NACKED' ? [{ id: r.id, column: c, nack: r.types[t]!.nack! }] : [])));
    for (const n of nacks) ctx.stdout(`\n${n.id} refused ${n.column} version ${n.nack.version} at ${n.nack.at}:\n${n.nack.message.replace(/^/gm, '  ')}\n`);
    return 0;
  },
};
