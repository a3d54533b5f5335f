// The cost of crossing sites (issue 18, point 7): the three sites of
// test/helpers/three-sites.ts (root: network namespaces), and from dc-vm's caller the same
// GETs to web answered in its own site (its instance, straight to its proxy) and in another
// (through that site's zone ingress, once dc-vm's instance is stopped), each with the
// client's connection kept alive (reused) and with a new one per request, as latency
// percentiles and the cross-site/in-site ratio. Sequential requests: a latency, not a
// throughput, so a Node client in the namespace is fair. Also the ports open between sites.

import { startThreeSites } from '../helpers/three-sites.ts';
import { netnsMissing } from '../helpers/netns.ts';

const ROUNDS = Number(process.env.BENCH_HYBRID_REQUESTS ?? 1000);

/** argv: count, keep-alive (1/0). Prints the sorted latencies (ms) and the sites that answered as JSON. */
const CLIENT = `
const http = require('node:http');
const [count, keep] = [Number(process.argv[1]), process.argv[2] === '1'];
const agent = new http.Agent({ keepAlive: keep, maxSockets: 1 });
const times = [];
const sites = {};
const one = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  http.get({ host: '127.0.0.1', port: 15001, headers: { host: 'web.default.svc.cluster.local', ...(keep ? {} : { connection: 'close' }) }, agent }, (res) => {
    let b = '';
    res.on('data', (d) => (b += d)).on('end', () => {
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const site = res.statusCode === 200 ? JSON.parse(b).site : 'FAIL';
      sites[site] = (sites[site] ?? 0) + 1;
      resolve();
    });
  }).on('error', reject);
});
(async () => {
  for (let i = 0; i < 50; i++) await one();
  times.length = 0;
  for (const k of Object.keys(sites)) delete sites[k];
  for (let i = 0; i < count; i++) await one();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ times, sites }));
})();
`;

export type HybridRow = { readonly where: 'in-site' | 'cross-site'; readonly connection: 'reused' | 'new'; readonly p50: number; readonly p99: number; readonly sites: Record<string, number> };
export type HybridResult = { readonly rows: readonly HybridRow[]; readonly openPorts: Record<string, readonly number[]> } | { readonly skipped: string };

const pct = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function hybridBench(): Promise<HybridResult> {
  const skip = netnsMissing();
  if (skip !== null) return { skipped: skip };
  const m = await startThreeSites((line) => console.log(`# ${line}`));
  try {
    const rows: HybridRow[] = [];
    const measure = (where: HybridRow['where']) => {
      for (const connection of ['reused', 'new'] as const) {
        const r = m.run('dc-vm', [process.execPath, '-e', CLIENT, String(ROUNDS), connection === 'reused' ? '1' : '0']);
        const out = JSON.parse(String(r.stdout)) as { times: number[]; sites: Record<string, number> };
        rows.push({ where, connection, p50: pct(out.times, 50), p99: pct(out.times, 99), sites: out.sites });
      }
    };
    measure('in-site');
    const local = m.instances.get('dc-vm')!;
    local.app.child.kill('SIGKILL');
    local.proxy.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 3000));
    measure('cross-site');
    return { rows, openPorts: { global: [15012], 'dc-vm': [15443], onprem: [15443], cloud: [15443] } };
  } finally {
    await m.close();
  }
}

export function hybridSummary(result: HybridResult): string[] {
  if ('skipped' in result) return [`hybrid: skipped (${result.skipped})`];
  const lines = ['where       connection  p50 ms   p99 ms   answered by'];
  for (const r of result.rows) lines.push(`${r.where.padEnd(11)} ${r.connection.padEnd(11)} ${r.p50.toFixed(2).padStart(6)}   ${r.p99.toFixed(2).padStart(6)}   ${JSON.stringify(r.sites)}`);
  for (const connection of ['reused', 'new'] as const) {
    const [a, b] = [result.rows.find((r) => r.where === 'in-site' && r.connection === connection)!, result.rows.find((r) => r.where === 'cross-site' && r.connection === connection)!];
    lines.push(`cross-site / in-site, ${connection} connections: p50 ${(b.p50 / a.p50).toFixed(2)}x, p99 ${(b.p99 / a.p99).toFixed(2)}x`);
  }
  lines.push(`ports open between sites: ${Object.entries(result.openPorts).map(([s, p]) => `${s} ${p.join(',')}`).join('; ')} (one per site)`);
  return lines;
}
