// What a zone reports of itself to the global: each of its Services, per port as the
// Service declares it, with the count of this zone's instances and their identities, and
// where other zones reach them (its zone ingress, when it has one).

import type { MeshView } from '../xds/mesh-view.ts';
import type { ZoneService, ZoneSummary } from './model.ts';

/**
 * The zone's summary from its view. An endpoint counts when it is in this zone (its
 * Workload names this zone or none, or it is a pod of this zone's cluster; an endpoint of a
 * remote zone never does) and healthy: a Workload's when its proxy is connected to this
 * control plane (`connected`: `<namespace>/<name>` of those Workloads); a pod's as its
 * EndpointSlice lists it.
 */
export function zoneSummary(view: MeshView | null, zone: string, ingress: { address: string; port: number } | null, remoteZones: ReadonlySet<string>, connected: ReadonlySet<string>): ZoneSummary {
  const services: ZoneService[] = [];
  for (const r of view?.serviceResources ?? []) {
    const ns = r.metadata.namespace ?? 'default';
    const sv = view!.services.get(`${ns}/${r.metadata.name}`);
    const ports = (r.spec?.ports ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => {
        const local = (sv?.ports.find((v) => v.port === p.port)?.endpoints ?? []).filter((e) => (e.zone === undefined || e.zone === zone || !remoteZones.has(e.zone)) && (!view!.workloads.has(`${e.namespace}/${e.workload}`) || connected.has(`${e.namespace}/${e.workload}`)));
        return {
          ...(p.name === undefined ? {} : { name: p.name }),
          port: p.port,
          ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
          instances: local.length,
          identities: [...new Set(local.map((e) => e.identity))].sort(),
        };
      });
    services.push({ namespace: ns, name: r.metadata.name, ports });
  }
  // lastSync is the global's to say (when it heard this).
  return { zone, ingress, online: true, lastSync: '', services };
}
