// Envoy's gRPC access log service on the control plane's TLS xDS port: proxies stream the
// entries of their failed requests (proxy/telemetry/failure-report.ts) and each is kept in
// the FailureLog for `sluicectl explain`. A stream is admitted as the ADS stream is: its node
// must be a Sluice proxy whose client certificate names that Workload's identity, so one
// workload cannot file records under another's name.

import * as grpc from '@grpc/grpc-js';
import { accessLogPackageDefinition } from '../../xds/protos.ts';
import { fromStruct } from '../../xds/struct.ts';
import type { Logger } from '../log.ts';
import { admitOnTls, peerSpiffeId } from '../xds/admission.ts';
import type { MeshView } from '../xds/mesh-view.ts';
import { nodeContextOf, type NodeInfo } from '../xds/node.ts';
import type { FailureLog, FailureRecord } from './failure-log.ts';

const EXPLAIN_METADATA = 'sluice.dev/explain';

/** Envoy's ResponseFlags fields and the short flag each stands for. */
const FLAGS: readonly [string, string][] = [
  ['no_route_found', 'NR'],
  ['no_cluster_found', 'NC'],
  ['no_healthy_upstream', 'UH'],
  ['upstream_connection_failure', 'UF'],
  ['upstream_connection_termination', 'UC'],
  ['upstream_protocol_error', 'UPE'],
  ['upstream_remote_reset', 'UR'],
  ['upstream_request_timeout', 'UT'],
  ['upstream_overflow', 'UO'],
  ['upstream_retry_limit_exceeded', 'URX'],
  ['delay_injected', 'DI'],
  ['fault_injected', 'FI'],
  ['downstream_connection_termination', 'DC'],
  ['downstream_protocol_error', 'DPE'],
  ['local_reset', 'LR'],
];

type Pb = Record<string, any>;

export type AccessLogServiceDeps = {
  readonly log: FailureLog;
  readonly logger: Logger;
  readonly view: () => MeshView | null;
  readonly now: () => number;
};

/** Adds AccessLogService to a gRPC server whose clients present certificates (the :15012 one). */
export function addAccessLogService(server: grpc.Server, deps: AccessLogServiceDeps): void {
  const pkg = grpc.loadPackageDefinition(accessLogPackageDefinition()) as unknown as {
    envoy: { service: { accesslog: { v3: { AccessLogService: { service: grpc.ServiceDefinition } } } } };
  };
  server.addService(pkg.envoy.service.accesslog.v3.AccessLogService.service, {
    StreamAccessLogs: (call: grpc.ServerReadableStream<Pb, Pb>, callback: grpc.sendUnaryData<Pb>) => {
      let node: string | null = null;
      let refused = false;
      call.on('data', (message: Pb) => {
        if (refused) return;
        if (node === null) {
          const why = admit(message.identifier?.node as NodeInfo | undefined, call, deps.view());
          if (typeof why !== 'string' || why.startsWith('!')) {
            refused = true;
            const reason = typeof why === 'string' ? why.slice(1) : 'the first message must name the node (identifier.node)';
            deps.logger('warn', 'access log stream refused', { reason, peer: call.getPeer() });
            callback({ code: grpc.status.PERMISSION_DENIED, details: reason });
            return;
          }
          node = why;
        }
        const received = new Date(deps.now()).toISOString();
        for (const entry of (message.http_logs?.log_entry ?? []) as Pb[]) deps.log.add(recordOf(node, received, entry));
      });
      call.on('end', () => {
        if (!refused) callback(null, {});
      });
      call.on('error', () => {});
    },
  } as grpc.UntypedServiceImplementation);
}

/** The node id when admitted, else '!' and why not. */
function admit(node: NodeInfo | undefined, call: grpc.ServerReadableStream<Pb, Pb>, view: MeshView | null): string | undefined {
  if (node === undefined) return undefined;
  const context = nodeContextOf(node);
  if (typeof context === 'string') return `!${context}`;
  if (context.kind !== 'proxy') return `!only Sluice proxies report failed requests; node '${context.id}' is not one`;
  const why = admitOnTls(context, peerSpiffeId(call as unknown as grpc.ServerDuplexStream<unknown, unknown>), view);
  return why === null ? context.id : `!${why}`;
}

/** An HTTPAccessLogEntry (proto-loader form) as the record sluicectl explain reads. */
export function recordOf(node: string, receivedAt: string, e: Pb): FailureRecord {
  const common: Pb = e.common_properties ?? {};
  const flagFields: Pb = common.response_flags ?? {};
  const flags = FLAGS.filter(([field]) => flagFields[field] === true).map(([, flag]) => flag);
  if (flagFields.unauthorized_details !== undefined && flagFields.unauthorized_details !== null) flags.push('RBAC');
  const meta = fromStruct(common.metadata?.filter_metadata?.[EXPLAIN_METADATA]);
  const { listener, ...notes } = meta;
  const start = common.start_time as { seconds?: string; nanos?: number } | undefined;
  const startMs = start === undefined ? 0 : Number(start.seconds ?? 0) * 1000 + Math.floor((start.nanos ?? 0) / 1e6);
  const upstream = common.upstream_remote_address?.socket_address as { address?: string; port_value?: number } | undefined;
  const san = common.tls_properties?.peer_certificate_properties?.subject_alt_name?.[0]?.uri;
  return {
    node,
    sequence: 0,
    receivedAt,
    startTime: new Date(startMs).toISOString(),
    requestId: String(e.request?.request_id ?? ''),
    method: String(e.request?.request_method ?? ''),
    authority: String(e.request?.authority ?? ''),
    path: String(e.request?.path ?? ''),
    status: Number(e.response?.response_code?.value ?? 0),
    flags,
    details: String(e.response?.response_code_details ?? ''),
    listener: typeof listener === 'string' ? listener : '',
    route: String(common.route_name ?? ''),
    upstreamCluster: String(common.upstream_cluster ?? ''),
    upstreamHost: upstream?.address === undefined ? null : upstream.address.includes(':') ? `[${upstream.address}]:${upstream.port_value ?? 0}` : `${upstream.address}:${upstream.port_value ?? 0}`,
    downstreamPeer: typeof san === 'string' && san !== '' ? san : null,
    attempts: Number(common.upstream_request_attempt_count ?? 0),
    notes,
  };
}
