// Tracing's defaults and the OTLP endpoint's check, apart from tracing-spec.ts (which
// re-exports them) so that a proxy's xDS translator reads them without loading the schema
// library (typebox).

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Envoy's random_sampling defaults to 100 %. */
export const DEFAULT_SAMPLING_PERCENT = 100;
export const DEFAULT_SERVICE_NAME = 'sluice-proxy';

export function endpointProblem(protocol: OtlpProtocol, endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `'${endpoint}' is not a URL: write ${protocol === 'grpc' ? 'http://HOST:4317' : 'http://HOST:4318/v1/traces'}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `'${endpoint}': the scheme must be http or https (https for TLS)`;
  if (url.username !== '' || url.password !== '') return `'${endpoint}': credentials in the URL would be logged; send them in otlp.headers`;
  if (protocol === 'grpc' && (url.pathname !== '/' || url.search !== '')) return `'${endpoint}': an OTLP/gRPC endpoint is a host and port (http://HOST:4317), with no path`;
  if (protocol === 'grpc' && url.port === '') return `'${endpoint}': name the port (OTLP/gRPC listens on 4317 by default)`;
  return null;
}
