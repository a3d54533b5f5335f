// `sluicectl explain --from W --to URL` when no proxy reported a failed request from W to that
// host: what the control plane's view implies a call would meet. Each finding says it is a
// prediction. It reads the resources, not the proxies' live state (ejections, limits in use).

import type { Resource } from '../../api/resource.ts';
import type { Finding } from './findings.ts';
import { describeRule, policiesForService, routesForService, serviceForHost, workloadsForService, type MeshFacts } from './mesh-facts.ts';

const PREDICTION = 'Prediction (no failed request from this workload to that host was reported, so this is what the control plane\'s config implies): ';

export function predict(facts: MeshFacts, from: { workload: string; namespace: string }, url: URL): Finding[] {
  const node = `${from.workload}.${from.namespace}`;
  const host = url.host;
  const { name, namespace, service } = serviceForHost(facts, host, from.namespace);
  if (service === undefined) {
    const known = facts.services.map((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`);
    return [{ kind: 'no-route', proxy: node, facts: { prediction: true, host, service: null, services: known }, text: `${PREDICTION}no route: there is no Service '${name}' in namespace '${namespace}', so the proxy of ${from.workload} has no route for ${host}${known.length > 0 ? ` (Services: ${known.join(', ')})` : ''}.` }];
  }
  const out: Finding[] = [];
  const routes = routesForService(facts, name, namespace);
  const rules = routes.flatMap((rt) => ((rt.spec as { rules?: Record<string, any>[] }).rules ?? []).map((rule, i) => ({ where: `HTTPRoute ${rt.metadata.namespace ?? 'default'}/${rt.metadata.name} rules[${i}]`, rule })));
  if (rules.length > 0 && !rules.some(({ rule }) => pathMatches(rule, url.pathname))) {
    out.push({ kind: 'no-route', proxy: node, facts: { prediction: true, host, routes: rules.map((r) => `${r.where}: ${describeRule(r.rule)}`) }, text: `${PREDICTION}no route: no rule of the routes for ${host} matches ${url.pathname}:\n  ${rules.map((r) => `${r.where}: ${describeRule(r.rule)}`).join('\n  ')}` });
  }
  const caller = facts.workloads.find((w) => w.metadata.name === from.workload && (w.metadata.namespace ?? 'default') === from.namespace);
  const sa = (caller?.spec as { serviceAccount?: string } | undefined)?.serviceAccount ?? 'default';
  const identity = facts.trustDomain === null ? null : `spiffe://${facts.trustDomain}/ns/${from.namespace}/sa/${sa}`;
  const denial = denyingPolicy(policiesForService(facts.authorization, name, namespace), identity, from.namespace, url.pathname);
  if (denial !== null) out.push({ kind: 'denied', proxy: `${name}.${namespace}`, facts: { prediction: true, caller: identity, ...denial }, text: `${PREDICTION}denied: ${denial.sentence} would refuse ${identity ?? from.workload} calling ${url.pathname}.` });
  if (workloadsForService(facts, service).length === 0) {
    out.push({ kind: 'no-healthy-endpoint', proxy: node, facts: { prediction: true, service: `${namespace}/${name}`, selector: (service.spec as { selector?: unknown }).selector ?? {} }, text: `${PREDICTION}no healthy endpoint: no Workload in namespace '${namespace}' matches Service ${name}'s selector ${JSON.stringify((service.spec as { selector?: unknown }).selector ?? {})}, so the backend has no endpoint.` });
  }
  return out;
}

type Rule = { from?: { identities?: string[]; namespaces?: string[] }[]; to?: { paths?: { type?: string; value: string }[] }[] };

/** The policy and rule that would deny the caller, by Istio's order (DENY first, then ALLOW); only identity, namespace and path are weighed. */
function denyingPolicy(policies: readonly Resource[], identity: string | null, namespace: string, path: string): { policy: string; rule: number | null; sentence: string } | null {
  const ruleMatches = (r: Rule) => {
    const fromOk = r.from === undefined || r.from.some((f) => (f.identities === undefined || (identity !== null && f.identities.includes(identity))) && (f.namespaces === undefined || f.namespaces.includes(namespace)));
    const toOk = r.to === undefined || r.to.some((t) => t.paths === undefined || t.paths.some((p) => (p.type === 'Exact' ? path === p.value : path === p.value || path.startsWith(p.value.endsWith('/') ? p.value : `${p.value}/`))));
    return fromOk && toOk;
  };
  const action = (p: Resource) => (p.spec as { action?: string }).action ?? 'ALLOW';
  for (const p of policies.filter((x) => action(x) === 'DENY')) {
    const rules = (p.spec as { rules?: Rule[] }).rules ?? [];
    const i = rules.findIndex(ruleMatches);
    if (i !== -1) return { policy: p.metadata.name, rule: i, sentence: `DENY policy '${p.metadata.name}' rules[${i}] ${JSON.stringify(rules[i])}` };
  }
  const allows = policies.filter((x) => action(x) === 'ALLOW');
  if (allows.length === 0) return null;
  if (allows.some((p) => ((p.spec as { rules?: Rule[] }).rules ?? []).some(ruleMatches))) return null;
  return { policy: allows.map((p) => p.metadata.name).join(', '), rule: null, sentence: `no rule of the ALLOW policies (${allows.map((p) => p.metadata.name).join(', ')}) admits it, so they` };
}

function pathMatches(rule: Record<string, any>, path: string): boolean {
  const matches = (rule.matches ?? []) as { path?: { type?: string; value: string } }[];
  if (matches.length === 0) return true;
  return matches.some((m) => {
    if (m.path === undefined) return true;
    const v = m.path.value;
    if (m.path.type === 'Exact') return path === v;
    if (m.path.type === 'RegularExpression') return new RegExp(`^${v}$`).test(path);
    return v === '/' || path === v || path.startsWith(v.endsWith('/') ? v : `${v}/`);
  });
}
