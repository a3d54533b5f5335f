// `sluicectl proxy-config routes|clusters|endpoints|secrets PROXY`: what one proxy is
// running, read from its own admin server (as istioctl reads Envoy's), not from what the
// control plane meant to send: the two differ exactly when something is wrong.
// PROXY is the proxy's node id (the control plane says where its admin listens) or, with
// --admin, any proxy's admin address; the admin binds loopback, so run this on its host.

import type { Command, FlagValue, Invocation } from '../command.ts';
import { UsageError } from '../command.ts';
import { formatTable } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

const KINDS = ['routes', 'clusters', 'endpoints', 'secrets'] as const;
type Kind = (typeof KINDS)[number];

type Match = { path: { type: string; value: string }; headers: { name: string; value: string }[]; queryParams: unknown[]; method?: string };
type Route = { name: string; parentRefs: string[]; hostnames: string[]; rules: { matches: Match[]; backendRefs: { name: string; weight: number }[] }[] };
type Backend = { name: string; protocol: string; loadBalancer: string; endpoints: unknown[]; tls: { identities: string[] } | null };
type ClusterStatus = { name: string; endpoints: { address: string; port: number; weight: number; health: string; healthReason?: string; zone?: string; priority: number }[] };
type Certificate = { identity: string; notBefore: string; notAfter: string; expiresInSeconds: number; fingerprint: string; roots: number } | null;

export const proxyConfig: Command = {
  words: ['proxy-config'],
  usage: 'sluicectl proxy-config routes|clusters|endpoints|secrets PROXY [--admin HOST:PORT] [-o table|json]',
  summary: "show what one proxy runs, read from its admin server: routes, clusters, endpoints (with health), secrets",
  examples: ['sluicectl proxy-config routes orders-vm-1.default', 'sluicectl proxy-config endpoints orders-vm-1.default', 'sluicectl proxy-config clusters - --admin 127.0.0.1:15000'],
  options: { ...CONNECTION_OPTIONS, admin: { type: 'string' }, output: { type: 'string', short: 'o' } },
  required: [],
  positionals: 2,
  async run({ flags, positionals, ctx }) {
    const kind = positionals[0] as Kind;
    if (!KINDS.includes(kind)) throw new UsageError(`unknown proxy-config kind '${positionals[0]}': use ${KINDS.join(', ')}`);
    const output = String(flags.output ?? 'table');
    if (output !== 'table' && output !== 'json') throw new UsageError(`unknown output format '${output}': use table, json`);
    const admin = flags.admin !== undefined ? String(flags.admin) : await adminOf(positionals[1], flags, ctx);
    const get = async (path: string): Promise<unknown> => {
      let res;
      try {
        res = await fetch(`http://${admin}${path}`, { signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        throw new Error(`cannot reach the proxy's admin at ${admin}: ${(err as Error).cause ?? (err as Error).message} (it listens on loopback: run this on the proxy's host, or pass --admin)`);
      }
      if (!res.ok) throw new Error(`the proxy's admin at ${admin} answered ${path} with HTTP ${res.status}`);
      return res.json();
    };
    const data =
      kind === 'routes' ? ((await get('/config_dump')) as { config: { routes: Route[] } }).config.routes
      : kind === 'clusters' ? ((await get('/config_dump')) as { config: { backends: Backend[] } }).config.backends
      : kind === 'endpoints' ? ((await get('/clusters?format=json')) as { clusters: ClusterStatus[] }).clusters
      : ((await get('/certs')) as { certificate: Certificate }).certificate;
    if (output === 'json') {
      ctx.stdout(`${JSON.stringify(data, null, 2)}\n`);
      return 0;
    }
    ctx.stdout(table(kind, data));
    return 0;
  },
};

async function adminOf(proxy: string, flags: Record<string, FlagValue>, ctx: Invocation['ctx']): Promise<string> {
  const rows = (await withClient(flags, ctx, (api) => api.proxyStatus())) as { id: string; admin?: string }[];
  const row = rows.find((r) => r.id === proxy);
  if (row === undefined) throw new Error(`no proxy with node id '${proxy}' is connected to the control plane (sluicectl proxy-status lists them; --admin HOST:PORT reads any proxy)`);
  if (row.admin === undefined) throw new Error(`'${proxy}' did not say where its admin listens (a proxyless client has none); pass --admin HOST:PORT`);
  return row.admin;
}

function table(kind: Kind, data: unknown): string {
  if (kind === 'routes') {
    const rows = (data as Route[]).flatMap((r) =>
      r.rules.flatMap((rule) =>
        rule.matches.map((m) => [r.name, r.parentRefs.join(',') || '*', r.hostnames.join(',') || '*', describeMatch(m), rule.backendRefs.map((b) => (rule.backendRefs.length > 1 ? `${b.name} (${b.weight})` : b.name)).join(', ') || '<none>']),
      ),
    );
    return formatTable(['ROUTE', 'LISTENERS', 'HOSTNAMES', 'MATCH', 'BACKENDS'], rows);
  }
  if (kind === 'clusters') {
    return formatTable(['NAME', 'PROTOCOL', 'LB', 'ENDPOINTS', 'MTLS PEERS'], (data as Backend[]).map((b) => [b.name, b.protocol, b.loadBalancer, String(b.endpoints.length), b.tls === null ? '-' : b.tls.identities.join(',') || '<none>']));
  }
  if (kind === 'endpoints') {
    const rows = (data as ClusterStatus[]).flatMap((c) => c.endpoints.map((e) => [`${e.address}:${e.port}`, e.health.toUpperCase() + (e.healthReason ? ` (${e.healthReason})` : ''), e.zone ?? '-', String(e.priority), String(e.weight), c.name]));
    return formatTable(['ENDPOINT', 'STATUS', 'ZONE', 'PRIORITY', 'WEIGHT', 'CLUSTER'], rows);
  }
  const cert = data as Certificate;
  if (cert === null) return 'This proxy holds no certificate (it does no mTLS).\n';
  return formatTable(['NAME', 'IDENTITY', 'NOT BEFORE', 'NOT AFTER', 'ROOTS', 'FINGERPRINT'], [['default', cert.identity, cert.notBefore, cert.notAfter, String(cert.roots), cert.fingerprint]]);
}

function describeMatch(m: Match): string {
  const parts = [`${m.path.type === 'PathPrefix' ? 'prefix' : m.path.type === 'Exact' ? 'path' : 'regex'} ${m.path.value}`];
  if (m.method !== undefined) parts.push(`method ${m.method}`);
  for (const h of m.headers) parts.push(`header ${h.name}=${h.value}`);
  if (m.queryParams.length > 0) parts.push(`+${m.queryParams.length} query`);
  return parts.join(' ');
}
