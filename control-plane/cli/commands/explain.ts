// `sluicectl explain`: why a request failed, in plain words. The proxies report their failed
// requests to the control plane (Envoy's access log service, with Sluice's notes from the
// failure site); this verb reads them from the API (GET /debug/failures) and joins them with
// what the control plane knows: the routes for the host, the policies, each proxy's ACK or
// NACK. With --from/--to and no such record, it predicts from the control plane's view alone.

import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import type { FailureRecord } from '../../explain/failure-log.ts';
import { findingsFor, nackFindings, type Finding } from '../explain/findings.ts';
import { readMeshFacts } from '../explain/mesh-facts.ts';
import { predict } from '../explain/predict.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

export const explain: Command = {
  words: ['explain'],
  usage: 'sluicectl explain REQUEST_ID | --from WORKLOAD --to URL [-n NAMESPACE] [-o text|json]',
  summary: "say why a request failed: which step (route, authorization, endpoints, mTLS peer, retries, timeout, circuit breaker, config) and why, from the proxies' reports and the control plane's view",
  examples: ['sluicectl explain 6f1c2a9e-0d7b-4c1e-9a43-2b8f0c7d1e55', 'sluicectl explain --from frontend-1 --to http://orders/api/items', 'sluicectl explain --from frontend-1 --to http://orders/ -o json'],
  options: { ...CONNECTION_OPTIONS, from: { type: 'string' }, to: { type: 'string' }, namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' } },
  required: [],
  positionals: { min: 0, max: 1 },
  async run({ flags, positionals, ctx }) {
    const output = String(flags.output ?? 'text');
    if (output !== 'text' && output !== 'json') throw new UsageError(`unknown output format '${output}': use text, json`);
    const requestId = positionals[0];
    const from = typeof flags.from === 'string' ? flags.from : undefined;
    const to = typeof flags.to === 'string' ? flags.to : undefined;
    if (requestId !== undefined && (from !== undefined || to !== undefined)) throw new UsageError('give a REQUEST_ID or --from and --to, not both');
    if (requestId === undefined && (from === undefined || to === undefined)) throw new UsageError('give a REQUEST_ID (the x-request-id of the failed call), or both --from WORKLOAD and --to URL');
    const namespace = typeof flags.namespace === 'string' ? flags.namespace : 'default';
    let url: URL | undefined;
    if (to !== undefined) {
      try {
        url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(to) ? to : `http://${to}`);
      } catch {
        throw new UsageError(`--to '${to}' is not a URL: give one like http://orders/api/items`);
      }
    }
    return withClient(flags, ctx, async (api) => {
      const facts = await readMeshFacts(api);
      let records: FailureRecord[];
      let predicted = false;
      let findings: Finding[];
      const fromNode = from === undefined ? undefined : `${from}.${namespace}`;
      if (requestId !== undefined) {
        records = (await api.failures({ requestId })) as FailureRecord[];
      } else {
        // The newest to that host, and to that path when the URL names one.
        const path = url!.pathname;
        const toHost = (await api.failures({ node: fromNode!, authority: url!.host })) as FailureRecord[];
        const newest = path === '/' ? toHost[0] : toHost.find((r) => r.path.split('?')[0] === path);
        // The same request as the other proxies on its path saw it (the callee's inbound side).
        records = newest === undefined ? [] : ((await api.failures({ requestId: newest.requestId })) as FailureRecord[]);
      }
      if (records.length > 0) {
        // The caller's side first: the order the request went.
        records.sort((a, b) => Number(a.downstreamPeer !== null) - Number(b.downstreamPeer !== null) || a.sequence - b.sequence);
        findings = records.flatMap((r) => findingsFor(r, facts, records));
      } else if (url !== undefined) {
        predicted = true;
        findings = predict(facts, { workload: from!, namespace }, url);
      } else {
        findings = [];
      }
      const nodes = [...new Set([...(fromNode === undefined ? [] : [fromNode]), ...records.map((r) => r.node)])];
      findings.push(...nackFindings(facts, nodes));
      if (output === 'json') {
        ctx.stdout(`${JSON.stringify({ ...(requestId === undefined ? { from: fromNode, to: url!.href } : { requestId }), prediction: predicted, records, findings }, null, 2)}\n`);
      } else if (findings.length > 0) {
        const head = records.length > 0 ? `Request ${records[0]!.requestId}: ${records[0]!.method} ${records[0]!.authority}${records[0]!.path} -> ${records[0]!.status}\n\n` : '';
        ctx.stdout(`${head}${paragraphs(findings).join('\n\n')}\n`);
      }
      if (findings.length > 0) return 0;
      ctx.stderr(
        requestId !== undefined
          ? `error: no proxy reported a failed request with id '${requestId}' (the control plane keeps the last 1000 failures per proxy, since it started)\n`
          : `error: no failed request from ${fromNode} to ${url!.host} was reported, and the control plane's view predicts none\n`,
      );
      return 1;
    });
  },
};

/** One paragraph per distinct finding: the callee's proxy reports each of the caller's tries alike. */
function paragraphs(findings: readonly Finding[]): string[] {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(f.text, (counts.get(f.text) ?? 0) + 1);
  return [...counts].map(([text, n]) => (n === 1 ? text : `${text} (${n} times: once per try that reached it)`));
}
