// The registry of pods: EndpointSlices, Pods and Nodes as a cluster returns them
// (test/fixtures/kubernetes/) become instances of the Service they belong to, beside the
// VM Workloads it selects, in the mesh view the xDS generators read.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Resource } from '../../../control-plane/api/resource.ts';
import { podInstances } from '../../../control-plane/registry/pods.ts';
import { buildMeshView } from '../../../control-plane/xds/mesh-view.ts';

const fixture = <T = Resource>(name: string): T => JSON.parse(readFileSync(new URL(`../../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8')) as T;

const slice = fixture<any>('endpointslice-reviews');
const pod = fixture<any>('pod-reviews-v1');
const node = fixture<any>('node-worker-a');
// The slice's second endpoint is this pod, not ready: only its readiness keeps it out.
const podV2 = { ...pod, metadata: { ...pod.metadata, name: 'reviews-v2-5c9e7d8b6f-q8m3n', uid: 'b4d6f8a0-2c3e-4a7b-9d1f-3e5a7b9d1f32' } };
const service = fixture<any>('service-reviews');
const vm: Resource<any> = { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name: 'reviews-vm-1', namespace: 'bookinfo', labels: { app: 'reviews' }, uid: 'w1' }, spec: { address: '192.168.7.20', ports: { http: 9080 }, serviceAccount: 'reviews-vm', zone: 'dc-1' } };

test('a ready pod of an EndpointSlice is an instance: pod IP, the slice port, the node zone, the pod service account', () => {
  const got = podInstances({ endpointSlices: [slice], pods: [pod, podV2], nodes: [node] }).get('bookinfo/reviews');
  assert.deepEqual(got?.map((i) => ({ ...i, ports: Object.fromEntries(i.ports) })), [
    { pod: 'reviews-v1-6b8d4f7c9d-x2k4p', namespace: 'bookinfo', address: '10.244.1.7', ports: { http: 9080 }, zone: 'eu-west-1a', serviceAccount: 'bookinfo-reviews' },
  ]);
});

test('the zone comes from the node label, over the slice zone; a pod not seen yet is no instance', () => {
  const moved = { ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'topology.kubernetes.io/zone': 'eu-west-1c' } } };
  assert.equal(podInstances({ endpointSlices: [slice], pods: [pod], nodes: [moved] }).get('bookinfo/reviews')?.[0].zone, 'eu-west-1c');
  assert.equal(podInstances({ endpointSlices: [slice], pods: [pod], nodes: [] }).get('bookinfo/reviews')?.[0].zone, 'eu-west-1a');
  assert.equal(podInstances({ endpointSlices: [slice], pods: [], nodes: [node] }).get('bookinfo/reviews'), undefined);
});

test('one Service mixes its pods (from EndpointSlices) and its VMs (Workloads) in the mesh view', () => {
  const view = buildMeshView({ revision: 1, meshes: [], services: [service], workloads: [vm], httpRoutes: [], grpcRoutes: [], endpointSlices: [slice], pods: [pod, podV2], nodes: [node], trustBundle: '', defaultTrustDomain: 'cluster.local' });
  const port = view.services.get('bookinfo/reviews')!.ports[0];
  assert.deepEqual(port.endpoints.map((e) => [e.workload, `${e.address}:${e.port}`, e.zone, e.identity]), [
    ['reviews-vm-1', '192.168.7.20:9080', 'dc-1', 'spiffe://cluster.local/ns/bookinfo/sa/reviews-vm'],
    ['reviews-v1-6b8d4f7c9d-x2k4p', '10.244.1.7:9080', 'eu-west-1a', 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews'],
  ]);
  // The not-ready pod of the slice (10.244.2.9) is not there.
  assert.ok(!port.endpoints.some((e) => e.address === '10.244.2.9'));
});
