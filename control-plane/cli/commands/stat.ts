// `sluicectl stat` and `sluicectl top`: golden metrics (requests/s, success rate, p50, p99)
// per Service, as its instances' proxies saw the calls they served, and per edge, as each
// caller's proxy saw its calls to a Service: the control plane's aggregation of what every
// proxy sends it (telemetry/metrics-sink.ts), so no Prometheus is needed and proxies in
// other sites count too (linkerd viz stat, istioctl dashboard's numbers). `top` is the same
// table, busiest first, redrawn in place every few seconds until Ctrl-C.

import type { Command, Invocation } from '../command.ts';
import { UsageError } from '../command.ts';
import type { ApiClient } from '../client.ts';
import { formatTable } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

type Golden = { requests: number; rps: number; successRate: number | null; p50: number | null; p99: number | null };
type ServiceRow = Golden & { service: string; namespace: string; name: string; reporters: number };
type EdgeRow = Golden & { source: string; sourceNamespace: string; destination: string; reporters: number };
type Report = { windowSeconds: number; proxies: number; services: ServiceRow[]; edges: EdgeRow[] };

const WINDOW = /^([0-9]{1,5}(h|m|s)){1,3}$/;

const options = {
  ...CONNECTION_OPTIONS,
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  window: { type: 'string', short: 't' },
  output: { type: 'string', short: 'o' },
} as const;

export const stat: Command = {
  words: ['stat'],
  usage: 'sluicectl stat [services|edges] [-n NS|-A] [-t WINDOW] [-o table|json]',
  summary: 'golden metrics per Service (as its instances served them) or per edge (caller -> Service): requests/s, success rate, p50 and p99 over the last minute',
  examples: ['sluicectl stat', 'sluicectl stat edges -n shop', 'sluicectl stat services -A -t 5m', 'sluicectl stat -o json'],
  options,
  required: [],
  positionals: { min: 0, max: 1 },
  async run(inv) {
    const what = whatOf(inv);
    const output = String(inv.flags.output ?? 'table');
    if (output !== 'table' && output !== 'json') throw new UsageError(`unknown output format '${output}': use table, json`);
    return withClient(inv.flags, inv.ctx, async (api) => {
      const report = await fetchReport(api, windowOf(inv));
      const shown = filtered(report, inv);
      if (output === 'json') inv.ctx.stdout(`${JSON.stringify(shown, null, 2)}\n`);
      else inv.ctx.stdout(render(shown, what, false));
      return 0;
    });
  },
};

export const top: Command = {
  words: ['top'],
  usage: 'sluicectl top [services|edges] [-n NS|-A] [-t WINDOW] [--interval SECONDS]',
  summary: 'stat, busiest first, redrawn in place every few seconds until Ctrl-C',
  examples: ['sluicectl top', 'sluicectl top edges -n shop', 'sluicectl top -t 30s --interval 2'],
  options: { ...options, interval: { type: 'string' } },
  required: [],
  positionals: { min: 0, max: 1 },
  async run(inv) {
    const what = whatOf(inv);
    const window = windowOf(inv);
    const interval = Number(inv.flags.interval ?? '5');
    if (!Number.isFinite(interval) || interval < 1 || interval > 3600) throw new UsageError(`--interval must be a number of seconds from 1 to 3600; got '${String(inv.flags.interval)}'`);
    const signal = inv.ctx.interrupt?.() ?? new AbortController().signal;
    return withClient(inv.flags, inv.ctx, async (api) => {
      while (!signal.aborted) {
        const report = filtered(await fetchReport(api, window), inv);
        // Clear the screen and go home, as top does: the table is redrawn in place.
        inv.ctx.stdout(`\u001b[H\u001b[2J${new Date(inv.ctx.clock()).toISOString()}  (every ${interval}s, Ctrl-C to stop)\n\n${render(report, what, true)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, interval * 1000);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
      return 0;
    });
  },
};

function whatOf(inv: Invocation): 'services' | 'edges' {
  const w = inv.positionals[0] ?? 'services';
  if (w === 'services' || w === 'svc' || w === 'service') return 'services';
  if (w === 'edges' || w === 'edge') return 'edges';
  throw new UsageError(`stat shows services or edges; got '${w}'`);
}

function windowOf(inv: Invocation): string {
  const w = String(inv.flags.window ?? '1m');
  if (!WINDOW.test(w)) throw new UsageError(`-t/--window must be a duration such as 30s, 1m or 5m; got '${w}'`);
  return w;
}

async function fetchReport(api: ApiClient, window: string): Promise<Report> {
  return (await api.stats(window)) as Report;
}

/** -n NS (default: default), or -A for every namespace: a Service by its namespace, an edge by its caller's. */
function filtered(r: Report, inv: Invocation): Report {
  if (inv.flags['all-namespaces'] === true) return r;
  const ns = String(inv.flags.namespace ?? 'default');
  return { ...r, services: r.services.filter((s) => s.namespace === ns), edges: r.edges.filter((e) => e.sourceNamespace === ns) };
}

function render(r: Report, what: 'services' | 'edges', busiestFirst: boolean): string {
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const ms = (v: number | null) => (v === null ? '-' : `${v}ms`);
  const golden = (g: Golden) => [String(g.rps), pct(g.successRate), ms(g.p50), ms(g.p99), String(g.requests)];
  const order = <T extends Golden>(rows: T[]) => (busiestFirst ? [...rows].sort((a, b) => b.rps - a.rps) : rows);
  const footer = `\n${r.proxies} prox${r.proxies === 1 ? 'y' : 'ies'} reporting; window ${r.windowSeconds}s\n`;
  if (what === 'services') {
    if (r.services.length === 0) return `No requests to any Service in the last ${r.windowSeconds}s.${footer}`;
    return formatTable(['NAMESPACE', 'SERVICE', 'RPS', 'SUCCESS', 'P50', 'P99', 'REQUESTS', 'INSTANCES'], order(r.services).map((s) => [s.namespace, s.name, ...golden(s), String(s.reporters)])) + footer;
  }
  if (r.edges.length === 0) return `No calls between workloads in the last ${r.windowSeconds}s.${footer}`;
  return formatTable(['NAMESPACE', 'FROM', 'TO', 'RPS', 'SUCCESS', 'P50', 'P99', 'REQUESTS'], order(r.edges).map((e) => [e.sourceNamespace, e.source, e.destination, ...golden(e)])) + footer;
}
