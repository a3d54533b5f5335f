// HttpConnectionManager `tracing` -> the proxy's TracingConfig: the provider
// envoy.tracers.opentelemetry with an OpenTelemetryConfig (OTLP over gRPC, `grpc_service`
// with `google_grpc`, or over HTTP, `http_service`), and `random_sampling`. A Sluice proxy
// exports to the target URI itself: `http_uri.cluster` (which Envoy requires) is read and
// not dialled. xds/SUBSET.md, "Tracing".

import type { TracingConfig } from '../config/model.ts';
import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import { endpointProblem, DEFAULT_SAMPLING_PERCENT, DEFAULT_SERVICE_NAME } from '../../kinds/tracing-defaults.ts';
import { anyValue, DURATION, EMPTY, message, readTyped, scalar, type Pb, type Sink } from './shape.ts';

export const OTEL_TRACER = 'envoy.tracers.opentelemetry';

export const TRACING = message({
  random_sampling: message({ value: scalar }),
  provider: message({ name: scalar, typed_config: anyValue }),
});

const HEADER = message({ key: scalar, value: scalar });

const OPEN_TELEMETRY_CONFIG = message({
  grpc_service: message({
    google_grpc: message({ target_uri: scalar, stat_prefix: scalar, channel_credentials: message({ ssl_credentials: EMPTY }) }),
    initial_metadata: HEADER,
    timeout: DURATION,
  }),
  http_service: message({
    http_uri: message({ uri: scalar, cluster: scalar, timeout: DURATION }),
    request_headers_to_add: message({ header: HEADER }),
  }),
  service_name: scalar,
});

/** undefined after reporting why the tracing cannot be read. */
export function translateTracing(t: Pb, sink: Sink): TracingConfig | undefined {
  const percent = t.random_sampling === undefined ? DEFAULT_SAMPLING_PERCENT : Number(t.random_sampling.value ?? 0);
  let ok = true;
  if (!(percent >= 0 && percent <= 100)) {
    sink.add('random_sampling.value', `must be a percent, 0-100; got ${t.random_sampling.value}`);
    ok = false;
  }
  const provider: Pb | undefined = t.provider;
  if (provider === undefined) {
    sink.add('provider', `required: a Sluice proxy traces with ${OTEL_TRACER}`);
    return undefined;
  }
  if (provider.name !== OTEL_TRACER) sink.add('provider.name', `unknown tracer '${provider.name ?? ''}'; a Sluice proxy runs ${OTEL_TRACER}`);
  const otel = readTyped(provider.typed_config, EMBEDDED_TYPE_URLS.OpenTelemetryConfig, OPEN_TELEMETRY_CONFIG, sink, 'provider.typed_config');
  if (otel === undefined || provider.name !== OTEL_TRACER) return undefined;
  const at = sink.at('provider.typed_config');
  const exporter = otel.grpc_service !== undefined ? grpcExporter(otel.grpc_service, at.at('grpc_service')) : otel.http_service !== undefined ? httpExporter(otel.http_service, at.at('http_service')) : undefined;
  if (otel.grpc_service === undefined && otel.http_service === undefined) at.add('', 'needs grpc_service or http_service: where the spans go');
  if (exporter === undefined || !ok) return undefined;
  return { samplingPercent: percent, serviceName: String(otel.service_name || DEFAULT_SERVICE_NAME), exporter };
}

function grpcExporter(g: Pb, sink: Sink): TracingConfig['exporter'] | undefined {
  const target = String(g.google_grpc?.target_uri ?? '');
  if (target === '') {
    sink.add('google_grpc.target_uri', 'required: host:port of the OTLP/gRPC collector (envoy_grpc, a cluster, is not read by Sluice proxies)');
    return undefined;
  }
  const endpoint = `${g.google_grpc.channel_credentials?.ssl_credentials !== undefined ? 'https' : 'http'}://${target}`;
  const problem = endpointProblem('grpc', endpoint);
  if (problem !== null) {
    sink.add('google_grpc.target_uri', problem);
    return undefined;
  }
  return { protocol: 'grpc', endpoint, headers: headersOf((g.initial_metadata ?? []) as Pb[], sink, 'initial_metadata') };
}

function httpExporter(h: Pb, sink: Sink): TracingConfig['exporter'] | undefined {
  const endpoint = String(h.http_uri?.uri ?? '');
  const problem = endpoint === '' ? 'required: the URL spans are POSTed to' : endpointProblem('http/protobuf', endpoint);
  if (problem !== null) {
    sink.add('http_uri.uri', problem);
    return undefined;
  }
  const headers = ((h.request_headers_to_add ?? []) as Pb[]).map((o) => o.header ?? {});
  return { protocol: 'http/protobuf', endpoint, headers: headersOf(headers, sink, 'request_headers_to_add') };
}

function headersOf(list: readonly Pb[], sink: Sink, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  list.forEach((h, i) => {
    const key = String(h.key ?? '').toLowerCase();
    const value = String(h.value ?? '');
    if (!/^[a-z0-9][-a-z0-9_.]*$/.test(key)) sink.add(`${path}[${i}].key`, `'${h.key ?? ''}' is not a header name a gRPC or HTTP exporter can send`);
    else if (/[\r\n\0]/.test(value)) sink.add(`${path}[${i}].value`, 'must not hold CR, LF or NUL');
    else out[key] = value;
  });
  return out;
}
