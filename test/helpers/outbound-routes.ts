// The routes of a mesh proxy's outbound listener, as the proxy builds them: the control
// plane's outbound RouteConfiguration for the given Services (one virtual host per Service
// port, its domains the Service's names with and without the port), packed and decoded as
// on the wire, then read by the proxy's own translator. Used by the route table's tests
// and its bench.

import assert from 'node:assert/strict';
import type { Resource } from '../../control-plane/api/resource.ts';
import { outboundRouteConfig } from '../../control-plane/xds/generate/resources.ts';
import { buildMeshView } from '../../control-plane/xds/index.ts';
import type { HttpRoute } from '../../proxy/config/model.ts';
import { formatProblem, type Pb, type Problem } from '../../proxy/xds/translate.ts';
import { translateRouteConfig } from '../../proxy/xds/translate-route.ts';
import { sinkFor } from '../../proxy/xds/shape.ts';
import { pack, TYPE_URLS, unpack } from '../../xds/index.ts';

export type ServicePorts = { readonly name: string; readonly namespace: string; readonly ports: readonly number[] };

/** The outbound listener's routes of a proxy in `namespace`, attached to every listener. */
export function outboundRoutes(services: readonly ServicePorts[], namespace: string): HttpRoute[] {
  const resources: Resource[] = services.map((s) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { selector: { app: s.name }, ports: s.ports.map((port) => ({ name: `http-${port}`, port })) },
  }));
  const view = buildMeshView({ revision: 1, meshes: [], services: resources as never, workloads: [], httpRoutes: [], grpcRoutes: [], trustBundle: '', defaultTrustDomain: 'cluster.local' });
  const rc = (unpack(pack(TYPE_URLS.RouteConfiguration, outboundRouteConfig(view, namespace))) as { value: Pb }).value;
  const problems: Problem[] = [];
  const routes = translateRouteConfig(rc, { identity: null, refs: null }, sinkFor(TYPE_URLS.RouteConfiguration, String(rc.name), problems));
  assert.deepEqual(problems.map(formatProblem), [], 'the outbound RouteConfiguration translates');
  return routes.map((r) => ({ ...r, parentRefs: [] }));
}
