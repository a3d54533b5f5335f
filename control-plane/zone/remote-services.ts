// Remote zones in this zone's view (issue 18): a Service is one Service across zones when
// namespace and name match, so a remote zone's instances of a Service port join the local
// ones as ONE endpoint, its zone ingress, weighted by how many it has; a Service known only
// from remote zones still gets its ports (as the first zone with instances of each says) and
// so its clusters here.

import { declaredProtocol, key, type EndpointView, type ServicePortView, type ServiceView } from '../xds/mesh-view.ts';
import type { ZoneService, ZoneSummary } from './model.ts';

type RemotePort = ZoneService['ports'][number];

/**
 * Adds every remote zone's Services and endpoints to `services` (by `<namespace>/<name>`),
 * replacing the ServiceViews it changes; the summary of `localZone` itself is skipped. A
 * local Service keeps the ports it declares: a remote port it lacks is not added. Zones are
 * taken in name order and the map is left in key order, so the view does not depend on the
 * order the summaries came in.
 */
export function withRemoteZones(services: Map<string, ServiceView>, zones: readonly ZoneSummary[], localZone: string | undefined, dnsDomain: string): void {
  const local = new Set(services.keys());
  for (const z of [...zones].sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0))) {
    if (z.zone === localZone) continue;
    for (const s of z.services) {
      const k = key(s.namespace, s.name);
      const svc: ServiceView = services.get(k) ?? { name: s.name, namespace: s.namespace, host: `${s.name}.${s.namespace}.svc.${dnsDomain}`, ports: [] };
      const ports = [...svc.ports];
      for (const p of s.ports) {
        const reachable = z.ingress !== null && p.instances > 0;
        let i = ports.findIndex((x) => x.port === p.port);
        if (i < 0) {
          // A port no zone can serve here is left out: its cluster would have no SPIFFE ID to check (translate-tls.ts NACKs that).
          if (local.has(k) || !reachable) continue;
          i = ports.push(remotePortView(p)) - 1;
        }
        if (reachable) ports[i] = { ...ports[i], endpoints: [...ports[i].endpoints, ingressEndpoint(z, s, p)] };
      }
      if (ports.length > 0) services.set(k, { ...svc, ports });
    }
  }
  const sorted = [...services].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  services.clear();
  for (const [k, v] of sorted) services.set(k, v);
}

function remotePortView(p: RemotePort): ServicePortView {
  const declared = declaredProtocol({ ...(p.name === undefined ? {} : { name: p.name }), ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }) });
  return { name: p.name ?? '', port: p.port, protocol: declared ?? 'http', sniffed: declared === undefined, endpoints: [] };
}

function ingressEndpoint(z: ZoneSummary, s: ZoneService, p: RemotePort): EndpointView {
  const identities = [...new Set(p.identities)].sort();
  return {
    workload: `zone-ingress.${z.zone}`,
    namespace: s.namespace,
    address: z.ingress!.address,
    port: z.ingress!.port,
    weight: p.instances,
    zone: z.zone,
    identity: identities[0] ?? '',
    remote: { identities },
  };
}
