// What a proxy with several workers (--workers N) shows as one: the Prometheus text of every
// worker's registry added up, and every worker's view of its backends folded into one.
//
// The registries of all workers are built by the same code, so they hold the same families
// in the same order; every series they hold adds up: counters and histogram buckets, _sum
// and _count, and the one gauge (open connections), which is a count too.

import { formatNumber } from '../../kinds/metrics-series.ts';
import type { ClusterStatus, EndpointStatus } from '../upstream/index.ts';

type Family = { readonly head: string[]; readonly type: string; readonly samples: Map<string, number> };

/**
 * The sum of several expositions (text format 0.0.4, as createMetrics renders it): the same
 * series (name and labels) adds up; families and series come in the order first seen.
 * `only`, when given, keeps the families of those types alone (a dead worker's counters
 * carry on, its gauges do not).
 */
export function sumExpositions(texts: readonly string[], only?: ReadonlySet<string>): string {
  const families = new Map<string, Family>();
  for (const text of texts) {
    let current: Family | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
        const name = line.slice(7, line.indexOf(' ', 7) === -1 ? undefined : line.indexOf(' ', 7));
        let f = families.get(name);
        if (f === undefined) families.set(name, (f = { head: [], type: 'untyped', samples: new Map() }));
        if (line.startsWith('# TYPE ')) {
          if (f.head.every((h) => !h.startsWith('# TYPE '))) {
            f.head.push(line);
            (f as { type: string }).type = line.slice(line.lastIndexOf(' ') + 1);
          }
        } else if (f.head.every((h) => !h.startsWith('# HELP '))) f.head.unshift(line);
        current = f;
        continue;
      }
      if (line.startsWith('#') || current === null) continue;
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = parseValue(line.slice(space + 1));
      current.samples.set(key, (current.samples.get(key) ?? 0) + value);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (only !== undefined && !only.has(f.type)) continue;
    out.push(...f.head);
    for (const [key, value] of f.samples) out.push(`${key} ${formatNumber(value)}`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/**
 * One view of the backends from every worker's: what is counted adds up (requests, retries,
 * overflows, connect failures); an endpoint is unhealthy when any worker finds it so (each
 * runs its own health checks and outlier detection, so some traffic avoids it), and its
 * ejections are the most any worker made.
 */
export function mergeClusters(views: readonly (readonly ClusterStatus[])[]): ClusterStatus[] {
  const byName = new Map<string, ClusterStatus>();
  for (const view of views) {
    for (const c of view) {
      const seen = byName.get(c.name);
      if (seen === undefined) {
        byName.set(c.name, { ...c, endpoints: c.endpoints.map((e) => ({ ...e })) });
        continue;
      }
      seen.activeRequests += c.activeRequests;
      seen.activeRetries += c.activeRetries;
      seen.retries += c.retries;
      seen.retriesRefused += c.retriesRefused;
      seen.overflows += c.overflows;
      for (const e of c.endpoints) {
        const mine = seen.endpoints.find((m) => m.address === e.address && m.port === e.port);
        if (mine === undefined) seen.endpoints.push({ ...e });
        else addEndpoint(mine, e);
      }
    }
  }
  return [...byName.values()];
}

function addEndpoint(into: EndpointStatus, e: EndpointStatus): void {
  into.activeRequests += e.activeRequests;
  into.totalRequests += e.totalRequests;
  into.connectFailures += e.connectFailures;
  into.ejections = Math.max(into.ejections, e.ejections);
  if (e.health === 'unhealthy' && into.health === 'healthy') {
    into.health = 'unhealthy';
    if (e.healthReason !== undefined) into.healthReason = e.healthReason;
  }
}

/** The sum of every series of family `name` in an exposition (0 when it has none). */
export function familyTotal(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    total += parseValue(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
