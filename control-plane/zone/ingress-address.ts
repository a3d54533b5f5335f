// Where other zones reach this zone's instances (ZoneSummary.ingress): the zone ingress
// proxy on an ADS stream now (node metadata sluice.dev/mode: zone-ingress), at its
// Workload's address and the port it listens on, unless the operator says otherwise (an
// ingress behind NAT or a load balancer is reached at an address its Workload does not have).

import type { NodeContext } from '../xds/generate/resources.ts';
import { key, type MeshView } from '../xds/mesh-view.ts';

export type IngressAddress = { readonly address: string; readonly port: number };

/**
 * `configured` first (e.g. a `--ingress-address HOST:PORT` flag); else the connected zone
 * ingress with the smallest node id whose Workload has an address; null when there is none
 * (ZoneSummary.ingress null: other zones send this zone nothing yet). Synchronous, cheap:
 * call it whenever a summary is sent.
 */
export function zoneIngressAddress(view: MeshView | null, nodes: Iterable<NodeContext | null>, configured: IngressAddress | null = null): IngressAddress | null {
  if (configured !== null) return configured;
  if (view === null) return null;
  const found: { id: string; at: IngressAddress }[] = [];
  for (const node of nodes) {
    if (node === null || node.kind !== 'proxy' || node.ingress === undefined) continue;
    const address = view.workloads.get(key(node.namespace, node.workload))?.spec?.address;
    if (address !== undefined && address !== '') found.push({ id: node.id, at: { address, port: node.ingress.port } });
  }
  found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return found[0]?.at ?? null;
}

/** `HOST:PORT` (an IPv6 address in brackets) -> the address, or why not. */
export function parseIngressAddress(text: string): IngressAddress | string {
  const m = /^(\[([0-9a-fA-F:.]+)\]|[^:\s[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port < 1 || port > 65535) return `'${text}' is not HOST:PORT (the address other zones reach this zone's ingress at, e.g. 203.0.113.7:15443)`;
  return { address: m[2] ?? m[1], port };
}
