// Who may ask for a Sluice proxy's config on the TLS port: the proxy holding that Workload's
// identity. Its SVID (the client certificate, checked against our roots in the handshake)
// must name the Workload's service account; anything else would let one workload read
// another's inbound config. Proxyless clients and tools carry no such claim and are let in.

import { X509Certificate } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { workloadId } from '../../certs/index.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../api/kind-names.ts';
import type { NodeContext } from './generate/resources.ts';
import { key, type MeshView } from './mesh-view.ts';

/** The single URI SAN of the peer's verified client certificate, or null when it sent none. */
export function peerSpiffeId(call: grpc.ServerDuplexStream<unknown, unknown>): string | null {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (raw === undefined) return null;
  const uris = (new X509Certificate(raw).subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:')).map((n) => n.slice(4));
  return uris.length === 1 ? uris[0] : null;
}

/** The reason to refuse `node` on a stream whose peer is `peer` (null: admitted). */
export function admitOnTls(node: NodeContext, peer: string | null, view: MeshView | null): string | null {
  if (node.kind !== 'proxy') return null;
  if (peer === null) return `node '${node.id}' says it is a Sluice proxy, but sent no client certificate: a proxy joins with a token first (sluice-proxy --token), then connects with its SVID`;
  const workload = view?.workloads.get(key(node.namespace, node.workload));
  // A pod (--store kubernetes) is no Workload: it is known as the pod it is, with its service account's identity, behind a Service or not (a Job's).
  const pod = workload === undefined ? view?.podIdentities.get(key(node.namespace, node.workload)) : undefined;
  if (workload === undefined && pod === undefined) return `there is no Workload '${node.workload}' in namespace '${node.namespace}' (sluicectl get workloads -n ${node.namespace}), nor a pod of that name`;
  const wanted = workload !== undefined ? workloadId(view!.mesh.trustDomain, node.namespace, workload.spec?.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT) : pod!;
  if (peer !== wanted) return `node '${node.id}' needs the identity ${wanted}, but its certificate is ${peer}`;
  return null;
}
