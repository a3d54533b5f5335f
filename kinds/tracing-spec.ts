// Tracing settings, written once: the Mesh kind's `spec.tracing` (carried to every proxy as
// Envoy's HttpConnectionManager `tracing`) and the static file's `tracing:` take the same
// object. The schema says the shape; `checkTracing` what it cannot (the endpoint's URL);
// `tracingConfig` fills the defaults.

import Type, { type Static } from 'typebox';
import type { TracingConfig } from '../proxy/config/model.ts';
import { closed, Opt } from './schema-kit.ts';
import { DEFAULT_SAMPLING_PERCENT, DEFAULT_SERVICE_NAME, endpointProblem, OTLP_PROTOCOLS } from './tracing-defaults.ts';

export { DEFAULT_SAMPLING_PERCENT, DEFAULT_SERVICE_NAME, endpointProblem, OTLP_PROTOCOLS } from './tracing-defaults.ts';

export const TracingSpecSchema = Type.Object(
  {
    /** Percent of the traces a proxy starts that are sampled (a caller's decision is kept). Default 100. */
    samplingPercent: Opt(Type.Number({ minimum: 0, maximum: 100 })),
    /** The spans' service.name. Default sluice-proxy. */
    serviceName: Opt(Type.String({ minLength: 1, maxLength: 253 })),
    otlp: Type.Object(
      {
        protocol: Type.Enum(OTLP_PROTOCOLS),
        /** grpc: http://host:port; http/protobuf: the URL spans are POSTed to, e.g. http://collector:4318/v1/traces. */
        endpoint: Type.String({ minLength: 1 }),
        /** Sent with every export (gRPC metadata or HTTP headers); names lower-case, checked by checkTracing. */
        headers: Opt(Type.Record(Type.String(), Type.String({ pattern: '^[^\\r\\n\\0]*$' }))),
      },
      closed,
    ),
  },
  closed,
);

export type TracingSpec = Static<typeof TracingSpecSchema>;

/** The endpoint's problems, with `path` the spec's own (e.g. spec.tracing). */
export function checkTracing(spec: TracingSpec, path: string, add: (path: string, message: string) => void): void {
  const { protocol, endpoint } = spec.otlp;
  const problem = endpointProblem(protocol, endpoint);
  if (problem !== null) add(`${path}.otlp.endpoint`, problem);
  for (const name of Object.keys(spec.otlp.headers ?? {})) {
    if (!HEADER_NAME.test(name)) add(`${path}.otlp.headers.${name}`, `'${name}' is not a header name both exporters can send: lower-case letters, digits, '-', '_' and '.' (gRPC metadata keys are lower-case)`);
  }
}

const HEADER_NAME = /^[a-z0-9][-a-z0-9_.]*$/;

export function tracingConfig(spec: TracingSpec): TracingConfig {
  return {
    samplingPercent: spec.samplingPercent ?? DEFAULT_SAMPLING_PERCENT,
    serviceName: spec.serviceName ?? DEFAULT_SERVICE_NAME,
    exporter: { protocol: spec.otlp.protocol, endpoint: spec.otlp.endpoint, headers: { ...spec.otlp.headers } },
  };
}
