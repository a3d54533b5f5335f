// The Envoy v3 protos, loaded from where @grpc/grpc-js-xds ships them (its deps/ folder),
// never copied into this repository. Two views of the same files: protobufjs types to
// encode and decode resources (Any packing), and @grpc/proto-loader's definition of the
// ADS service for @grpc/grpc-js. Loading takes tens of milliseconds, so each is done once,
// on first use.

import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Where imports resolve: Envoy's API, xds/udpa, googleapis, protoc-gen-validate. */
export const PROTO_INCLUDE_DIRS: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(DEPS, d));

/** The files that define every resource Sluice serves, and the discovery service. */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
];

let root: protobuf.Root | undefined;

/** The protobufjs root holding every message type of PROTO_FILES and what they import. */
export function envoyTypes(): protobuf.Root {
  if (root !== undefined) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const dir of PROTO_INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsFile(candidate)) return candidate;
    }
    return target;
  };
  r.loadSync([...PROTO_FILES], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

let packageDefinition: PackageDefinition | undefined;

/** The ADS service (and its messages) as @grpc/grpc-js wants it: snake_case fields, enums as names, longs as strings. */
export function adsPackageDefinition(): PackageDefinition {
  packageDefinition ??= loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [...PROTO_INCLUDE_DIRS],
  });
  return packageDefinition;
}

let alsDefinition: PackageDefinition | undefined;

/**
 * Envoy's gRPC access log service (envoy.service.accesslog.v3.AccessLogService), with the
 * same options as the ADS one: proxies stream the entries of failed requests over it to
 * their control plane, for sluicectl explain.
 */
export function accessLogPackageDefinition(): PackageDefinition {
  alsDefinition ??= loadSync('envoy/service/accesslog/v3/als.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [...PROTO_INCLUDE_DIRS],
  });
  return alsDefinition;
}

function existsFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
}
