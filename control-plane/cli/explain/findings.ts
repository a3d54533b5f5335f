// A failed request's records (one per proxy that saw it fail) and the control plane's view ->
// findings: which step failed and why, in plain words. One entry per cause in CAUSES: a new
// cause is a new entry, each reading the record's flags and the notes its failure site left
// (proxy/telemetry/failure-notes.ts).

import type { FailureRecord } from '../../explain/failure-log.ts';
import { describeRule, routesForService, serviceForHost, type MeshFacts } from './mesh-facts.ts';

export type FindingKind = 'no-route' | 'denied' | 'no-healthy-endpoint' | 'peer-identity-mismatch' | 'retries-exhausted' | 'timeout' | 'circuit-open' | 'config-nacked' | 'upstream-answer' | 'failed';

export type Finding = {
  readonly kind: FindingKind;
  /** The proxy (node id) the finding is about. */
  readonly proxy: string;
  /** A short paragraph for a person. */
  readonly text: string;
  /** The facts behind it, for -o json. */
  readonly facts: Readonly<Record<string, unknown>>;
};

type Notes = {
  tries?: { endpoint: string; outcome: string }[];
  rbac?: { policy: string | null; reason: string };
  hosts?: { endpoint: string; healthy: boolean; reason: string; ejectedAt?: string; ejectedUntil?: string }[];
  peer?: { expected: string[]; seen: string };
  timeout?: { kind: 'route' | 'request' | 'per-try'; ms: number };
  overflow?: { threshold: string; limit: number; current: number };
};

type Cause = (r: FailureRecord, n: Notes, facts: MeshFacts) => Finding | null;

const namespaceOf = (node: string) => node.slice(node.indexOf('.') + 1) || 'default';
const call = (r: FailureRecord) => `${r.method} ${r.authority}${r.path}`;

const CAUSES: readonly Cause[] = [
  // Routing comes first on the request path: nothing after it ran.
  (r, _n, facts) => {
    if (!r.flags.includes('NR')) return null;
    const { name, namespace, service } = serviceForHost(facts, r.authority, namespaceOf(r.node));
    if (service === undefined) {
      const known = facts.services.map((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`);
      return { kind: 'no-route', proxy: r.node, facts: { host: r.authority, service: null, services: known }, text: `No route: proxy ${r.node} found no route for ${call(r)}. There is no Service '${name}' in namespace '${namespace}', so no proxy has routes for that host${known.length > 0 ? ` (Services: ${known.join(', ')})` : ''}.` };
    }
    const routes = routesForService(facts, name, namespace);
    const lines = routes.flatMap((rt) => ((rt.spec as { rules?: Record<string, unknown>[] }).rules ?? []).map((rule, i) => `HTTPRoute ${rt.metadata.namespace ?? 'default'}/${rt.metadata.name} rules[${i}]: ${describeRule(rule)}`));
    const routeText = lines.length === 0 ? 'The Service has no HTTPRoute, so its default route takes every path: the proxy may not hold the current config (see proxy-status).' : `The routes for that host are:\n  ${lines.join('\n  ')}\nNone of them matches ${r.method} ${r.path}.`;
    return { kind: 'no-route', proxy: r.node, facts: { host: r.authority, service: `${namespace}/${name}`, routes: lines }, text: `No route: proxy ${r.node} found no route for ${call(r)}. ${routeText}` };
  },
  (r, n, facts) => {
    if (!r.flags.includes('RBAC')) return null;
    const reason = n.rbac?.reason ?? r.details;
    const policyName = /policy '([^']+)'/.exec(reason)?.[1] ?? n.rbac?.policy ?? null;
    const rule = /rules\[(\d+)\]/.exec(reason)?.[1];
    const ns = namespaceOf(r.node);
    const policy = policyName === null ? undefined : facts.authorization.find((p) => p.metadata.name === policyName.replace(/^.*\//, '') && (p.metadata.namespace ?? 'default') === ns);
    let detail = '';
    if (policy !== undefined && rule !== undefined) {
      const spec = policy.spec as { action?: string; rules?: unknown[] };
      detail = ` AuthorizationPolicy ${ns}/${policy.metadata.name} (action ${spec.action ?? 'ALLOW'}) rules[${rule}] is ${JSON.stringify(spec.rules?.[Number(rule)] ?? null)}.`;
    } else if (policyName === null) {
      const allows = facts.authorization.filter((p) => (p.metadata.namespace ?? 'default') === ns && ((p.spec as { action?: string }).action ?? 'ALLOW') === 'ALLOW');
      if (allows.length > 0) detail = ` The ALLOW policies that could have admitted it: ${allows.map((p) => `${ns}/${p.metadata.name} rules ${JSON.stringify((p.spec as { rules?: unknown }).rules ?? [])}`).join('; ')}.`;
    }
    return {
      kind: 'denied',
      proxy: r.node,
      facts: { policy: policyName, rule: rule === undefined ? null : Number(rule), reason, caller: r.downstreamPeer },
      text: `Denied by authorization: proxy ${r.node} refused ${call(r)} from ${r.downstreamPeer ?? 'a caller without a verified identity'} with 403: ${reason}.${detail}`,
    };
  },
  (r, n) => {
    if (!r.flags.includes('UO')) return null;
    const o = n.overflow;
    const what = o === undefined ? r.details : `its ${o.threshold} limit of ${o.limit} was reached (${o.current} at the time)`;
    return { kind: 'circuit-open', proxy: r.node, facts: { backend: r.upstreamCluster, ...(o ?? {}) }, text: `Circuit open: proxy ${r.node} refused ${call(r)} at once with 503 because backend ${r.upstreamCluster}'s circuit breaker is open: ${what}. Raise the CircuitBreakerPolicy limits, or slow the callers.` };
  },
  (r, n) => {
    if (!r.flags.includes('UH')) return null;
    const hosts = n.hosts ?? [];
    const lines = hosts.map((h) => (h.healthy ? `${h.endpoint} healthy` : `${h.endpoint} ${h.ejectedAt === undefined ? 'unhealthy' : `ejected since ${h.ejectedAt} until ${h.ejectedUntil}`}: ${h.reason}`));
    const text = hosts.length === 0 ? 'it has no endpoints at all (no Workload of its Service is known to this proxy)' : `its endpoints were:\n  ${lines.join('\n  ')}`;
    return { kind: 'no-healthy-endpoint', proxy: r.node, facts: { backend: r.upstreamCluster, endpoints: hosts }, text: `No healthy endpoint: proxy ${r.node} had nowhere to send ${call(r)}: backend ${r.upstreamCluster} had no healthy endpoint; ${text}` };
  },
  (r, n) => {
    if (n.peer === undefined) return null;
    const where = n.tries?.findLast((t) => t.outcome.includes(n.peer!.seen))?.endpoint ?? r.upstreamHost ?? 'the endpoint';
    return {
      kind: 'peer-identity-mismatch',
      proxy: r.node,
      facts: { endpoint: where, expected: n.peer.expected, seen: n.peer.seen, backend: r.upstreamCluster },
      text: `Peer identity mismatch: proxy ${r.node} refused the mTLS connection to ${where} for backend ${r.upstreamCluster}: it expected ${n.peer.expected.join(' or ')}, and the peer presented ${n.peer.seen}. Another workload answers at the address the control plane lists for this endpoint; check the Workloads' addresses and ports.`,
    };
  },
  (r, n) => {
    if (!r.flags.includes('UT')) return null;
    const t = n.timeout;
    const which =
      t === undefined ? 'a timeout'
      : t.kind === 'route' ? `the route's request timeout (HTTPRoute rule timeouts.request, ${t.ms} ms)`
      : t.kind === 'per-try' ? `the per-try timeout (${t.ms} ms: HTTPRoute timeouts.backendRequest or RetryPolicy perTryTimeout)`
      : `the backend's timeout over all tries (${t.ms} ms: RetryPolicy timeout)`;
    return { kind: 'timeout', proxy: r.node, facts: { timeout: t?.kind ?? null, ms: t?.ms ?? null, backend: r.upstreamCluster, tries: r.attempts }, text: `Timeout: proxy ${r.node} answered ${call(r)} with ${r.status} because ${which} fired before ${r.upstreamHost ?? 'the upstream'} answered (${r.attempts} ${r.attempts === 1 ? 'try' : 'tries'}).` };
  },
  (r, n) => {
    if (!r.flags.includes('URX')) return null;
    const tries = n.tries ?? [];
    return {
      kind: 'retries-exhausted',
      proxy: r.node,
      facts: { backend: r.upstreamCluster, tries },
      text: `Retries exhausted: proxy ${r.node} tried backend ${r.upstreamCluster} ${r.attempts} times for ${call(r)} and every try failed:\n  ${tries.map((t, i) => `try ${i + 1}: ${t.endpoint} -> ${t.outcome}`).join('\n  ')}\nThe client got the last try's answer (${r.status}).`,
    };
  },
];

/** The findings for one record; never empty (a record with no known cause still says what happened). */
export function findingsFor(r: FailureRecord, facts: MeshFacts, all: readonly FailureRecord[]): Finding[] {
  const notes = r.notes as Notes;
  const out = CAUSES.map((c) => c(r, notes, facts)).filter((f): f is Finding => f !== null);
  if (out.length > 0) return out;
  // An answer passed on from the next hop, which reported the failure itself.
  const next = all.find((o) => o !== r && o.requestId === r.requestId && o.downstreamPeer !== null && o.node !== r.node);
  if (r.flags.length === 0 && next !== undefined) {
    return [{ kind: 'upstream-answer', proxy: r.node, facts: { status: r.status, from: r.upstreamHost, next: next.node }, text: `Proxy ${r.node} passed on the ${r.status} that ${r.upstreamHost ?? 'its upstream'} (proxy ${next.node}) answered.` }];
  }
  const flags = r.flags.length === 0 ? 'no response flag' : `flags ${r.flags.join(',')}`;
  const tries = notes.tries === undefined ? '' : ` Tries: ${notes.tries.map((t) => `${t.endpoint} -> ${t.outcome}`).join('; ')}.`;
  const text = r.flags.length === 0 ? `Proxy ${r.node} passed on ${r.status} from ${r.upstreamHost ?? 'its upstream'} for ${call(r)}: the app answered so.` : `Proxy ${r.node} answered ${call(r)} with ${r.status} (${flags}, ${r.details}).${tries}`;
  return [{ kind: 'failed', proxy: r.node, facts: { status: r.status, flags: r.flags, details: r.details }, text }];
}

/** A NACK the proxy holds now: its running config is older than what the control plane sends. */
export function nackFindings(facts: MeshFacts, nodes: readonly string[]): Finding[] {
  const out: Finding[] = [];
  for (const node of nodes) {
    const row = facts.proxies.find((p) => p.id === node);
    if (row === undefined || row.status === 'OFFLINE') continue;
    for (const [type, t] of Object.entries(row.types)) {
      if (t?.state !== 'NACKED' || t.nack === undefined) continue;
      out.push({
        kind: 'config-nacked',
        proxy: node,
        facts: { type, version: t.nack.version, at: t.nack.at, error: t.nack.message },
        text: `Config NACKed: proxy ${node} refused the control plane's ${type} config (version ${t.nack.version}) at ${t.nack.at} with this error:\n  ${t.nack.message.replace(/\n/g, '\n  ')}\nIt keeps running the last config it accepted, so it does not do what the control plane now says until that is fixed.`,
      });
    }
  }
  return out;
}

