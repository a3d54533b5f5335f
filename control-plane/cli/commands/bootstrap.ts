// `sluicectl bootstrap grpc`: the bootstrap file a proxyless gRPC client (@grpc/grpc-js-xds,
// grpc-go, grpc-java) reads from GRPC_XDS_BOOTSTRAP to find the control plane. Offline: it
// only writes JSON. gRPC needs node.id and node.locality, or it fails with an unhelpful error.
// --namespace says where the client runs (node.metadata NAMESPACE, Istio's key), so the
// GAMMA consumer routes of that namespace apply to its calls.

import { isIP } from 'node:net';
import { UsageError, type Command } from '../command.ts';

export const bootstrapGrpc: Command = {
  words: ['bootstrap', 'grpc'],
  usage: 'sluicectl bootstrap grpc --node-id ID [--namespace NS] [--xds-address HOST:PORT] [--zone ZONE]',
  summary: 'print an xDS bootstrap file for proxyless gRPC clients (set GRPC_XDS_BOOTSTRAP to its path)',
  examples: [
    'sluicectl bootstrap grpc --node-id checkout-1 > bootstrap.json && GRPC_XDS_BOOTSTRAP=bootstrap.json node client.js',
    'sluicectl bootstrap grpc --node-id checkout-1 --xds-address 10.0.0.5:15010 --zone dc-1',
    'sluicectl bootstrap grpc --node-id checkout-1 --namespace shop   # the routes of namespace shop for other namespaces\' Services apply to it',
  ],
  options: { 'node-id': { type: 'string' }, namespace: { type: 'string', short: 'n' }, 'xds-address': { type: 'string' }, zone: { type: 'string' } },
  required: ['node-id'],
  positionals: 0,
  run({ flags, ctx }) {
    const nodeId = String(flags['node-id']);
    if (nodeId.trim() === '') throw new UsageError('--node-id must not be empty: the control plane shows clients by it (sluicectl proxy-status)');
    const address = String(flags['xds-address'] ?? '127.0.0.1:15010');
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
    if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) {
      throw new UsageError(`--xds-address must be HOST:PORT (the control plane's plaintext xDS address, default 127.0.0.1:15010); got '${address}'`);
    }
    const zone = flags.zone === undefined ? undefined : String(flags.zone);
    const namespace = flags.namespace === undefined ? undefined : String(flags.namespace);
    if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace must be a namespace name (lower-case letters, digits and '-'); got '${namespace}'`);
    const bootstrap = {
      xds_servers: [{ server_uri: address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: nodeId, locality: zone === undefined ? {} : { zone }, ...(namespace === undefined ? {} : { metadata: { NAMESPACE: namespace } }) },
    };
    ctx.stdout(`${JSON.stringify(bootstrap, null, 2)}\n`);
    return 0;
  },
};
