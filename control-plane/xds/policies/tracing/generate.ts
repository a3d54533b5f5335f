// Mesh spec.tracing -> Envoy's HttpConnectionManager `tracing` on every proxy's inbound and
// outbound HttpConnectionManagers (xds/SUBSET.md, "Tracing"): the provider
// envoy.tracers.opentelemetry with an OpenTelemetryConfig, OTLP/gRPC as `grpc_service.google_grpc`
// (target_uri host:port; channel_credentials.ssl_credentials for https) with the headers as
// `initial_metadata`, OTLP/HTTP as `http_service` (http_uri.uri, and the `cluster` and
// `timeout` Envoy requires) with them as `request_headers_to_add`; `random_sampling` the
// percent. Which side makes server spans and which client spans is the listener's
// traffic_direction, as in Envoy (the outbound listener says OUTBOUND).
//
// Not for a proxyless client's api_listener: gRPC's xDS client does not trace from it.

import { tracingConfig, type TracingSpec } from '../../../../kinds/tracing-spec.ts';
import { EMBEDDED_TYPE_URLS, pack } from '../../../../xds/index.ts';
import { duration, type Obj } from '../../generate/envoy.ts';
import type { MeshView } from '../../mesh-view.ts';
import type { XdsPolicy } from '../index.ts';

export const OTEL_TRACER = 'envoy.tracers.opentelemetry';
const EXPORT_TIMEOUT = duration(10_000);

/** The packed `tracing` of a view: built once per view, shared by every HttpConnectionManager. */
const byView = new WeakMap<MeshView, Obj | null>();

export const meshTracing: XdsPolicy = {
  kind: 'Mesh',
  inboundHttp(hcm, at) {
    const t = tracingOf(at.view);
    if (t !== null) hcm.tracing = t;
  },
  // Reads only view.mesh, which own-resources.ts keys every proxy's inbound side on already.
  inboundReads: () => [],
  outboundHttp(hcm, at) {
    if (at.flavor !== 'proxy' || at.target !== undefined) return;
    const t = tracingOf(at.view);
    if (t !== null) hcm.tracing = t;
  },
};

function tracingOf(view: MeshView): Obj | null {
  let t = byView.get(view);
  if (t === undefined) byView.set(view, (t = view.mesh.tracing === undefined ? null : envoyTracing(view.mesh.tracing)));
  return t;
}

export function envoyTracing(spec: TracingSpec): Obj {
  const c = tracingConfig(spec);
  const headers = Object.entries(c.exporter.headers);
  const url = new URL(c.exporter.endpoint);
  const exporter =
    c.exporter.protocol === 'grpc'
      ? {
          grpc_service: {
            google_grpc: { target_uri: url.host, stat_prefix: 'otlp', ...(url.protocol === 'https:' ? { channel_credentials: { ssl_credentials: {} } } : {}) },
            timeout: EXPORT_TIMEOUT,
            ...(headers.length === 0 ? {} : { initial_metadata: headers.map(([key, value]) => ({ key, value })) }),
          },
        }
      : {
          http_service: {
            // Envoy sends through a cluster of that name; a Sluice proxy dials the URI itself.
            http_uri: { uri: c.exporter.endpoint, cluster: url.host, timeout: EXPORT_TIMEOUT },
            ...(headers.length === 0 ? {} : { request_headers_to_add: headers.map(([key, value]) => ({ header: { key, value } })) }),
          },
        };
  return {
    random_sampling: { value: c.samplingPercent },
    provider: { name: OTEL_TRACER, typed_config: pack(EMBEDDED_TYPE_URLS.OpenTelemetryConfig, { ...exporter, service_name: c.serviceName }) },
  };
}
