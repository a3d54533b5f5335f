// `sluicectl check`: is the mesh healthy, as `linkerd check` and `istioctl analyze` say it.
// Each check prints one line when it passes, and one line per problem when it does not,
// then a summary; the exit code is 1 when any check failed, so a script or a CI step can
// gate on it. The status is ASCII ([ok], [FAIL], [skip]), not ✔/✖: it reads the same in
// any terminal, locale and CI log, and `grep FAIL` finds every problem.
//
// The checks run in order; when the control plane does not answer, the rest are skipped
// (each would fail for the same reason).

import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import type { CertificatesReport } from '../../apiserver/certificates.ts';
import type { ZoneRow } from '../../apiserver/zones.ts';
import type { ProxyStatus } from '../../xds/proxy-status.ts';
import { formatError, type ApiClient } from '../client.ts';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { shortAge } from '../print/table.ts';
import { CONNECTION_OPTIONS, connectFromFlags } from '../server-config.ts';
import { findKind, KIND_NAMES } from '../../api/kind-names.ts';

/** One thing wrong, said for a person (`message`) and for a script (the other fields). */
export type Problem = { readonly message: string; readonly [field: string]: unknown };

export type CheckResult = { readonly name: string; readonly status: 'ok' | 'fail' | 'skipped'; readonly summary?: string; readonly problems: readonly Problem[] };

/** What the checks read, each fetched at most once. */
type Facts = {
  readonly api: ApiClient;
  readonly now: number;
  readonly warnWithinMs: number;
  readonly warnWithin: string;
  readonly certificates: () => Promise<CertificatesReport>;
  readonly proxies: () => Promise<ProxyStatus[]>;
  /** GET /debug/zones; absent: not asked. */
  readonly zones?: () => Promise<ZonesReport | null>;
};

/** A check that answers null does not apply to this control plane (zones on a standalone one) and is left out. */
type Check = { readonly name: string; run(facts: Facts): Promise<{ summary: string; problems: Problem[] } | null>; readonly optional?: boolean };

const DEFAULT_WARN_WITHIN = '7d';

// --- the checks, in the order they run and print ---

const CHECKS: readonly Check[] = [
  // First: every other check asks the control plane.
  { name: 'control-plane', run: controlPlane },
  // The CA everything else's certificates come from.
  { name: 'ca', run: caValid },
  { name: 'proxies', run: proxiesInSync },
  { name: 'certificates', run: certificatesExpiry },
  { name: 'trust-domain', run: trustDomains },
  // A global's zones and a zone's link (issue 18); left out on a standalone control plane.
  { name: 'zones', run: zonesLinked, optional: true },
  // Last: a False condition often repeats a problem above (an offline proxy's Workload) with its cause.
  { name: 'conditions', run: falseConditions },
];

type ZonesReport = { role: string; zone?: string; items: ZoneRow[] };

/** The zones report, or null from a control plane that has none to give (a version before zones): the check is then left out. */
const zonesOf = (api: ApiClient) => async (): Promise<ZonesReport | null> => {
  try {
    return (await api.zones()) as ZonesReport;
  } catch {
    return null;
  }
};

async function zonesLinked(facts: Facts) {
  const report = facts.zones === undefined ? null : await facts.zones();
  if (report === null || report.role === 'standalone') return null;
  const ago = (t: string) => (t === '' ? 'never heard from' : `last heard from at ${t} (${shortAge(facts.now - Date.parse(t))} ago)`);
  const problems: Problem[] = [];
  for (const z of report.items) {
    // On a zone: another zone's ingress this site cannot reach is a cross-site path that fails silently.
    if (z.self !== true && z.ingressReachable === false) problems.push({ message: `zone ${z.name}'s ingress ${z.ingress} does not answer from this site: ${z.ingressHealth}; calls to its instances fail over elsewhere`, zone: z.name, ingress: z.ingress });
    if (z.self !== true && z.ingress === null && z.services > 0) problems.push({ message: `zone ${z.name} has Services but no zone ingress: no other zone can reach its instances (sluice-proxy --mode zone-ingress, or --ingress-address)`, zone: z.name });
    if (z.status === 'online') continue;
    if (z.self === true) problems.push({ message: `the link to the global control plane is down: ${ago(z.lastSync)}; this zone serves its last config and issues certificates on its intermediate`, zone: z.name, state: 'offline', lastSync: z.lastSync });
    else problems.push({ message: `zone ${z.name} is offline: ${ago(z.lastSync)}`, zone: z.name, state: 'offline', lastSync: z.lastSync });
  }
  const summary = report.role === 'global' ? `${plural(report.items.length, 'zone')}, each linked to this global control plane` : `zone ${report.zone}: linked to the global control plane, ${plural(report.items.length - 1, 'other zone')} online`;
  return { summary, problems };
}

async function controlPlane({ api }: Facts) {
  const v = await api.version();
  return { summary: `${api.server} answers: sluice-cp ${v.version} (store revision ${v.revision})`, problems: [] };
}

async function caValid(facts: Facts) {
  const { ca } = await facts.certificates();
  const problems: Problem[] = [];
  const intermediate = ca.certificates.find((c) => c.role === 'intermediate');
  const roots = ca.certificates.filter((c) => c.role === 'root');
  if (intermediate === undefined) problems.push({ message: 'the control plane reports no intermediate certificate (DATADIR/ca/ca.pem)' });
  if (roots.length === 0) problems.push({ message: 'the trust bundle (DATADIR/ca/bundle.pem) holds no root: no workload can verify a peer' });
  for (const c of ca.certificates) {
    const name = c.role === 'intermediate' ? "the CA's intermediate" : `the root ${c.subject}`;
    if (Date.parse(c.notAfter) <= facts.now) problems.push({ message: `${name} expired at ${c.notAfter}`, role: c.role, subject: c.subject, notAfter: c.notAfter });
    else if (Date.parse(c.notBefore) > facts.now) problems.push({ message: `${name} is not valid before ${c.notBefore}`, role: c.role, subject: c.subject, notBefore: c.notBefore });
  }
  const until = (c: { notAfter: string }) => `${c.notAfter} (in ${shortAge(Date.parse(c.notAfter) - facts.now)})`;
  const rootText = roots.length === 1 ? `the root until ${until(roots[0])}` : `${roots.length} roots`;
  return { summary: `trust domain ${ca.trustDomain}: the intermediate valid until ${intermediate === undefined ? '-' : until(intermediate)}, ${rootText}`, problems };
}

// istioctl's column order: clusters, listeners, endpoints, routes, secrets.
const TYPES: readonly [string, keyof ProxyStatus['types']][] = [
  ['CDS', 'Cluster'],
  ['LDS', 'Listener'],
  ['EDS', 'ClusterLoadAssignment'],
  ['RDS', 'RouteConfiguration'],
  ['SDS', 'Secret'],
];

async function proxiesInSync(facts: Facts) {
  const rows = await facts.proxies();
  const problems: Problem[] = [];
  for (const r of rows) {
    if (r.status === 'OFFLINE') {
      const since = r.lastSeen ?? r.connectedAt;
      problems.push({ message: `${r.id} is OFFLINE since ${since} (${shortAge(facts.now - Date.parse(since))} ago), last connected from ${r.peer}`, node: r.id, state: 'OFFLINE', since });
      continue;
    }
    for (const [short, type] of TYPES) {
      const t = r.types[type];
      if (t === undefined || t.state === 'SYNCED') continue;
      if (t.state === 'NACKED' && t.nack !== undefined) {
        const reason = t.nack.message.split('\n')[0];
        problems.push({ message: `${r.id} NACKED ${short} version ${t.nack.version} at ${t.nack.at}: ${reason}`, node: r.id, state: 'NACKED', type: short, since: t.nack.at, reason: t.nack.message });
      } else {
        problems.push({ message: `${r.id} has not acknowledged the current ${short} (${t.state}): sluicectl proxy-status ${r.id}`, node: r.id, state: t.state, type: short });
      }
    }
  }
  const live = rows.filter((r) => r.status !== 'OFFLINE').length;
  const summary = rows.length === 0 ? 'no xDS client has connected since the control plane started' : `${plural(live, 'xDS client')} connected, each holding the current config`;
  return { summary, problems };
}

/**
 * The CA's certificates are renewed by an operator: each fails within --warn-within of its
 * end. A workload SVID is renewed by its proxy at half its life: it fails once under a
 * quarter of its life is left (its renewal is overdue), or under --warn-within if shorter.
 */
async function certificatesExpiry(facts: Facts) {
  const report = await facts.certificates();
  const problems: Problem[] = [];
  const expired = (what: string, notAfter: string, fields: object) => problems.push({ message: `${what} expired at ${notAfter}`, ...fields, notAfter });
  for (const c of report.ca.certificates) {
    const what = c.role === 'intermediate' ? "the CA's intermediate" : `the root ${c.subject}`;
    const left = Date.parse(c.notAfter) - facts.now;
    const fields = { role: c.role, subject: c.subject };
    if (left <= 0) expired(what, c.notAfter, fields);
    else if (left <= facts.warnWithinMs) problems.push({ message: `${what} expires at ${c.notAfter}, in ${shortAge(left)} (within --warn-within ${facts.warnWithin})`, ...fields, notAfter: c.notAfter });
  }
  for (const c of report.clients) {
    const what = `${c.node}'s SVID ${c.identity ?? '(no SPIFFE ID)'}`;
    const left = Date.parse(c.notAfter) - facts.now;
    const life = Date.parse(c.notAfter) - Date.parse(c.notBefore);
    const fields = { node: c.node, identity: c.identity, source: c.source };
    if (left <= 0) expired(what, c.notAfter, fields);
    else if (left <= Math.min(facts.warnWithinMs, life / 4)) {
      const why = facts.warnWithinMs < life / 4 ? `within --warn-within ${facts.warnWithin}` : `its proxy renews it at half its ${shortAge(life)} life, and has not`;
      problems.push({ message: `${what} expires at ${c.notAfter}, in ${shortAge(left)}: ${why}`, ...fields, notAfter: c.notAfter });
    }
  }
  const svids = report.clients.length;
  return { summary: `none expires soon: the CA's ${plural(report.ca.certificates.length, 'certificate')} not within ${facts.warnWithin}, ${plural(svids, 'client SVID')} each renewed in time`, problems };
}

async function trustDomains(facts: Facts) {
  const report = await facts.certificates();
  const td = report.ca.trustDomain;
  const problems: Problem[] = [];
  // Loaded when the check runs, not when sluicectl starts (kind-name.ts).
  const meshKind = findKind('Mesh')!;
  const meshes = await facts.api.list(meshKind as KindNames<unknown>);
  for (const m of meshes) {
    const named = (m.spec as { trustDomain?: string } | undefined)?.trustDomain;
    if (named !== undefined && named !== td) {
      problems.push({ message: `Mesh ${m.metadata.name} names trust domain ${named}, but the CA's is ${td}: workload identities would not match their certificates; set spec.trustDomain: ${td}`, kind: 'Mesh', name: m.metadata.name, trustDomain: named, caTrustDomain: td });
    }
  }
  for (const c of report.clients) {
    const domain = c.identity === null ? null : /^spiffe:\/\/([^/]+)/.exec(c.identity)?.[1] ?? null;
    if (domain === td) continue;
    const message = domain === null ? `${c.node}'s certificate holds no SPIFFE ID of a trust domain` : `${c.node}'s certificate ${c.identity} is of trust domain ${domain}, not the CA's ${td}`;
    problems.push({ message, node: c.node, identity: c.identity, trustDomain: domain, caTrustDomain: td });
  }
  return { summary: `every Mesh and client SVID is of the CA's trust domain ${td} (${plural(meshes.length, 'Mesh', 'Meshes')}, ${plural(report.clients.length, 'client SVID')})`, problems };
}

type Conditioned = Resource & { status?: { conditions?: { type: string; status: string; reason: string; message: string; lastTransitionTime?: string }[] } };

async function falseConditions({ api }: Facts) {
  const problems: Problem[] = [];
  let count = 0;
  for (const kind of KIND_NAMES) {
    const items = (await api.list(kind)) as Conditioned[];
    count += items.length;
    for (const r of items) {
      for (const c of r.status?.conditions ?? []) {
        if (c.status !== 'False') continue;
        const ns = r.metadata.namespace === undefined ? '' : `${r.metadata.namespace}/`;
        problems.push({
          message: `${kind.kind} ${ns}${r.metadata.name}: ${c.type}=False (${c.reason}): ${c.message}`,
          kind: kind.kind,
          namespace: r.metadata.namespace,
          name: r.metadata.name,
          type: c.type,
          reason: c.reason,
          conditionMessage: c.message,
          since: c.lastTransitionTime,
        });
      }
    }
  }
  return { summary: `no condition is False (${plural(count, 'resource')} checked)`, problems };
}

// --- the command ---

export const check: Command = {
  words: ['check'],
  usage: 'sluicectl check [--warn-within DURATION] [-o text|json]',
  summary: 'check the mesh: the control plane answers, its CA, every proxy in sync, certificates not expiring soon, trust domains, zones linked (global or zone), no False condition; exit 1 on any failure',
  examples: ['sluicectl check', "sluicectl check --warn-within 30d    # the CA's certificates fail 30 days before they expire (default 7d)", 'sluicectl check -o json'],
  options: { ...CONNECTION_OPTIONS, 'warn-within': { type: 'string' }, output: { type: 'string', short: 'o' } },
  required: [],
  positionals: 0,
  async run({ flags, ctx }) {
    const output = String(flags.output ?? 'text');
    if (output !== 'text' && output !== 'json') throw new UsageError(`unknown output format '${output}': use text, json`);
    const warnWithin = String(flags['warn-within'] ?? DEFAULT_WARN_WITHIN);
    const warnWithinMs = parseWarnWithin(warnWithin);
    const api = connectFromFlags(flags, ctx);
    let results: CheckResult[];
    try {
      results = await runChecks({ api, now: ctx.clock(), warnWithin, warnWithinMs, certificates: once(() => api.certificates() as Promise<CertificatesReport>), proxies: once(() => api.proxyStatus() as Promise<ProxyStatus[]>), zones: once(zonesOf(api)) });
    } finally {
      await api.close();
    }
    const ok = results.every((r) => r.status === 'ok');
    if (output === 'json') ctx.stdout(`${JSON.stringify({ server: api.server, ok, warnWithin, checks: results }, null, 2)}\n`);
    else ctx.stdout(formatResults(results));
    return ok ? 0 : 1;
  },
};

export async function runChecks(facts: Facts): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of CHECKS) {
    if (results.length > 0 && results[0].status === 'fail') {
      if (c.optional === true) continue;
      results.push({ name: c.name, status: 'skipped', problems: [] });
      continue;
    }
    try {
      const r = await c.run(facts);
      if (r === null) continue;
      const { summary, problems } = r;
      results.push({ name: c.name, status: problems.length === 0 ? 'ok' : 'fail', summary, problems });
    } catch (err) {
      results.push({ name: c.name, status: 'fail', problems: [{ message: formatError(err).trimEnd().replace(/\n\s*/g, '; ') }] });
    }
  }
  return results;
}

export function formatResults(results: readonly CheckResult[]): string {
  let text = '';
  for (const r of results) {
    if (r.status === 'ok') text += `[ok]   ${r.name}: ${r.summary}\n`;
    else if (r.status === 'skipped') text += `[skip] ${r.name}: not checked, the control plane did not answer\n`;
    else for (const p of r.problems) text += `[FAIL] ${r.name}: ${p.message}\n`;
  }
  const failed = results.filter((r) => r.status === 'fail');
  const skipped = results.filter((r) => r.status === 'skipped').length;
  const problems = failed.reduce((n, r) => n + r.problems.length, 0);
  if (failed.length === 0) return `${text}\n${plural(results.length, 'check')}: all passed\n`;
  const parts = [`${failed.length} failed (${plural(problems, 'problem')})`, `${results.length - failed.length - skipped} passed`, ...(skipped > 0 ? [`${skipped} skipped`] : [])];
  return `${text}\n${plural(results.length, 'check')}: ${parts.join(', ')}\n`;
}

/** 7d, 24h, 1h30m, 0s: how long before a certificate expires it counts as a problem. */
function parseWarnWithin(text: string): number {
  const unit: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
  if (!/^(\d{1,6}[dhms])+$/.test(text)) throw new UsageError(`--warn-within '${text}' is not a duration: write it like 7d, 24h, 30d or 1h30m`);
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) ms += Number(n) * unit[u];
  return ms;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
